"""The epoch loop: one loop for every method, for one run or a cohort of runs.

:func:`fit_cohort` trains the networks of a cohort of runs (runs that share a teacher and their
data order: one batch and one teacher pass serve them all; :func:`fit` is a cohort of one) and
writes their records (:mod:`stingylib.engine.finish`). What differs between methods comes from the config's method
object (:mod:`stingylib.methods`): the frozen runs it needs and how it shows them, its trainer and
loss. Everything else is shared: the multi-step learning-rate schedule, per-epoch test accuracy
(per sample) and, for runs with a validation split, validation accuracy, the diagnostics of KD
students, and a checkpoint after every epoch written atomically (resuming continues bit for bit on
CPU). The batch loop never waits for the device: losses stay on it until the epoch ends, and
value checks happen once per epoch.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Callable, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from .. import data as datamod
from ..checkpoints import CorruptFileError, save_checkpoint
from ..device import select_device
from ..evaluation import accuracy, eval_logits, evaluate
from ..fastpath import bf16_native
from ..runs import EpochMetrics, RunConfig, RunRecord, RunStore
from ..training import FrozenNet, cohort_epoch, learning_rate, load_data
from .finish import finish_run
from .member import Member, build_member, keep_if_selected


class TrainingDiverged(FloatingPointError):
    """A run's mean loss over an epoch is not finite; the message names the run, epoch and term."""


def check_cohort(cfgs: Sequence[RunConfig]) -> None:
    """Raise ValueError unless ``cfgs`` can train as one cohort: at least one run, none twice, and
    (for more than one) equal :meth:`~stingylib.runs.config.RunConfig.cohort_key` that is not None."""
    ids = [c.run_id for c in cfgs]
    if not cfgs or len(set(ids)) != len(ids):
        raise ValueError(f"a cohort needs at least one run and no run twice; got {ids}")
    keys = {c.cohort_key() for c in cfgs}
    if len(cfgs) > 1 and (None in keys or len(keys) > 1):
        raise ValueError("the runs of a cohort must share their frozen runs, dataset and subset, seed, batch size, "
                         f"epochs and augmentation, and use the standard batch trainer; got {ids}")


def _progress_disabled(progress: bool | None) -> bool | None:
    if progress is not None:
        return not progress
    if "PYTEST_CURRENT_TEST" in os.environ:
        return True
    return None  # tqdm decides: off when the output is not a terminal


def _compile(members: list[Member], nets: dict[str, FrozenNet]) -> None:
    """``torch.compile`` the forward passes (opt-in: worth it on GPUs; on a CPU it costs minutes)."""
    for member in members:
        if hasattr(member.trainer, "forward"):
            member.trainer.forward = torch.compile(member.trainer.network)
    for net in nets.values():
        net.forward = torch.compile(net.network)


def _epoch_losses(cfg: RunConfig, epoch: int, losses: dict[str, Tensor]) -> dict[str, float]:
    """The epoch's mean losses as numbers (one host sync per epoch); a non-finite one is an error."""
    out = {name: float(value) for name, value in losses.items()}
    bad = {name: value for name, value in out.items() if not math.isfinite(value)}
    if bad:
        raise TrainingDiverged(f"run {cfg.run_id}: training diverged in epoch {epoch + 1}: mean loss {bad}; "
                               f"lower its learning rate or check its inputs")
    return {"total": out.pop("total"), **out}  # "total" first, as records list the terms


def _train_epoch(members: list[Member], epoch: int, tick: Callable[[], None]) -> list[tuple[dict[str, Tensor], int]]:
    """One epoch of every member: a cohort shares batches and frozen passes; a lone run uses its
    trainer's own epoch body (with its own random state, as in a cohort)."""
    if len(members) > 1:
        return cohort_epoch([m.trainer for m in members], epoch, tick)  # type: ignore[misc]
    trainer = members[0].trainer
    torch.set_rng_state(trainer.rng_state)
    result = trainer.train_epoch(epoch, tick)
    trainer.rng_state = torch.get_rng_state()
    return [result]


def _teacher_accuracies(members: list[Member], data: datamod.ImageData, dev: torch.device) -> None:
    """Each member's teacher accuracy as it sees the teacher (one test pass per frozen network)."""
    logits: dict[FrozenNet, Tensor] = {}
    for m in members:
        if "teacher" in m.frozen:
            net = m.frozen["teacher"].net
            if net not in logits:
                logits[net] = eval_logits(lambda x, net=net: net(x).logits, data, dev)  # in its precision
            m.teacher_accuracy = accuracy(m.frozen["teacher"].view(logits[net]), data.test_y)


def _end_epoch(m: Member, epoch: int, losses: dict[str, Tensor], seen: int, share: float,
               data: datamod.ImageData, dev: torch.device) -> EpochMetrics:
    """Evaluate a member after ``epoch`` (0-based) and return the epoch's metrics."""
    numbers = _epoch_losses(m.cfg, epoch, losses)
    tick = time.perf_counter()
    network, fmt = m.inference_copy(dev)
    acc = None  # the test split: every epoch, or only after the last (TrainSpec.test_every_epoch)
    if m.cfg.test_every_epoch or epoch + 1 == m.cfg.epochs:
        acc = evaluate(network, data, dev, precision=m.cfg.precision, memory_format=fmt)
    val = None
    if data.val_x is not None:
        val = evaluate(network, data, dev, precision=m.cfg.precision, memory_format=fmt, split="val")
    diag = {} if m.diagnostics is None else m.diagnostics.measure(
        m.cfg.method, m.trainer.network, m.trainer.modules, m.cfg.precision, m.trainer.format, epoch)
    seconds = share + time.perf_counter() - tick
    return EpochMetrics(epoch=epoch + 1, lr=learning_rate(m.cfg.spec, epoch), test_accuracy=acc, val_accuracy=val,
                        train=numbers, diagnostics=diag, images_per_s=seen / share, seconds=seconds)


def fit_cohort(
    cfgs: Sequence[RunConfig],
    store: RunStore,
    *,
    device: str = "auto",
    progress: bool | None = None,
    data: datamod.ImageData | None = None,
    compile: bool = False,
    on_corrupt: Callable[[CorruptFileError], None] | None = None,
) -> list[RunRecord]:
    """Train a cohort of runs together (resuming each from its checkpoint) and write their records.

    A cohort shares its frozen runs, data order and epochs (:meth:`~stingylib.runs.config.RunConfig.cohort_key`):
    each batch is drawn and augmented once, each frozen network runs once on it, and every member
    steps. On the CPU every member's record and weights are bit-identical to training it alone
    (only its timings differ: a member's ``seconds`` are its share of the cohort's training time
    plus its own evaluation). Members resumed at different epochs catch up one by one.

    Not locked: use :func:`~stingylib.engine.locked.train_locked` when other processes may train the same store.

    Args:
        cfgs: the runs (one run is a cohort of one; any method).
        store: where checkpoints, weights and records go, and where the frozen runs' weights are.
        device: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda`` or ``mps``.
        progress: show a tqdm bar (None: only on a terminal, never under pytest).
        data: the dataset, when the caller has it loaded already (else :func:`stingylib.training.load_data`).
        compile: ``torch.compile`` the forward passes (for GPUs; off by default).
        on_corrupt: called with the error when a member's checkpoint cannot be loaded (it should move
            the file aside); the member then starts afresh. None: the error is raised.

    Returns:
        The members' records, in the order of ``cfgs``.

    Raises:
        ValueError: the runs cannot form one cohort.
        CorruptFileError: a checkpoint (without ``on_corrupt``) or a frozen run's weights cannot be loaded.
        TrainingDiverged: a run's mean loss over an epoch is NaN or infinite.
    """
    cfgs = list(cfgs)
    check_cohort(cfgs)
    dev = select_device(device)
    if any(c.precision == "bf16" for c in cfgs) and not bf16_native(dev):
        warnings.warn(f"precision 'bf16' on {dev}, which has no native bf16: it runs emulated (slowly). The "
                      f"profile fixed bf16 for these runs; a precision='fp32' run is a different run.", stacklevel=2)
    data = datamod.resident(load_data(cfgs[0].spec) if data is None else data, dev)  # uploaded once
    nets: dict[str, FrozenNet] = {}
    members = [build_member(cfg, store, data, dev, nets, on_corrupt) for cfg in cfgs]
    if compile:
        _compile(members, nets)
    _teacher_accuracies(members, data, dev)

    records = {m.cfg.run_id: finish_run(store, m, data, dev) for m in members if m.epochs_done >= m.cfg.epochs}
    steps = {m.cfg.run_id: m.trainer.steps_per_epoch for m in members}
    desc = cfgs[0].label if len(cfgs) == 1 else f"cohort of {len(cfgs)} ({cfgs[0].label}, …)"
    bar = tqdm(total=sum(m.cfg.epochs * steps[m.cfg.run_id] for m in members),
               initial=sum(m.epochs_done * steps[m.cfg.run_id] for m in members), desc=desc,
               disable=_progress_disabled(progress), leave=False, dynamic_ncols=True)
    for epoch in range(min(m.epochs_done for m in members), max(m.cfg.epochs for m in members)):
        active = [m for m in members if m.epochs_done == epoch < m.cfg.epochs]
        if not active:
            continue
        tick = time.perf_counter()
        results = _train_epoch(active, epoch, lambda: bar.update(1))
        share = (time.perf_counter() - tick) / len(active)  # each member's share of the training time
        for m, (losses, seen) in zip(active, results):
            metrics = _end_epoch(m, epoch, losses, seen, share, data, dev)
            m.wall += metrics.seconds
            m.history.append(metrics)
            m.epochs_done = epoch + 1
            keep_if_selected(m)
            shown = {name: f"{value:.2f}" for name, value in
                     (("val", metrics.val_accuracy), ("acc", metrics.test_accuracy)) if value is not None}
            bar.set_postfix(loss=f"{metrics.train['total']:.3f}", **shown)
            save_checkpoint(store, m.cfg, m.trainer, m.epochs_done, m.history, m.wall, m.selected)
            if m.epochs_done == m.cfg.epochs:
                records[m.cfg.run_id] = finish_run(store, m, data, dev)
    bar.close()
    return [records[c.run_id] for c in cfgs]


def fit(
    cfg: RunConfig,
    store: RunStore,
    *,
    device: str = "auto",
    progress: bool | None = None,
    data: datamod.ImageData | None = None,
    compile: bool = False,
) -> RunRecord:
    """Train the run ``cfg`` describes (resuming from its checkpoint if any) and write its record:
    :func:`fit_cohort` of one run (see there). Not locked: use :func:`~stingylib.engine.locked.train_run`
    when other processes may train the same store.

    Raises:
        CorruptFileError: the checkpoint or a frozen run's weights cannot be loaded (names the file).
        TrainingDiverged: the mean loss over an epoch is NaN or infinite.
    """
    return fit_cohort([cfg], store, device=device, progress=progress, data=data, compile=compile)[0]
