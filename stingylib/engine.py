"""The training engine: one epoch loop for every method, and one safe way to train a run.

- :func:`fit` trains the network a :class:`~stingylib.runs.config.RunConfig` describes and writes its
  record. What differs between methods comes from the config's method object
  (:mod:`stingylib.methods`): the frozen runs it needs and how it shows them, its trainer and loss.
  Everything else is shared: the multi-step learning-rate schedule, per-epoch test accuracy (per
  sample), a checkpoint after every epoch written atomically (resuming continues bit for bit on
  CPU), and the final weights and record (the paper's best-epoch accuracy beside the final one).
- :func:`train_run` is how the runner and the command line train a run: under the run's lock, it
  asks again whether the run is done, moves corrupt files aside, removes stale temporary files and,
  with ``force``, discards a finished checkpoint, then calls :func:`fit`.

Frozen networks (teacher, adversary) are in eval mode and run without gradient.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from . import data as datamod
from .device import autocast, memory_format, select_device
from .models import Classifier, build_model, count_parameters
from .runs import RecordError, RunBusy, RunConfig, RunRecord, RunStore, SampleImages, atomic_write, provenance
from .training import Frozen, Trainer, learning_rate, load_data

#: How many test images every record keeps, as raw logits and pixels (for the book's figures).
SAMPLE_IMAGES = 8
#: Images per evaluation batch.
EVAL_BATCH = 512

class CorruptFileError(RuntimeError):
    """A checkpoint or weights file that cannot be loaded; the message names it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


# --------------------------------------------------------------------------------------------
# Loading finished runs, evaluating
# --------------------------------------------------------------------------------------------


def _torch_load(path: Path, device: torch.device | str = "cpu") -> dict:
    """``torch.load`` of a file this package wrote, with errors that name the file."""
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CorruptFileError(path, f"cannot be loaded ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(payload, dict):
        raise CorruptFileError(path, f"holds a {type(payload).__name__}, not a checkpoint")
    return payload


def load_network(store: RunStore, run_id: str, device: torch.device | str = "cpu") -> Classifier:
    """A finished run's final network, rebuilt from the config saved beside its weights.

    Raises:
        FileNotFoundError: the run has no weights (train it first).
        CorruptFileError: the weights file cannot be loaded or belongs to another run.
    """
    path = store.weights_path(run_id)
    if not path.exists():
        raise FileNotFoundError(f"no finished weights for run {run_id!r} at {path}; train that run first")
    payload = _torch_load(path)
    try:
        cfg = RunConfig.from_dict(payload["config"])
        info = datamod.DATASETS[cfg.dataset]
        model = build_model(cfg.model, info.num_classes, in_channels=info.channels, width=cfg.width)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CorruptFileError(path, f"not the weights of a run ({type(err).__name__}: {str(err)[:200]})") from None
    if cfg.run_id != run_id:
        raise CorruptFileError(path, f"holds the weights of run {cfg.run_id!r}, not {run_id!r}")
    return model.to(device).eval()


@torch.inference_mode()
def evaluate(model: Callable[[Tensor], Tensor], data: datamod.ImageData, device: torch.device,
             batch_size: int = EVAL_BATCH) -> float:
    """Top-1 test accuracy in percent, counted per sample over the whole test split.

    ``model`` maps a batch of images to (B, K) logits: a network (put in eval mode here) or, e.g.,
    a frozen teacher's view.
    """
    if isinstance(model, nn.Module):
        model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    for x, y in datamod.test_batches(data, batch_size=batch_size, device=device):
        with autocast(device):
            logits = model(x.contiguous(memory_format=memory_format(device)))
        correct += (logits.argmax(dim=1) == y).sum()  # stays on the device: one sync at the end
        total += y.numel()
    return 100.0 * int(correct) / total


@torch.inference_mode()
def sample_logits(model: nn.Module, data: datamod.ImageData, device: torch.device) -> list[list[float]]:
    """Raw logits of the first :data:`SAMPLE_IMAGES` test images, for records and figures."""
    model.eval()
    x = datamod.normalize(data.test_x[:SAMPLE_IMAGES].to(device), data.info)
    return model(x).float().cpu().tolist()


def frozen_roles(store: RunStore, cfg: RunConfig, device: torch.device) -> dict[str, Frozen]:
    """The frozen networks of the config's method, each seen through the method's view of its role."""
    method = cfg.method
    out = {}
    for role in method.roles:
        net = load_network(store, getattr(method, role), device).to(memory_format=memory_format(device))
        out[role] = Frozen(net, method.view(role), method.frozen_taps.get(role, ()))
    return out


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def _save_checkpoint(store: RunStore, cfg: RunConfig, trainer: Trainer, epochs_done: int, history: list[dict],
                     wall: float) -> None:
    payload = {
        "run_id": cfg.run_id,
        "config": cfg.to_dict(),
        "epochs_done": epochs_done,
        "history": history,
        "wall_seconds": wall,
        "modules": {k: m.state_dict() for k, m in trainer.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
        "rng": torch.get_rng_state(),
    }
    atomic_write(store.checkpoint_path(cfg.run_id), lambda f: torch.save(payload, f), binary=True)


def read_checkpoint_epochs(store: RunStore, run_id: str) -> int | None:
    """Epochs done by the run's checkpoint (None without one). Raises CorruptFileError."""
    path = store.checkpoint_path(run_id)
    if not path.exists():
        return None
    payload = _torch_load(path)
    if payload.get("run_id") != run_id or not isinstance(payload.get("epochs_done"), int):
        raise CorruptFileError(path, f"not a checkpoint of run {run_id!r}")
    return payload["epochs_done"]


def _resume(store: RunStore, cfg: RunConfig, trainer: Trainer) -> tuple[int, list[dict], float]:
    path = store.checkpoint_path(cfg.run_id)
    if not path.exists():
        return 0, [], 0.0
    payload = _torch_load(path, next(trainer.network.parameters()).device)
    if payload.get("run_id") != cfg.run_id:
        raise CorruptFileError(path, f"is a checkpoint of run {payload.get('run_id')!r}, not {cfg.run_id!r}")
    try:
        for k, module in trainer.modules.items():
            module.load_state_dict(payload["modules"][k])
        for k, opt in trainer.optimizers.items():
            opt.load_state_dict(payload["optimizers"][k])
        torch.set_rng_state(payload["rng"].cpu())
        epochs_done, history, wall = payload["epochs_done"], payload["history"], payload["wall_seconds"]
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as err:
        raise CorruptFileError(path, f"incomplete checkpoint ({type(err).__name__}: {str(err)[:200]})") from None
    if not (0 <= epochs_done <= cfg.epochs and len(history) == epochs_done):
        raise CorruptFileError(path, f"inconsistent checkpoint: {epochs_done} epochs, {len(history)} history rows")
    return epochs_done, history, wall


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def _progress_disabled(progress: bool | None) -> bool | None:
    if progress is not None:
        return not progress
    if "PYTEST_CURRENT_TEST" in os.environ:
        return True
    return None  # tqdm decides: off when the output is not a terminal


def fit(
    cfg: RunConfig,
    store: RunStore,
    *,
    device: str = "auto",
    progress: bool | None = None,
    data: datamod.ImageData | None = None,
) -> RunRecord:
    """Train the run ``cfg`` describes (resuming from its checkpoint if any) and write its record.

    Not locked: use :func:`train_run` when other processes may train the same store.

    Args:
        cfg: the run.
        store: where checkpoints, weights and the record go, and where the frozen runs' weights are.
        device: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda`` or ``mps``.
        progress: show a tqdm bar (None: only on a terminal, never under pytest).
        data: the dataset, when the caller has it loaded already (else :func:`stingylib.training.load_data`).

    Returns:
        The result record (also written to ``store.record_path(cfg.run_id)``).

    Raises:
        CorruptFileError: the checkpoint or a frozen run's weights cannot be loaded (names the file).
    """
    dev = select_device(device)
    data = load_data(cfg) if data is None else data
    frozen = frozen_roles(store, cfg, dev)
    trainer = cfg.method.make_trainer(cfg, data, dev, frozen)
    start_epoch, history, wall = _resume(store, cfg, trainer)

    teacher_accuracy = evaluate(frozen["teacher"].logits, data, dev) if "teacher" in frozen else None
    steps = trainer.steps_per_epoch
    bar = tqdm(total=cfg.epochs * steps, initial=start_epoch * steps, desc=cfg.label,
               disable=_progress_disabled(progress), leave=False, dynamic_ncols=True)
    for epoch in range(start_epoch, cfg.epochs):
        tick = time.perf_counter()
        losses, seen = trainer.train_epoch(epoch, lambda: bar.update(1))
        train_seconds = time.perf_counter() - tick
        accuracy = evaluate(trainer.network, data, dev)
        seconds = time.perf_counter() - tick
        wall += seconds
        history.append({"epoch": epoch + 1, "lr": learning_rate(cfg, epoch), "test_accuracy": accuracy,
                        **{f"train_{k}": v for k, v in losses.items()},
                        "images_per_s": seen / train_seconds, "seconds": seconds})
        bar.set_postfix(loss=f"{losses['total']:.3f}", acc=f"{accuracy:.2f}")
        _save_checkpoint(store, cfg, trainer, epoch + 1, history, wall)
    bar.close()

    accuracies = [h["test_accuracy"] for h in history]
    best = accuracies.index(max(accuracies))  # first best epoch on ties
    record = RunRecord(
        run_id=cfg.run_id,
        config=cfg,
        final_accuracy=accuracies[-1],
        best_accuracy=accuracies[best],
        best_epoch=best + 1,
        teacher_accuracy=teacher_accuracy,
        num_params=count_parameters(trainer.network),
        wall_seconds=wall,
        images_per_s=sum(h["images_per_s"] for h in history) / len(history),
        history=tuple(history),
        sample_logits=tuple(tuple(row) for row in sample_logits(trainer.network, data, dev)),
        sample_labels=tuple(data.test_y[:SAMPLE_IMAGES].tolist()),
        sample_images=SampleImages.from_tensor(data.test_x[:SAMPLE_IMAGES]),
        provenance=provenance(str(dev)),
    )
    weights = {"config": cfg.to_dict(), "state_dict": trainer.network.state_dict()}
    atomic_write(store.weights_path(cfg.run_id), lambda f: torch.save(weights, f), binary=True)
    store.write_record(record)
    store.discard_checkpoint(cfg.run_id)  # the weights and record replace it
    return record


# --------------------------------------------------------------------------------------------
# Training a run safely (the runner's unit of work)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one run: ``trained``; ``skipped`` (done when planned); ``done`` (found done
    under its lock: another process finished it meanwhile); ``busy`` (another process trains it)."""

    run_id: str
    status: str
    seconds: float = 0.0
    best_accuracy: float | None = None
    notes: tuple[str, ...] = ()  # what was repaired on the way (files moved aside, …)


def _prepare(store: RunStore, cfg: RunConfig, force: bool, need_weights: bool, notes: list[str]) -> bool:
    """Under the run's lock: repair what cannot be trusted; return True when the run is already done."""
    rid = cfg.run_id
    for path in store.clean_temporary(rid):
        notes.append(f"removed the stale temporary file {path}")
    record_path = store.record_path(rid)
    if record_path.exists():
        try:
            store.load_record(rid)
        except RecordError as err:
            moved = store.quarantine(record_path)
            notes.append(f"moved the corrupt record aside to {moved} ({err.problem}); retraining {rid}")
        else:
            weights = store.weights_path(rid)
            if need_weights and weights.exists() and not store.has_weights(rid):
                notes.append(f"moved the unreadable weights aside to {store.quarantine(weights)}; retraining {rid}")
            if not force and (store.has_weights(rid) or not need_weights):
                if store.checkpoint_path(rid).exists():  # left by a kill after the record was written
                    store.discard_checkpoint(rid)
                    notes.append(f"removed the leftover checkpoint of the finished run {rid}")
                return True
    if force:  # a finished checkpoint would only be reloaded: --force means train again
        try:
            epochs = read_checkpoint_epochs(store, rid)
        except CorruptFileError as err:
            _set_aside_checkpoint(store, err, rid, notes)
            epochs = None
        if epochs is not None and epochs >= cfg.epochs:
            store.discard_checkpoint(rid)
            notes.append(f"--force: discarded the finished checkpoint of {rid}")
    return False


def _set_aside_checkpoint(store: RunStore, err: CorruptFileError, run_id: str, notes: list[str]) -> None:
    """Move a corrupt checkpoint aside (re-raise ``err`` when it is another file, e.g. a teacher's weights)."""
    if err.path != store.checkpoint_path(run_id):
        raise err
    notes.append(f"moved the corrupt checkpoint aside to {store.quarantine(err.path)}; retraining {run_id}")


def train_run(cfg: RunConfig, store: RunStore, *, force: bool = False, need_weights: bool = True,
              wait: bool = True, device: str = "auto", progress: bool | None = None,
              threads: int | None = None) -> Outcome:
    """Train ``cfg`` unless it is done, holding its lock: one trainer per run, however many processes.

    Args:
        cfg: the run.
        store: results, weights, checkpoints and locks.
        force: retrain even if it is done (a finished checkpoint is discarded; an unfinished one resumes).
        need_weights: "done" also requires the final weights (the run is someone's dependency).
        wait: wait for another process's lock; False returns at once with status ``busy``.
        device, progress: as for :func:`fit`.
        threads: torch CPU threads while training (restored afterwards).
    """
    notes: list[str] = []
    try:
        with store.lock(cfg.run_id, wait=wait):
            if _prepare(store, cfg, force, need_weights, notes):
                return Outcome(cfg.run_id, "done", 0.0, store.load_record(cfg.run_id).best_accuracy, tuple(notes))
            start, previous = time.perf_counter(), torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                try:
                    record = fit(cfg, store, device=device, progress=progress)
                except CorruptFileError as err:  # its checkpoint: start afresh (a teacher's: re-raised)
                    _set_aside_checkpoint(store, err, cfg.run_id, notes)
                    record = fit(cfg, store, device=device, progress=progress)
            finally:
                torch.set_num_threads(previous)
            return Outcome(cfg.run_id, "trained", time.perf_counter() - start, record.best_accuracy, tuple(notes))
    except RunBusy:
        return Outcome(cfg.run_id, "busy")


def main(argv: list[str] | None = None) -> int:
    """``python -m stingylib.engine CONFIG.json --results DIR --checkpoints DIR``: train one run."""
    parser = argparse.ArgumentParser(description="Train one run from its JSON config (under its lock).")
    parser.add_argument("config", help="a JSON file holding RunConfig.to_dict()")
    parser.add_argument("--results", required=True)
    parser.add_argument("--checkpoints", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--force", action="store_true", help="retrain even if the run is done")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        cfg = RunConfig.from_dict(json.load(handle))
    outcome = train_run(cfg, RunStore(Path(args.results), Path(args.checkpoints)), force=args.force,
                        device=args.device, threads=args.threads)
    for note in outcome.notes:
        print(note)
    print(json.dumps({"run_id": outcome.run_id, "status": outcome.status, "best_accuracy": outcome.best_accuracy}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
