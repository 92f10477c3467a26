"""Finishing a run: its published weights and its record, written once its last epoch is done.

The weights are those of the epoch selected on the validation split (when the run has one; else
the final ones); the record holds the test accuracy there, at the final epoch and at the best
epoch on the test split (the paper's protocol), the history, sample logits and images, provenance
and the SHA-256 of the weights file it vouches for. The checkpoint is dropped last: a kill between
the record and that step leaves a finished run with a leftover checkpoint, which the next run or
the runner removes.
"""

from __future__ import annotations

import hashlib
import io

import torch

from .. import data as datamod
from ..evaluation import SAMPLE_IMAGES, evaluate, sample_logits
from ..models import count_parameters
from ..runs import RunRecord, RunStore, SampleImages, atomic_write, best_epoch, provenance, selected_epoch
from .member import Member


def finish_run(store: RunStore, member: Member, data: datamod.ImageData, dev: torch.device) -> RunRecord:
    """Write the finished run's weights and record; drop its checkpoint. Returns the record."""
    cfg, trainer, history = member.cfg, member.trainer, member.history
    accuracies = [h.test_accuracy for h in history]
    best = best_epoch(history)  # None when the test split was not evaluated every epoch
    chosen = selected_epoch(history)
    if chosen is not None:  # the run's published network is the selected one (training is over)
        trainer.network.load_state_dict(member.selected)
    network, fmt = member.inference_copy(dev)
    if chosen is not None and accuracies[chosen - 1] is None:  # test_every_epoch=False: test the selected weights
        accuracies[chosen - 1] = evaluate(network, data, dev, precision=cfg.precision, memory_format=fmt)
    logits = sample_logits(network, data, dev, precision=cfg.precision, memory_format=fmt)
    buffer = io.BytesIO()  # the weights' bytes, hashed into the record that vouches for them
    torch.save({"config": cfg.to_dict(), "state_dict": trainer.network.state_dict()}, buffer)
    weights = buffer.getvalue()
    record = RunRecord(
        run_id=cfg.run_id,
        config=cfg,
        final_accuracy=accuracies[-1],
        best_accuracy=None if best is None else accuracies[best - 1],
        best_epoch=best,
        selected_epoch=chosen,
        selected_accuracy=None if chosen is None else accuracies[chosen - 1],
        selected_val_accuracy=None if chosen is None else history[chosen - 1].val_accuracy,
        teacher_accuracy=member.teacher_accuracy,
        num_params=count_parameters(trainer.network),
        wall_seconds=member.wall,
        images_per_s=sum(h.images_per_s for h in history) / len(history),
        history=tuple(history),
        sample_logits=tuple(tuple(row) for row in logits),
        sample_labels=tuple(data.test_y[:SAMPLE_IMAGES].tolist()),
        sample_images=SampleImages.from_tensor(data.test_x[:SAMPLE_IMAGES].cpu()),
        provenance=provenance(str(dev)),
        weights_sha256=hashlib.sha256(weights).hexdigest(),
    )
    atomic_write(store.weights_path(cfg.run_id), lambda f: f.write(weights), binary=True)
    store.write_record(record)
    store.discard_checkpoint(cfg.run_id)  # the weights and record replace it
    return record
