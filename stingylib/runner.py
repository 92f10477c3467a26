"""Execute a graph of runs: finished runs are skipped, interrupted ones resume, the rest run in
dependency order.

Executors (looked up in :data:`EXECUTORS`):

- ``local`` (default): in this process, one run after another; with ``jobs > 1``, in that many
  worker processes, each run starting as soon as the runs it depends on have finished.
- ``ray``: one Ray task per run on a local Ray cluster (started here) or on an existing cluster
  (``address``), each task declaring its CPU and GPU needs; a task waits for its dependencies'
  tasks. Every node must see the same data root (a shared filesystem), since runs pass weights
  and records through it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .config import RunConfig
from .runs import RunStore


@dataclass(frozen=True)
class Outcome:
    """What happened to one run: ``trained`` or ``skipped`` (its record already existed)."""

    run_id: str
    status: str
    seconds: float
    best_accuracy: float | None = None


def _train_one(cfg_dict: dict, results: str, checkpoints: str, device: str, threads: int | None,
               progress: bool | None, *_dependencies: object) -> Outcome:
    """Train one run (in whichever process or Ray worker calls it). Extra arguments are the
    dependencies' results, only there so Ray schedules this task after them."""
    from .train import fit

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        record = fit(RunConfig.from_dict(cfg_dict), RunStore(Path(results), Path(checkpoints)), device=device,
                     progress=progress)
        return Outcome(record["run_id"], "trained", time.perf_counter() - start, record["best_accuracy"])
    finally:
        torch.set_num_threads(previous)


def _todo(runs: list[RunConfig], store: RunStore, force: bool) -> tuple[list[RunConfig], list[Outcome]]:
    todo, skipped = [], []
    for cfg in runs:
        if store.is_done(cfg.run_id) and not force:
            skipped.append(Outcome(cfg.run_id, "skipped", 0.0, store.load_record(cfg.run_id)["best_accuracy"]))
        else:
            todo.append(cfg)
    return todo, skipped


def _check_dependencies(todo: list[RunConfig], store: RunStore) -> None:
    planned = {c.run_id for c in todo}
    for cfg in todo:
        for dep in cfg.dependencies():
            if dep not in planned and not store.is_done(dep):
                raise ValueError(f"run {cfg.run_id} needs {dep}, which is neither finished nor planned")


def run_local(todo: list[RunConfig], store: RunStore, *, jobs: int = 1, device: str = "auto",
              threads: int | None = None, progress: bool | None = None, log: Callable[[str], None] = print,
              **_: object) -> list[Outcome]:
    """Run ``todo`` (dependencies first) in this process, or in ``jobs`` worker processes."""
    args = (str(store.results), str(store.checkpoints), device)
    if jobs == 1:
        outcomes = []
        for i, cfg in enumerate(todo, 1):
            log(f"[{i}/{len(todo)}] {cfg.run_id}")
            outcomes.append(_train_one(cfg.to_dict(), *args, threads, progress))
        return outcomes

    threads = threads if threads is not None else max(1, (os.cpu_count() or 1) // jobs)
    pending = list(todo)
    finished: set[str] = set()
    running: dict[cf.Future, RunConfig] = {}
    outcomes: list[Outcome] = []
    ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state in the workers
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        while pending or running:
            queued = {c.run_id for c in pending} | {c.run_id for c in running.values()}

            def ready(cfg: RunConfig) -> bool:
                return all(d in finished or (d not in queued and store.is_done(d)) for d in cfg.dependencies())

            for cfg in [c for c in pending if ready(c)][: jobs - len(running)]:
                pending.remove(cfg)
                log(f"[start] {cfg.run_id}")
                running[pool.submit(_train_one, cfg.to_dict(), *args, threads, False)] = cfg
            if not running:
                raise RuntimeError(f"no run can start: {[c.run_id for c in pending]} wait on unplanned runs")
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                cfg = running.pop(future)
                outcomes.append(future.result())  # re-raises a run's error here
                finished.add(cfg.run_id)
                log(f"[done {len(outcomes)}/{len(todo)}] {cfg.run_id} {outcomes[-1].seconds:.1f}s")
    return outcomes


def run_ray(todo: list[RunConfig], store: RunStore, *, address: str | None = None, jobs: int | None = None,
            device: str = "auto", threads: int | None = None, gpus_per_run: float | None = None,
            log: Callable[[str], None] = print, **_: object) -> list[Outcome]:
    """One Ray task per run; a task's arguments include its dependencies' task results, so Ray
    starts it only after them. ``address=None`` starts a local cluster (``jobs`` CPUs)."""
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
        task = ray.remote(_train_one).options(num_cpus=cpus, num_gpus=gpus_per_run, max_retries=0)
        refs = {}
        for cfg in todo:
            deps = [refs[d] for d in cfg.dependencies() if d in refs]
            refs[cfg.run_id] = task.remote(cfg.to_dict(), str(store.results), str(store.checkpoints), device,
                                           cpus, False, *deps)
        log(f"submitted {len(refs)} Ray tasks ({cpus} CPU, {gpus_per_run} GPU each)")
        return list(ray.get(list(refs.values())))
    finally:
        if started_here:
            ray.shutdown()


EXECUTORS: dict[str, Callable[..., list[Outcome]]] = {"local": run_local, "ray": run_ray}


def ensure_results(profile: str, target: str = "all", *, executor: str = "local", force: bool = False,
                   **options: object) -> list[Outcome]:
    """Train whatever ``target`` (``table1``, ``table2``, ``figure``, ``all``) of ``profile`` still
    misses, into the profile's store under the data root. Finished runs are not touched. Runs use
    the profile's thread count unless ``threads`` is given."""
    from .experiments import plan
    from .profiles import get_profile

    if options.get("threads") is None:
        options["threads"] = get_profile(profile).threads
    return execute(plan(profile, target), RunStore.for_profile(profile), executor=executor, force=force,
                   **options)


def execute(runs: list[RunConfig], store: RunStore, *, executor: str = "local", force: bool = False,
            **options: object) -> list[Outcome]:
    """Bring every run of ``runs`` (dependencies first) to a finished record in ``store``.

    Args:
        runs: configs in dependency order (as :func:`stingylib.experiments.plan` returns them).
        store: results and checkpoints.
        executor: ``local`` or ``ray``.
        force: retrain runs even when their record exists (an unfinished checkpoint still resumes).
        options: executor options: ``jobs``, ``device``, ``threads``, ``progress``, ``address``, ``log``.

    Returns:
        One :class:`Outcome` per run: the skipped ones first, then the trained ones in finishing order.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {sorted(EXECUTORS)}; got {executor!r}")
    jobs = options.get("jobs", 1)
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be an integer >= 1; got {jobs!r}")
    todo, skipped = _todo(runs, store, force)
    _check_dependencies(todo, store)
    if not todo:
        return skipped
    return skipped + EXECUTORS[executor](todo, store, **options)
