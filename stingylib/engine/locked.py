"""Training under locks: the unit of work of the runner and of ``python -m stingylib run``.

:func:`train_locked` (:func:`train_run` for one run) takes each run's lock, asks again whether the
run is done, repairs what cannot be trusted (a corrupt record or checkpoint and unreadable or
mismatched weights are moved aside, stale temporary files removed, a finished run's leftover
checkpoint dropped) and, with ``force``, discards a finished checkpoint; then it trains the rest
as one cohort (:func:`~stingylib.engine.loop.fit_cohort`). Two processes (or Ray nodes) that share
a data root therefore train every run once between them.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Collection, Sequence

import torch

from ..checkpoints import CorruptFileError, read_checkpoint_epochs
from ..runs import RecordError, RunBusy, RunConfig, RunStore
from .loop import check_cohort, fit_cohort


@dataclass(frozen=True)
class Outcome:
    """What happened to one run: ``trained``; ``skipped`` (done when planned); ``done`` (found done
    under its lock: another process finished it meanwhile); ``busy`` (another process trains it)."""

    run_id: str
    status: str
    seconds: float = 0.0
    accuracy: float | None = None  # the record's reported test accuracy (RunRecord.reported_accuracy)
    notes: tuple[str, ...] = ()  # what was repaired on the way (files moved aside, …)


def prepare(store: RunStore, cfg: RunConfig, force: bool, need_weights: bool, notes: list[str]) -> bool:
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
                note = store.discard_leftover_checkpoint(rid)
                if note:
                    notes.append(note)
                return True
    if force:  # a finished checkpoint would only be reloaded: --force means train again
        try:
            epochs = read_checkpoint_epochs(store, rid)
        except CorruptFileError as err:
            set_aside_checkpoint(store, err, rid, notes)
            epochs = None
        if epochs is not None and epochs >= cfg.epochs:
            store.discard_checkpoint(rid)
            notes.append(f"--force: discarded the finished checkpoint of {rid}")
    return False


def set_aside_checkpoint(store: RunStore, err: CorruptFileError, run_id: str, notes: list[str]) -> None:
    """Move a corrupt checkpoint aside (re-raise ``err`` when it is another file, e.g. a teacher's weights)."""
    if err.path != store.checkpoint_path(run_id):
        raise err
    notes.append(f"moved the corrupt checkpoint aside to {store.quarantine(err.path)}; retraining {run_id}")


def train_locked(cfgs: Sequence[RunConfig], store: RunStore, *, force: bool = False,
                 need_weights: bool | Collection[str] = True, wait: bool = True, device: str = "auto",
                 progress: bool | None = None, threads: int | None = None, compile: bool = False) -> list[Outcome]:
    """Train the runs of a cohort that are not done, each under its own lock
    (:func:`~stingylib.engine.loop.fit_cohort`).

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
        device, progress, compile: as for :func:`~stingylib.engine.loop.fit_cohort`.
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
            if prepare(store, cfg, force, needs(cfg.run_id), notes[cfg.run_id]):
                record = store.load_record(cfg.run_id)
                outcomes[cfg.run_id] = Outcome(cfg.run_id, "done", 0.0, record.reported_accuracy, tuple(notes[cfg.run_id]))
            else:
                todo.append(cfg)
        if todo:
            todo = [c for c in cfgs if c in todo]  # the caller's order

            def set_aside(err: CorruptFileError) -> None:
                owner = next(c.run_id for c in todo if store.checkpoint_path(c.run_id) == err.path)
                set_aside_checkpoint(store, err, owner, notes[owner])

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
                outcomes[cfg.run_id] = Outcome(cfg.run_id, "trained", seconds / len(todo), record.reported_accuracy,
                                               tuple(notes[cfg.run_id]))
    return [outcomes[c.run_id] for c in cfgs]


def train_run(cfg: RunConfig, store: RunStore, *, force: bool = False, need_weights: bool = True,
              wait: bool = True, device: str = "auto", progress: bool | None = None,
              threads: int | None = None, compile: bool = False) -> Outcome:
    """Train ``cfg`` unless it is done, holding its lock: one trainer per run, however many processes.
    :func:`train_locked` of one run (see there for the arguments)."""
    return train_locked([cfg], store, force=force, need_weights=need_weights, wait=wait, device=device,
                        progress=progress, threads=threads, compile=compile)[0]
