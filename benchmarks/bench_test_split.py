"""What does testing only where a number is reported save? One student, trained with the test split
evaluated after every epoch and only where it reports (``TrainSpec.test_every_epoch``), side by side.

``python benchmarks/bench_test_split.py [--model shufflenetv2] [--epochs 12] [--per-class 500] [--rounds 2]``

Each round trains the cpu profile's baseline student of ``--model`` (its width, transfer set,
validation and test splits; ``--per-class`` images per class, ``--epochs`` epochs, cosine schedule) twice in this process,
one torch thread, the two orders alternating from round to round so that both see the same machine.
It prints each run's wall time, and the median over rounds of the ratio (only where reported) /
(every epoch), with the reported numbers of both (they must agree: training never reads the test split).

The last line reads ``every_s=<median> reported_s=<median> ratio=<median of reported / every>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from stingylib.engine import fit
from stingylib.experiments import supervised_run
from stingylib.profiles import CPU
from stingylib.runs import RunStore
from stingylib.training import load_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shufflenetv2")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--per-class", type=int, default=500, help="the transfer set, images per class")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)

    recipe = dataclasses.replace(CPU.table1, epochs=args.epochs, milestones=(), schedule="cosine",
                                 train_per_class=args.per_class)
    base = supervised_run(CPU, recipe, args.model, 0, student=True)
    runs = {"every": base.replace(test_every_epoch=True), "reported": base.replace(test_every_epoch=False)}
    data = load_data(base.spec)
    seconds: dict[str, list[float]] = {k: [] for k in runs}
    reported: dict[str, tuple] = {}
    for i in range(args.rounds):
        order = list(runs) if i % 2 == 0 else list(reversed(runs))
        for key in order:
            with tempfile.TemporaryDirectory() as tmp:
                store = RunStore(Path(tmp) / "results", Path(tmp) / "checkpoints")
                tick = time.perf_counter()
                record = fit(runs[key], store, device="cpu", progress=False, data=data)
                seconds[key].append(time.perf_counter() - tick)
            reported[key] = (record.selected_epoch, record.selected_accuracy, record.final_accuracy)
    print(f"{args.model}: {args.epochs} epochs, {recipe.train_per_class}/class transfer set, "
          f"{recipe.val_per_class}/class validation, test split {recipe.test_per_class or 'whole'}")
    print("| test split | wall (s) per round | (selected epoch, selected, final) |\n|---|---|---|")
    for key in runs:
        print(f"| {key} | {', '.join(f'{s:.1f}' for s in seconds[key])} | {reported[key]} |")
    assert reported["every"] == reported["reported"], "the reported numbers differ"
    ratio = statistics.median(r / e for r, e in zip(seconds["reported"], seconds["every"]))
    print(f"every_s={statistics.median(seconds['every']):.1f} reported_s={statistics.median(seconds['reported']):.1f} "
          f"ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
