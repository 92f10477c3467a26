"""How long would the whole cpu grid take? Estimated from one measured epoch of each kind of run,
with the engine of an earlier commit ("before") and with this checkout's ("after"), side by side.

``python benchmarks/bench_grid.py [--before-ref a65ba5d] [--after-precision fast|profile]``

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
``committed_s`` sums the ``wall_seconds`` of the committed cpu records (trained with ``--jobs 2``).
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
    """The profile with every recipe cut to one epoch (same runs, same data)."""
    t1 = dataclasses.replace(profile.table1, epochs=1, milestones=())
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


def worker(side: str, precision: str, out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from stingylib.engine import fit
    from stingylib.experiments import plan
    from stingylib.profiles import CPU
    from stingylib.runs import RunStore
    from stingylib.training import load_data

    profile = CPU
    if side == "after" and precision == "fast":
        from stingylib.fastpath import fast_precision

        models = {m for m, _ in CPU.widths} | set(CPU.teachers) | set(CPU.students)
        profile = dataclasses.replace(CPU, precisions=tuple((m, fast_precision(m, torch.device("cpu")))
                                                            for m in sorted(models)))
    grid, short = plan(profile, "all"), plan(one_epoch(profile), "all")
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
    for unit in units:
        epochs = unit[0].epochs
        estimate[unit[0].method.name] += epochs * measured[signature(unit)]
    out.write_text(json.dumps({"side": side, "units": len(units), "kinds": len(measured),
                               "by_method": dict(estimate), "total": sum(estimate.values())}))


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def committed_seconds() -> float:
    return sum(json.loads(p.read_text())["wall_seconds"] for p in (CHECKOUT / "data/results/cpu").glob("*.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-ref", default=DEFAULT_BEFORE, help="git commit of the 'before' engine")
    parser.add_argument("--after-precision", choices=["fast", "profile"], default="fast")
    parser.add_argument("--worker", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.after_precision, args.out)
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
                     "--after-precision", args.after_precision], cwd=str(root), env=env)
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
          f"ratio={after['total'] / before['total']:.3f} committed_s={committed_seconds():.0f}")


if __name__ == "__main__":
    main()
