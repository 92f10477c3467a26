"""Execute a graph of runs: finished runs are skipped, interrupted ones resume, the rest run in
dependency order, each under its own lock.

:func:`execute` plans first (:func:`plan_tasks`): which of the given runs still need training, and
which of their dependencies must be trained (again) because others need their weights; then it
sorts them (``graphlib``) so that the order of the given list never matters, and hands them to an
executor (looked up in :data:`EXECUTORS`):

- ``local`` (default): in this process, one run after another; with ``jobs > 1``, in that many
  worker processes, each run starting as soon as its dependencies have finished. Workers exit when
  this process dies.
- ``ray``: one Ray task per run on a local Ray cluster (started here) or on an existing cluster
  (``address``); a task waits for its dependencies' tasks. Every node must see the same data root
  (a shared filesystem): runs pass weights and records through it, and their locks live there.

Runs that share a teacher and their data order train as one cohort (:func:`group_cohorts`): one
batch and one teacher pass per step serve every member, and each member's record is what it would
be alone. ``cohort_size=1`` (``run --no-cohorts``) trains one run at a time.

Every unit is trained through :func:`stingylib.engine.locked.train_locked`, which holds each run's lock and
asks again whether it is done: two processes running the same targets on one data root train every
run once between them. A run locked by another process is put back and tried again later.

Interruptions lose nothing: Ctrl-C stops the workers at once (each finished epoch is checkpointed,
every file is written atomically) and raises :class:`KeyboardInterrupt`; a worker that dies
(killed, out of memory) raises :class:`WorkerDied` naming its runs. Rerunning resumes either.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import graphlib
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from .engine import Outcome, train_locked
from .progress import GridProgress
from .runs import RunBusy, RunConfig, RunStore

#: The options each executor takes (besides the runs, the store and ``force``).
EXECUTOR_OPTIONS: dict[str, frozenset[str]] = {
    "local": frozenset({"jobs", "device", "threads", "progress", "log", "cohort_size", "compile"}),
    "ray": frozenset({"jobs", "device", "threads", "address", "gpus_per_run", "progress", "log", "cohort_size",
                      "compile"}),
}
RETRY_SECONDS = 1.0  # how long a run locked by another process waits before it is tried again
#: At most this many runs train as one cohort (one teacher pass per batch for all of them). Larger
#: groups are split evenly, so that two workers still have work when one teacher has many students.
COHORT_SIZE = 8


@dataclass(frozen=True)
class Task:
    """One run to bring to a finished state."""

    cfg: RunConfig
    force: bool = False  # retrain even if done
    need_weights: bool = False  # another planned run loads its weights: "done" needs them too

    @property
    def run_id(self) -> str:
        return self.cfg.run_id


@dataclass(frozen=True)
class Unit:
    """What one worker trains at once: one run, or a cohort of runs sharing a teacher pass."""

    tasks: tuple[Task, ...]

    @property
    def run_ids(self) -> list[str]:
        return [t.run_id for t in self.tasks]

    def dependencies(self) -> set[str]:
        return {d for t in self.tasks for d in t.cfg.dependencies()}

    def train(self, store: RunStore, **options: object) -> list[Outcome]:
        """:func:`stingylib.engine.locked.train_locked` of the unit's runs."""
        return train_locked([t.cfg for t in self.tasks], store, force=self.tasks[0].force,
                            need_weights={t.run_id for t in self.tasks if t.need_weights}, **options)


class WorkerDied(RuntimeError):
    """A worker process died while training (killed, or out of memory); the message names its runs
    and says that a rerun resumes them."""


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def plan_tasks(runs: Iterable[RunConfig], store: RunStore, *, force: bool = False,
               catalogue: Iterable[RunConfig] = ()) -> tuple[list[Task], list[Outcome]]:
    """What must be trained for every run of ``runs`` to be done, dependencies first.

    A run of ``runs`` is planned when it has no valid record (or with ``force``). A dependency of a
    planned run is planned too when it is not usable (no valid record or no weights); its config
    comes from ``runs``, else ``catalogue``, else its own record.

    Returns:
        The tasks in a dependency order, and one ``skipped`` outcome per run of ``runs`` not planned.

    Raises:
        ValueError: a dependency that is neither usable nor known.
    """
    runs = list(dict((c.run_id, c) for c in runs).values())
    known = {c.run_id: c for c in catalogue}
    known.update({c.run_id: c for c in runs})
    todo: dict[str, RunConfig] = {}
    forced = {c.run_id for c in runs} if force else set()

    def visit(cfg: RunConfig, as_dependency: bool) -> None:
        rid = cfg.run_id
        if rid in todo:
            return
        if rid not in forced and store.is_done(rid) and (not as_dependency or store.has_weights(rid)):
            return
        todo[rid] = cfg
        for dep in cfg.dependencies():
            dep_cfg = known.get(dep)
            if dep_cfg is None:
                record = store.try_record(dep)
                dep_cfg = record.config if record is not None else None
            if dep_cfg is None:
                raise ValueError(f"run {rid} needs {dep}, which is neither finished nor planned")
            visit(dep_cfg, as_dependency=True)

    for cfg in runs:
        visit(cfg, as_dependency=False)
    needed = {d for cfg in todo.values() for d in cfg.dependencies()}
    graph = {rid: [d for d in cfg.dependencies() if d in todo] for rid, cfg in todo.items()}
    order = list(graphlib.TopologicalSorter(graph).static_order())
    tasks = [Task(todo[rid], force=rid in forced, need_weights=rid in needed) for rid in order]
    skipped = []
    for cfg in runs:
        if cfg.run_id not in todo:
            skipped.append(Outcome(cfg.run_id, "skipped", 0.0, store.load_record(cfg.run_id).reported_accuracy))
    return tasks, skipped


def group_cohorts(tasks: list[Task], cohort_size: int = COHORT_SIZE) -> list[Unit]:
    """Group tasks (in dependency order) into units: tasks with the same cohort key
    (:meth:`~stingylib.runs.config.RunConfig.cohort_key`) and ``force`` flag train together, in groups of at most
    ``cohort_size`` (split evenly); the others alone. A unit takes the place of its first task, so
    the units stay in dependency order (members share their dependencies). ``cohort_size=1``: every
    run alone."""
    groups: dict[object, list[Task]] = {}
    order: list[object] = []
    for i, task in enumerate(tasks):
        key = task.cfg.cohort_key()
        key = ("cohort", key, task.force) if key is not None and cohort_size > 1 else ("alone", i)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(task)
    units = []
    for key in order:
        members = groups[key]
        chunks = -(-len(members) // cohort_size)  # ceil
        for c in range(chunks):
            units.append(Unit(tuple(members[c::chunks])))
    return units


# --------------------------------------------------------------------------------------------
# Local executor
# --------------------------------------------------------------------------------------------


def _init_worker(parent: int) -> None:
    """Worker initialiser: exit as soon as the parent process is gone (a killed runner leaves no
    orphan training; the run's lock dies with the worker, its last epoch checkpoint stays), leave
    Ctrl-C to the parent, which stops the workers itself (so no worker prints a traceback), and give
    tqdm a thread lock instead of its default semaphore, which a worker stopped by the parent could
    not release (the resource tracker would warn of a leak)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, name="stingy-watch-parent", daemon=True).start()


class _InlinePool:
    """The ``jobs=1`` stand-in for a process pool: runs each submitted call at once, in this process."""

    def submit(self, fn: Callable, *args: object, **kwargs: object) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(err)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block Ctrl-C (SIGINT) in this thread meanwhile, where the platform can (POSIX).

    A worker process is started by ``submit``, in this thread, and inherits the blocked signal: Ctrl-C
    reaches the whole process group, but only this process handles it (and stops the workers), so no
    worker prints a traceback, not even while it is still starting. A Ctrl-C that arrives meanwhile
    is delivered here as soon as the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(pool: cf.Executor) -> None:
    """Stop a pool's workers now (their runs resume from their last epoch checkpoint) and shut it
    down. The standard library has no public way to stop a worker mid-task: its processes are
    terminated directly."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_local(tasks: list[Task], store: RunStore, *, jobs: int = 1, device: str = "auto",
              threads: int | None = None, progress: bool | None = None, cohort_size: int = COHORT_SIZE,
              compile: bool = False, log: Callable[[str], None] = print) -> list[Outcome]:
    """Run ``tasks`` (in dependency order) in this process, or in ``jobs`` worker processes, as
    cohorts of at most ``cohort_size`` runs (:func:`group_cohorts`). ``progress`` (None: only on a
    terminal) shows the grid's bar (:class:`~stingylib.progress.GridProgress`) and, with ``jobs=1``,
    each run's own bar beneath it."""
    grid = GridProgress([t.cfg for t in tasks], enabled=progress)
    say = functools.partial(grid.write, log)
    if jobs == 1:
        pool = _InlinePool()
    else:
        threads = threads if threads is not None else max(1, (os.cpu_count() or 1) // jobs)
        progress = False  # workers share one terminal
        with _sigint_blocked():  # the pool's helper processes start with Ctrl-C blocked, as its workers do
            pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_init_worker, initargs=(os.getpid(),))
    options = dict(wait=False, device=device, progress=progress, threads=threads, compile=compile)
    planned = {t.run_id for t in tasks}
    # Runs others wait for (teachers) start first: a ready unit's priority is how many planned runs
    # depend on its runs, directly or not; ties keep the dependency order.
    dependents: dict[str, set[str]] = {rid: set() for rid in planned}
    for t in reversed(tasks):  # dependents come later in dependency order: their sets are complete
        for dep in t.cfg.dependencies():
            if dep in dependents:
                dependents[dep] |= {t.run_id} | dependents[t.run_id]
    pending, finished, outcomes = group_cohorts(tasks, cohort_size), set(), []
    blocking = {u: len(set().union(*(dependents[r] for r in u.run_ids))) for u in pending}
    running: dict[cf.Future, Unit] = {}
    retry_at: dict[Unit, float] = {}
    started = 0
    try:
        while pending or running:
            now = time.monotonic()
            ready = [u for u in pending if retry_at.get(u, 0.0) <= now
                     and all(d in finished for d in u.dependencies() if d in planned)]
            ready.sort(key=lambda u: -blocking.get(u, 0))  # stable: ties keep the dependency order
            for unit in ready[: jobs - len(running)]:
                pending.remove(unit)
                if unit not in retry_at:
                    cohort = f" (cohort of {len(unit.tasks)})" if len(unit.tasks) > 1 else ""
                    for rid in unit.run_ids:
                        started += 1
                        say(f"[start {started}/{len(tasks)}] {rid}{cohort}")
                    grid.started(unit.run_ids)
                # A worker started here inherits the blocked Ctrl-C. With jobs=1 the unit trains inside
                # submit, in this process: Ctrl-C must stop it at once (its last epoch checkpoint stays),
                # not wait, blocked, for the whole cohort to end.
                with _sigint_blocked() if jobs > 1 else contextlib.nullcontext():
                    running[pool.submit(unit.train, store, **options)] = unit
            if not running:  # everything ready is locked by another process: wait a little
                time.sleep(max(0.05, min(retry_at.values(), default=now + RETRY_SECONDS) - now))
                continue
            done, _ = cf.wait(running, timeout=RETRY_SECONDS, return_when=cf.FIRST_COMPLETED)
            for future in done:
                unit = running.pop(future)
                busy = []
                try:
                    results = future.result()  # re-raises a run's error here
                except cf.process.BrokenProcessPool:
                    stopped = sorted({rid for u in [unit, *running.values()] for rid in u.run_ids})
                    raise WorkerDied(f"a worker process died (killed, or out of memory?) while training "
                                     f"{', '.join(stopped)}; finished runs are kept: rerun the same command to "
                                     "resume the others from their last epoch") from None
                for task, outcome in zip(unit.tasks, results):
                    for note in outcome.notes:
                        say(f"  {note}")
                    if outcome.status == "busy":
                        busy.append(task)
                        continue
                    finished.add(task.run_id)
                    outcomes.append(outcome)
                    how = f"trained in {outcome.seconds:.1f} s" if outcome.status == "trained" else "done by another process"
                    say(f"[done {len(outcomes)}/{len(tasks)}] {task.run_id}: {how}, test accuracy {outcome.accuracy:.2f} %")
                    grid.finished(task.run_id)
                if busy:  # the others of the unit are done: try the busy ones again a little later
                    again = Unit(tuple(busy))
                    if unit not in retry_at:
                        for task in busy:
                            say(f"  {task.run_id} is being trained by another process; waiting for it")
                    retry_at[again] = time.monotonic() + RETRY_SECONDS
                    pending.append(again)
    except KeyboardInterrupt:
        _stop(pool)  # stop now: every finished epoch is checkpointed, and no file is ever half-written
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # a run failed: let the others end (their records stay valid)
        raise
    finally:
        grid.close()
    pool.shutdown()
    return outcomes


# --------------------------------------------------------------------------------------------
# Ray executor
# --------------------------------------------------------------------------------------------


def _ray_train(unit: Unit, store: RunStore, device: str, threads: int, compile: bool,
               *_dependencies: object) -> list[Outcome]:
    """One Ray task: train a unit under its runs' locks, waiting for them if another process holds
    them. The extra arguments are the dependencies' results, only there so Ray starts this task after them."""
    return unit.train(store, wait=True, device=device, progress=False, threads=threads, compile=compile)


def run_ray(tasks: list[Task], store: RunStore, *, address: str | None = None, jobs: int | None = None,
            device: str = "auto", threads: int | None = None, gpus_per_run: float | None = None,
            cohort_size: int = COHORT_SIZE, compile: bool = False, progress: bool | None = None,
            log: Callable[[str], None] = print) -> list[Outcome]:
    """One Ray task per unit (a run or a cohort, :func:`group_cohorts`); a task's arguments include
    its dependencies' task results, so Ray starts it only after them. ``address=None`` starts a
    local cluster (``jobs`` CPUs). ``progress``: the grid's bar (None: only on a terminal), counting
    runs as their tasks end (Ray does not say which are in progress)."""
    try:
        import ray
    except ImportError as err:  # the optional extra
        raise ImportError("the ray executor needs Ray: pip install 'stingylib[ray]'") from err

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=jobs if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        if gpus_per_run is None:
            gpus_per_run = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 and device != "cpu" else 0.0
        cpus = threads or 1
        remote = ray.remote(_ray_train).options(num_cpus=cpus, num_gpus=gpus_per_run, max_retries=0)
        refs: dict[str, object] = {}  # run id → the reference of the unit that trains it
        units = []
        for unit in group_cohorts(tasks, cohort_size):  # dependency order: dependencies' references exist
            deps = list({id(refs[d]): refs[d] for d in unit.dependencies() if d in refs}.values())
            ref = remote.remote(unit, store, device, cpus, compile, *deps)
            units.append(ref)
            refs.update({rid: ref for rid in unit.run_ids})
        log(f"submitted {len(units)} Ray tasks for {len(tasks)} runs ({cpus} CPU, {gpus_per_run} GPU each)")
        outcomes: list[Outcome] = []
        with GridProgress([t.cfg for t in tasks], enabled=progress) as grid:
            waiting = list(units)
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                for outcome in ray.get(ready[0]):
                    outcomes.append(outcome)
                    for note in outcome.notes:
                        grid.write(log, f"  {note}")
                    grid.finished(outcome.run_id)
    finally:
        if started_here:
            ray.shutdown()
    return outcomes


EXECUTORS: dict[str, Callable[..., list[Outcome]]] = {"local": run_local, "ray": run_ray}


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def _check_options(executor: str, options: dict[str, object]) -> dict[str, object]:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {sorted(EXECUTORS)}; got {executor!r}")
    allowed = EXECUTOR_OPTIONS[executor]
    every = frozenset().union(*EXECUTOR_OPTIONS.values())
    unknown = sorted(k for k in options if k not in allowed and not (k in every and options[k] is None))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for the {executor!r} executor; allowed: {sorted(allowed)}")
    for name in ("jobs", "threads", "cohort_size"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return {k: v for k, v in options.items() if k in allowed and v is not None}


def execute(runs: Iterable[RunConfig], store: RunStore, *, executor: str = "local", force: bool = False,
            catalogue: Iterable[RunConfig] = (), **options: object) -> list[Outcome]:
    """Bring every run of ``runs`` to a finished record in ``store``, in any order given.

    Args:
        runs: configs, in any order.
        store: results, weights, checkpoints and locks.
        executor: ``local`` or ``ray``.
        force: retrain the runs of ``runs`` even when they are done (their dependencies are trained
            only when they are not usable).
        catalogue: further configs that dependencies may be looked up in (e.g. a whole profile's).
        options: the executor's options (:data:`EXECUTOR_OPTIONS`): ``jobs``, ``device``,
            ``threads``, ``progress``, ``log``, ``cohort_size`` (at most this many runs share a
            teacher pass; 1: no cohorts), ``compile`` (``torch.compile``, for GPUs); for Ray also
            ``address`` and ``gpus_per_run``.

    Returns:
        One :class:`~stingylib.engine.locked.Outcome` per run: the skipped ones first, then the others in
        finishing order.

    Raises:
        ValueError: an unknown executor or option, a bad ``jobs``/``threads``, a dependency that is
            neither finished nor known, or a data root that cannot be written (before any training).
    """
    options = _check_options(executor, options)
    tasks, skipped = plan_tasks(runs, store, force=force, catalogue=catalogue)
    skipped = [_tidy(store, outcome, options.get("log", print)) for outcome in skipped]
    if not tasks:
        return skipped
    store.check_writable()
    return skipped + EXECUTORS[executor](tasks, store, **options)


def _tidy(store: RunStore, outcome: Outcome, log: Callable[[str], None]) -> Outcome:
    """A skipped (finished) run's leftover checkpoint, left by a kill between its record and the
    checkpoint's removal, is removed under the run's lock (unless another process holds it)."""
    if not store.checkpoint_path(outcome.run_id).exists():
        return outcome
    try:
        with store.lock(outcome.run_id, wait=False):
            note = store.discard_leftover_checkpoint(outcome.run_id)
    except RunBusy:  # another process (re)trains it: its checkpoint is its own
        return outcome
    if note is None:
        return outcome
    log(f"  {note}")
    return dataclasses.replace(outcome, notes=outcome.notes + (note,))
