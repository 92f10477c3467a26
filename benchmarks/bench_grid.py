"""How long would the whole cpu grid take? Estimated from one measured epoch of each kind of run,
with the engine of an earlier commit ("before") and with this checkout's ("after"), side by side.

``python benchmarks/bench_grid.py [--profile cpu] [--before-ref a65ba5d] [--after-precision fast|profile]``
``python benchmarks/bench_grid.py --estimate [--profile cpu] [--targets table1 figure]``: plan a grid before training it


- A *kind* of run is what sets the cost of its epochs: method, model, width and precision, and the
  same of each frozen network it runs (a KD student's teacher), plus DAFL's iterations. Transforms,
  temperatures and seeds do not change the cost and are ignored.
- Each side trains one epoch of one run of every kind, on the profile's data (the frozen networks
  it needs are trained for one epoch first, untimed), and reads the epoch's seconds (training plus
  evaluation) from the record. "after" groups runs into cohorts as ``run`` does and measures one
  epoch of each distinct cohort (its members' seconds summed).
- The estimate of a side is Σ over the grid's runs (or cohorts) of epochs × the measured epoch.
- "before" runs the engine of ``--before-ref`` (a ``git worktree`` of it, made in a temporary
  folder) with the profile as committed there. "after" runs this checkout with the per-model fast
  path (``--after-precision fast``: each model's precision from ``stingylib.fastpath.fast_precision``,
  as a profile that opts into it would set it) or the profile's own precision (``profile``).
- The two sides run at the same time, one process and one torch thread each (how ``run --jobs 2``
  trains), so they share the machine's conditions.

The last line reads ``before_s=<n> after_s=<n> ratio=<after/before> committed_s=<n>``, where
``committed_s`` sums the ``wall_seconds`` of the committed records of the profile (trained with ``--jobs 2``).

``--estimate`` measures this checkout alone, with the profile's own precisions, on a quiet machine
(one process): it plans a grid before it is trained. Its last line reads
``runs=<n> train_s=<n> wall_jobs2_s=<n>``: the seconds of training it needs, and that over two
processes (``run --jobs 2`` on two cores), for the runs not yet trained in the data root.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
DEFAULT_BEFORE = "a65ba5d"  # main before "The fast engine"


# ----------------------------------------------------------------------------------------------
# Worker: runs inside one side's checkout (its stingylib is the one on sys.path)
# ----------------------------------------------------------------------------------------------


def kind(cfg, lookup: dict) -> tuple:
    """What sets the cost of one epoch of ``cfg`` (see the module docstring)."""
    def net(c) -> tuple:
        return (c.model, c.width, getattr(c, "precision", "fp32"))

    frozen = tuple(net(lookup[d]) for d in cfg.dependencies())
    params = cfg.method
    extra = (getattr(params, "iterations_per_epoch", None), getattr(params, "latent_dim", None))
    return (cfg.method.name, net(cfg), frozen, cfg.batch_size, cfg.train_per_class, cfg.test_per_class, extra)


def one_epoch(profile):
    """The profile with every recipe cut to one measured epoch (same runs, same data). A recipe that
    tests only where it reports (``test_every_epoch=False``) runs two epochs and the first is measured:
    the last one also tests, which the others do not (the two test passes per run are left out)."""
    epochs = 1 if getattr(profile.table1, "test_every_epoch", True) else 2
    owner = getattr(profile.table1, "owner", None)  # the teachers' own schedule: one epoch too
    owner = None if owner is None else dataclasses.replace(owner, epochs=1, milestones=())
    t1 = dataclasses.replace(profile.table1, epochs=epochs, milestones=(), **({"owner": owner} if owner else {}))
    t2 = tuple(dataclasses.replace(d, epochs=1, milestones=(), teacher=t1) for d in profile.table2)
    return dataclasses.replace(profile, table1=t1, table2=t2)


def units_of(runs: list, side: str) -> list[list]:
    """The grid's training units in dependency order: single runs ("before"), cohorts ("after")."""
    from stingylib.runs import RunStore

    if side == "before":
        from stingylib.runner import plan_tasks
    else:
        from stingylib.runner import group_cohorts, plan_tasks
    with tempfile.TemporaryDirectory() as tmp:
        tasks, _ = plan_tasks(runs, RunStore(Path(tmp) / "r", Path(tmp) / "c"))
    if side == "before":
        return [[t.cfg] for t in tasks]
    return [[t.cfg for t in unit.tasks] for unit in group_cohorts(tasks)]


def planned(profile, targets: tuple[str, ...]) -> list:
    """The runs of ``targets`` (each once, in dependency order)."""
    from stingylib.experiments import plan

    runs = {c.run_id: c for target in targets for c in plan(profile, target)}
    return list(runs.values())


def worker(side: str, precision: str, out: Path, profile_name: str, only_missing: bool = False,
           targets: tuple[str, ...] = ("all",)) -> None:
    import torch

    torch.set_num_threads(1)
    from stingylib.engine import fit
    from stingylib.profiles import PROFILES
    from stingylib.runs import RunStore
    from stingylib.training import load_data

    profile = PROFILES[profile_name]
    if side == "after" and precision == "fast":
        from stingylib.fastpath import fast_precision

        models = {m for m, _ in profile.widths} | set(profile.teachers) | set(profile.students)
        profile = dataclasses.replace(profile, precisions=tuple((m, fast_precision(m, torch.device("cpu")))
                                                                for m in sorted(models)))
    grid, short = planned(profile, targets), planned(one_epoch(profile), targets)
    if only_missing:  # what is left to train in the profile's store
        store = RunStore.for_profile(profile_name)
        grid = [c for c in grid if not store.is_done(c.run_id)]
    lookup = {c.run_id: c for c in grid + short}

    def signature(unit: list) -> tuple:
        return tuple(sorted(repr(kind(c, lookup)) for c in unit))

    data = load_data(short[0])
    measured: dict[tuple, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "results", Path(tmp) / "checkpoints")

        def ensure(cfg) -> None:  # a frozen network the measured unit needs (untimed)
            if not store.weights_path(cfg.run_id).exists():
                for dep in cfg.dependencies():
                    ensure(lookup[dep])
                fit(cfg, store, device="cpu", progress=False, data=data)

        for unit in units_of(short, side):
            sig = signature(unit)
            if sig in measured:
                continue
            for cfg in unit:
                for dep in cfg.dependencies():
                    ensure(lookup[dep])
            if side == "after":
                from stingylib.engine import fit_cohort

                records = fit_cohort(unit, store, device="cpu", progress=False, data=data)
            else:
                records = [fit(unit[0], store, device="cpu", progress=False, data=data)]
            measured[sig] = sum(r.history[0].seconds for r in records)
            print(f"[{side}] {len(unit)} run(s) {unit[0].label}: {measured[sig]:.2f} s/epoch", flush=True)
    estimate, units = Counter(), units_of(grid, side)
    if only_missing:  # every unit of the short grid was measured; a trained run is no longer planned
        done = {c.run_id for c in planned(profile, targets)} - {c.run_id for c in grid}
        units = [[c for c in unit if c.run_id not in done] for unit in units]
        units = [u for u in units if u]
    for unit in units:
        epochs = unit[0].epochs
        estimate[unit[0].method.name] += epochs * measured[signature(unit)]
    out.write_text(json.dumps({"side": side, "units": len(units), "runs": sum(map(len, units)), "kinds": len(measured),
                               "by_method": dict(estimate), "total": sum(estimate.values())}))


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def committed_seconds(profile: str) -> float:
    return sum(json.loads(p.read_text())["wall_seconds"] for p in (CHECKOUT / "data/results" / profile).glob("*.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-ref", default=DEFAULT_BEFORE, help="git commit of the 'before' engine")
    parser.add_argument("--after-precision", choices=["fast", "profile"], default="fast")
    parser.add_argument("--profile", default="cpu", help="the profile whose grid is estimated (default: cpu)")
    parser.add_argument("--estimate", action="store_true",
                        help="this checkout alone, the profile's precisions, the runs not yet trained")
    parser.add_argument("--targets", nargs="+", default=["all"], help="the targets whose runs are estimated")
    parser.add_argument("--worker", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.after_precision, args.out, args.profile, only_missing=args.estimate,
               targets=tuple(args.targets))
        return
    if args.estimate:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "after.json"
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            subprocess.run([sys.executable, str(HERE / "bench_grid.py"), "--worker", "after", "--out", str(out),
                            "--after-precision", "profile", "--profile", args.profile, "--estimate",
                            "--targets", *args.targets],
                           cwd=str(CHECKOUT), env=env, check=True)
            result = json.loads(out.read_text())
        print("| method | training (s) |\n|---|---|")
        for method, seconds in sorted(result["by_method"].items()):
            print(f"| {method} | {seconds:.0f} |")
        print(f"runs={result['runs']} train_s={result['total']:.0f} wall_jobs2_s={result['total'] / 2:.0f}")
        return

    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "add", "--detach", str(tree), args.before_ref],
                       check=True, capture_output=True)
        try:
            procs = {}
            start = time.perf_counter()
            for side, root in (("before", tree), ("after", CHECKOUT)):
                env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
                procs[side] = subprocess.Popen(
                    [sys.executable, str(HERE / "bench_grid.py"), "--worker", side, "--out", str(Path(tmp) / f"{side}.json"),
                     "--after-precision", args.after_precision, "--profile", args.profile], cwd=str(root), env=env)
            for side, proc in procs.items():
                if proc.wait() != 0:
                    raise SystemExit(f"the {side} worker failed")
            results = {side: json.loads((Path(tmp) / f"{side}.json").read_text()) for side in procs}
        finally:
            subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "remove", "--force", str(tree)], check=False)
    before, after = results["before"], results["after"]
    print(f"measured in {time.perf_counter() - start:.0f} s; before: {before['kinds']} kinds, {before['units']} "
          f"units; after: {after['kinds']} kinds, {after['units']} units (cohorts), precision {args.after_precision}")
    print("| method | before (s) | after (s) | after / before |\n|---|---|---|---|")
    for method in sorted(before["by_method"]):
        b, a = before["by_method"][method], after["by_method"].get(method, 0.0)
        print(f"| {method} | {b:.0f} | {a:.0f} | {a / b:.2f} |")
    print(f"before_s={before['total']:.0f} after_s={after['total']:.0f} "
          f"ratio={after['total'] / before['total']:.3f} committed_s={committed_seconds(args.profile):.0f}")


if __name__ == "__main__":
    main()
