"""Train a profile's runs controls first: what calibrates a recipe before any treatment exists.

    python scripts/controls_first.py --profile cpu [--phase controls|nasty-teacher|all] [--jobs 2]

Phase ``controls``: every supervised run (teachers, baselines) and every normal-KD student of a
normal teacher (the runs a recipe may be calibrated on). Phase ``nasty-teacher``: the nasty teacher
of the figure's architecture alone (to check its adversarial KL before any student sees it).
Phase ``all``: everything else (nasty teachers, stingy, nasty, smooth and reversed students, DAFL).
Each phase prints the runs' accuracies on the validation split when it ends.
"""

from __future__ import annotations

import argparse

from stingylib.experiments import plan, teacher_runs
from stingylib.profiles import get_profile
from stingylib.runner import execute
from stingylib.experiments.calibration import is_control
from stingylib.runs import RunStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--phase", choices=["controls", "nasty-teacher", "all"], required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    profile = get_profile(args.profile)
    runs = plan(profile, "all")
    known = {c.run_id: c for c in runs}
    if args.phase == "controls":
        runs = [c for c in runs if is_control(c, known)]
    elif args.phase == "nasty-teacher":
        runs = [teacher_runs(profile, profile.table1, profile.figure_teacher)["nasty"]]
    store = RunStore.for_profile(profile.name)
    outcomes = execute(runs, store, jobs=args.jobs, threads=profile.threads, catalogue=plan(profile, "all"))
    for o in outcomes:
        record = store.load_record(o.run_id)
        print(f"{o.status:8s} {o.run_id}: val {record.selected_val_accuracy} test {record.selected_accuracy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
