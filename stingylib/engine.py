"""The training engine: one epoch loop for every method, and one safe way to train a run.

- :func:`fit_cohort` trains the networks of a cohort of :class:`~stingylib.runs.config.RunConfig`
  (runs that share a teacher and their data order: one batch and one teacher pass serve them all;
  :func:`fit` is a cohort of one) and writes their records. What differs between methods comes
  from the config's method object (:mod:`stingylib.methods`): the frozen runs it needs and how it
  shows them, its trainer and loss. Everything else is shared: the multi-step learning-rate
  schedule, per-epoch test accuracy (per sample) and, for runs with a validation split, validation
  accuracy, a checkpoint after every epoch written atomically (resuming continues bit for bit on
  CPU), and the weights and record: the weights of the epoch selected on validation (else the final
  ones), its test accuracy beside the final one and the paper's best-on-test.
- :func:`train_cohort` (:func:`train_run` for one run) is how the runner and the command line
  train: under each run's lock, it asks again whether the run is done, moves corrupt files aside,
  removes stale temporary files and, with ``force``, discards a finished checkpoint, then calls
  :func:`fit_cohort`.

Weights and checkpoints are read and written by :mod:`stingylib.checkpoints`, accuracy is measured
by :mod:`stingylib.evaluation` (both re-exported here). Frozen networks (teacher, adversary) are in eval mode, run without gradient and in the precision of
their own run, with their BatchNorm folded into their convolutions (evaluation uses such a copy of
the trained network too). Each network runs in its run's precision (:mod:`stingylib.fastpath`) and
the memory format measured fastest for its architecture and use. KD students also record, per
epoch, the diagnostics of :mod:`stingylib.diagnostics` (measured on a fixed batch, training
untouched). The batch loop never waits for
the device: losses stay on it until the epoch ends, and value checks happen once per epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Sequence

import torch
from torch import Tensor, nn
from tqdm import tqdm

from . import data as datamod
from .checkpoints import (  # noqa: F401 - load_network and the error are part of the engine's API
    CorruptFileError,
    load_network,
    load_run,
    read_checkpoint_epochs,
    resume_checkpoint,
    save_checkpoint,
)
from .device import select_device
from .diagnostics import Diagnostics, applies as has_diagnostics
from .evaluation import EVAL_BATCH, SAMPLE_IMAGES, accuracy, eval_logits, evaluate, sample_logits  # noqa: F401
from .fastpath import bf16_native, memory_format
from .models import FoldedCopy, count_parameters
from .runs import RecordError, RunBusy, RunConfig, RunRecord, RunStore, SampleImages, atomic_write, provenance
from .training import Frozen, FrozenNet, Trainer, check_cohort, learning_rate, load_data, train_cohort_epoch

def _frozen_roles(store: RunStore, cfg: RunConfig, device: torch.device,
                  nets: dict[str, FrozenNet]) -> dict[str, Frozen]:
    """The frozen networks of the config's method, each seen through the method's view of its role.
    ``nets`` holds the frozen runs loaded so far (shared by a cohort's members)."""
    method = cfg.method
    out = {}
    for role in method.roles:
        run_id = getattr(method, role)
        if run_id not in nets:
            network, frozen_cfg = load_run(store, run_id)
            nets[run_id] = FrozenNet(network, frozen_cfg, device)
        out[role] = Frozen(nets[run_id], method.view(role), method.frozen_taps.get(role, ()))
    return out



# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def _progress_disabled(progress: bool | None) -> bool | None:
    if progress is not None:
        return not progress
    if "PYTEST_CURRENT_TEST" in os.environ:
        return True
    return None  # tqdm decides: off when the output is not a terminal


class TrainingDiverged(FloatingPointError):
    """A run's mean loss over an epoch is not finite; the message names the run, epoch and term."""


@dataclass
class _Member:
    """One run of a fit: its trainer and where it stands."""

    cfg: RunConfig
    trainer: Trainer
    frozen: dict[str, Frozen]
    epochs_done: int
    history: list[dict]
    wall: float
    inference: FoldedCopy  # the network's BatchNorm-folded copy that evaluation runs
    selected: dict[str, Tensor] | None = None  # weights of the epoch selected on validation so far
    teacher_accuracy: float | None = None
    diagnostics: Diagnostics | None = None  # KD students: the per-epoch diagnostics' fixed batch


def _build_member(cfg: RunConfig, store: RunStore, data: datamod.ImageData, dev: torch.device,
                  nets: dict[str, FrozenNet], on_corrupt: Callable[[CorruptFileError], None] | None) -> _Member:
    """Build the run's trainer and resume it from its checkpoint (a corrupt checkpoint goes to
    ``on_corrupt``, which moves it aside, and the run starts afresh; without a handler it raises)."""
    frozen = _frozen_roles(store, cfg, dev, nets)
    trainer = cfg.method.make_trainer(cfg, data, dev, frozen)
    try:
        start, history, wall, selected = resume_checkpoint(store, cfg, trainer)
    except CorruptFileError as err:
        if on_corrupt is None or err.path != store.checkpoint_path(cfg.run_id):
            raise
        on_corrupt(err)
        trainer = cfg.method.make_trainer(cfg, data, dev, frozen)
        start, history, wall, selected = 0, [], 0.0, None
    fmt = memory_format(cfg.model, cfg.precision, dev, "infer")
    diagnostics = Diagnostics(cfg.method, frozen, data, dev) if has_diagnostics(cfg.method) else None
    # The evaluation copy is made once, with the trainer (set-up, not a cost of any epoch).
    return _Member(cfg, trainer, frozen, start, history, wall, FoldedCopy(trainer.network, fmt), selected,
                   diagnostics=diagnostics)


def _compile(members: list[_Member], nets: dict[str, FrozenNet]) -> None:
    """``torch.compile`` the forward passes (opt-in: worth it on GPUs; on a CPU it costs minutes)."""
    for member in members:
        if hasattr(member.trainer, "forward"):
            member.trainer.forward = torch.compile(member.trainer.network)
    for net in nets.values():
        net.forward = torch.compile(net.network)


def _inference_copy(member: _Member, dev: torch.device) -> tuple[nn.Module, torch.memory_format]:
    """The member's network as evaluation runs it: a copy with BatchNorm folded into the convolutions,
    in the memory format measured fastest for inference (training state untouched)."""
    return member.inference.refresh(), memory_format(member.cfg.model, member.cfg.precision, dev, "infer")


def selected_epoch(history: Sequence[dict]) -> int | None:
    """The 1-based epoch selected on the validation split: the first with the best ``val_accuracy``
    (None when the history has no validation accuracy). Never reads test accuracy."""
    if not history or "val_accuracy" not in history[0]:
        return None
    val = [h["val_accuracy"] for h in history]
    return val.index(max(val)) + 1


def _select(member: _Member) -> None:
    """After an epoch: keep the network's weights when this epoch is the one selected on validation."""
    if selected_epoch(member.history) == len(member.history):
        member.selected = {k: v.detach().clone() for k, v in member.trainer.network.state_dict().items()}


def _finish(store: RunStore, member: _Member, data: datamod.ImageData, dev: torch.device) -> RunRecord:
    """Write the finished run's weights (those of the epoch selected on validation, when the run has
    a validation split; else the final ones) and its record; drop its checkpoint."""
    cfg, trainer, history = member.cfg, member.trainer, member.history
    accuracies = [h["test_accuracy"] for h in history]
    best = accuracies.index(max(accuracies))  # first best epoch on ties
    chosen = selected_epoch(history)
    if chosen is not None:  # the run's published network is the selected one (training is over)
        trainer.network.load_state_dict(member.selected)
    network, fmt = _inference_copy(member, dev)
    logits = sample_logits(network, data, dev, precision=cfg.precision, memory_format=fmt)
    buffer = io.BytesIO()  # the weights' bytes, hashed into the record that vouches for them
    torch.save({"config": cfg.to_dict(), "state_dict": trainer.network.state_dict()}, buffer)
    weights = buffer.getvalue()
    record = RunRecord(
        run_id=cfg.run_id,
        config=cfg,
        final_accuracy=accuracies[-1],
        best_accuracy=accuracies[best],
        best_epoch=best + 1,
        selected_epoch=chosen,
        selected_accuracy=None if chosen is None else accuracies[chosen - 1],
        selected_val_accuracy=None if chosen is None else history[chosen - 1]["val_accuracy"],
        teacher_accuracy=member.teacher_accuracy,
        num_params=count_parameters(trainer.network),
        wall_seconds=member.wall,
        images_per_s=sum(h["images_per_s"] for h in history) / len(history),
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


def _epoch_losses(cfg: RunConfig, epoch: int, losses: dict[str, Tensor]) -> dict[str, float]:
    """The epoch's mean losses as numbers (one host sync per epoch); a non-finite one is an error."""
    out = {name: float(value) for name, value in losses.items()}
    bad = {name: value for name, value in out.items() if not math.isfinite(value)}
    if bad:
        raise TrainingDiverged(f"run {cfg.run_id}: training diverged in epoch {epoch + 1}: mean loss {bad}; "
                               f"lower its learning rate or check its inputs")
    return out


def _train_epoch(members: list[_Member], epoch: int, tick: Callable[[], None]) -> list[tuple[dict[str, Tensor], int]]:
    """One epoch of every member: a cohort shares batches and frozen passes; a lone run uses its
    trainer's own epoch body (with its own random state, as in a cohort)."""
    if len(members) > 1:
        return train_cohort_epoch([m.trainer for m in members], epoch, tick)  # type: ignore[misc]
    trainer = members[0].trainer
    torch.set_rng_state(trainer.rng_state)
    result = trainer.train_epoch(epoch, tick)
    trainer.rng_state = torch.get_rng_state()
    return [result]


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

    A cohort shares its frozen runs, data order and epochs (:meth:`~stingylib.runs.config.RunConfig.cohort_key`): each batch
    is drawn and augmented once, each frozen network runs once on it, and every member steps. On the
    CPU every member's record and weights are bit-identical to training it alone (only its timings
    differ: a member's ``seconds`` are its share of the cohort's training time plus its own
    evaluation). Members resumed at different epochs catch up one by one.

    Not locked: use :func:`train_cohort` when other processes may train the same store.

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
    data = datamod.resident(load_data(cfgs[0]) if data is None else data, dev)  # uploaded once
    nets: dict[str, FrozenNet] = {}
    members = [_build_member(cfg, store, data, dev, nets, on_corrupt) for cfg in cfgs]
    if compile:
        _compile(members, nets)
    teacher_logits: dict[FrozenNet, Tensor] = {}  # one pass over the test split per frozen network
    for m in members:
        if "teacher" in m.frozen:
            net = m.frozen["teacher"].net
            if net not in teacher_logits:
                teacher_logits[net] = eval_logits(lambda x, net=net: net(x).logits, data, dev)  # in its precision
            m.teacher_accuracy = accuracy(m.frozen["teacher"].view(teacher_logits[net]), data.test_y)

    records = {m.cfg.run_id: _finish(store, m, data, dev) for m in members if m.epochs_done >= m.cfg.epochs}
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
            numbers = _epoch_losses(m.cfg, epoch, losses)
            tick = time.perf_counter()
            network, fmt = _inference_copy(m, dev)
            acc = evaluate(network, data, dev, precision=m.cfg.precision, memory_format=fmt)
            val = {}
            if data.val_x is not None:
                val["val_accuracy"] = evaluate(network, data, dev, precision=m.cfg.precision, memory_format=fmt,
                                               split="val")
            diag = {} if m.diagnostics is None else m.diagnostics.measure(
                m.cfg.method, m.trainer.network, m.trainer.modules, m.cfg.precision, m.trainer.format, epoch)
            seconds = share + time.perf_counter() - tick
            m.wall += seconds
            m.history.append({"epoch": epoch + 1, "lr": learning_rate(m.cfg, epoch), "test_accuracy": acc, **val,
                              **{f"train_{k}": v for k, v in numbers.items()}, **diag,
                              "images_per_s": seen / share, "seconds": seconds})
            m.epochs_done = epoch + 1
            _select(m)
            bar.set_postfix(loss=f"{numbers['total']:.3f}", **{k[:3]: f"{v:.2f}" for k, v in val.items()},
                            acc=f"{acc:.2f}")
            save_checkpoint(store, m.cfg, m.trainer, m.epochs_done, m.history, m.wall, m.selected)
            if m.epochs_done == m.cfg.epochs:
                records[m.cfg.run_id] = _finish(store, m, data, dev)
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
    :func:`fit_cohort` of one run (see there). Not locked: use :func:`train_run` when other
    processes may train the same store.

    Raises:
        CorruptFileError: the checkpoint or a frozen run's weights cannot be loaded (names the file).
        TrainingDiverged: the mean loss over an epoch is NaN or infinite.
    """
    return fit_cohort([cfg], store, device=device, progress=progress, data=data, compile=compile)[0]


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
                notes.append(f"moved the unreadable or mismatched weights aside to {store.quarantine(weights)}; "
                             f"retraining {rid}")
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


def train_cohort(cfgs: Sequence[RunConfig], store: RunStore, *, force: bool = False,
                 need_weights: bool | Collection[str] = True, wait: bool = True, device: str = "auto",
                 progress: bool | None = None, threads: int | None = None, compile: bool = False) -> list[Outcome]:
    """Train the runs of a cohort that are not done, each under its own lock (:func:`fit_cohort`).

    Locks are taken in run-id order. A run another process holds is ``busy`` (with ``wait=False``)
    and the others train without it; each run is checked again under its lock (done meanwhile?
    corrupt files to move aside? a finished checkpoint to discard under ``force``?).

    Args:
        cfgs: runs that can form one cohort (:meth:`~stingylib.runs.config.RunConfig.cohort_key`), or a single run.
        store: results, weights, checkpoints and locks.
        force: retrain even if done (a finished checkpoint is discarded; an unfinished one resumes).
        need_weights: "done" also requires the final weights (the run is someone's dependency): True
            or False for every run, or the ids of the runs it holds for.
        wait: wait for other processes' locks; False returns ``busy`` for those runs at once.
        device, progress, compile: as for :func:`fit_cohort`.
        threads: torch CPU threads while training (restored afterwards).

    Returns:
        One :class:`Outcome` per run, in the order of ``cfgs``.
    """
    cfgs = list(cfgs)
    check_cohort(cfgs)
    outcomes: dict[str, Outcome] = {}
    notes: dict[str, list[str]] = {c.run_id: [] for c in cfgs}
    needs = (lambda rid: need_weights) if isinstance(need_weights, bool) else (lambda rid: rid in need_weights)
    with contextlib.ExitStack() as locks:
        todo = []
        for cfg in sorted(cfgs, key=lambda c: c.run_id):
            try:
                locks.enter_context(store.lock(cfg.run_id, wait=wait))
            except RunBusy:
                outcomes[cfg.run_id] = Outcome(cfg.run_id, "busy")
                continue
            if _prepare(store, cfg, force, needs(cfg.run_id), notes[cfg.run_id]):
                record = store.load_record(cfg.run_id)
                outcomes[cfg.run_id] = Outcome(cfg.run_id, "done", 0.0, record.best_accuracy, tuple(notes[cfg.run_id]))
            else:
                todo.append(cfg)
        if todo:
            todo = [c for c in cfgs if c in todo]  # the caller's order

            def set_aside(err: CorruptFileError) -> None:
                owner = next(c.run_id for c in todo if store.checkpoint_path(c.run_id) == err.path)
                _set_aside_checkpoint(store, err, owner, notes[owner])

            start, previous = time.perf_counter(), torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                records = fit_cohort(todo, store, device=device, progress=progress, compile=compile,
                                     on_corrupt=set_aside)
            finally:
                torch.set_num_threads(previous)
            seconds = time.perf_counter() - start
            for cfg, record in zip(todo, records):
                if len(todo) > 1:
                    notes[cfg.run_id].append(f"trained in a cohort of {len(todo)} runs sharing one teacher pass")
                outcomes[cfg.run_id] = Outcome(cfg.run_id, "trained", seconds / len(todo), record.best_accuracy,
                                               tuple(notes[cfg.run_id]))
    return [outcomes[c.run_id] for c in cfgs]


def train_run(cfg: RunConfig, store: RunStore, *, force: bool = False, need_weights: bool = True,
              wait: bool = True, device: str = "auto", progress: bool | None = None,
              threads: int | None = None, compile: bool = False) -> Outcome:
    """Train ``cfg`` unless it is done, holding its lock: one trainer per run, however many processes.
    :func:`train_cohort` of one run (see there for the arguments)."""
    return train_cohort([cfg], store, force=force, need_weights=need_weights, wait=wait, device=device,
                        progress=progress, threads=threads, compile=compile)[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m stingylib.engine CONFIG.json --results DIR --checkpoints DIR [--shipped DIR]``: train one run."""
    parser = argparse.ArgumentParser(description="Train one run from its JSON config (under its lock).")
    parser.add_argument("config", help="a JSON file holding RunConfig.to_dict()")
    parser.add_argument("--results", required=True)
    parser.add_argument("--checkpoints", required=True)
    parser.add_argument("--shipped", default=None, help="a folder of shipped weights (<run_id>.pt) to read from")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--force", action="store_true", help="retrain even if the run is done")
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward passes (for GPUs)")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        cfg = RunConfig.from_dict(json.load(handle))
    store = RunStore(Path(args.results), Path(args.checkpoints), None if args.shipped is None else Path(args.shipped))
    outcome = train_run(cfg, store, force=args.force,
                        device=args.device, threads=args.threads, compile=args.compile)
    for note in outcome.notes:
        print(note)
    print(json.dumps({"run_id": outcome.run_id, "status": outcome.status, "best_accuracy": outcome.best_accuracy}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
