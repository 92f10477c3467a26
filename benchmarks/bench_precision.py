"""Does bf16 cost accuracy? A cpu-profile teacher trained in fp32 and in bf16, over several seeds.

``python benchmarks/bench_precision.py [--model resnet18] [--seeds 0 1 2] [--jobs 2]``

Trains the cpu profile's Table 1 teacher recipe (Fashion-MNIST subset, 10 epochs) for ``--model``
in both precisions and each seed (``--jobs`` processes, one torch thread each), then prints each
run's final and best test accuracy and training speed, the mean ± std per precision, and the gap of
the means beside its standard error (the seed-to-seed noise of that gap).

The last line reads ``fp32=<mean> bf16=<mean> gap=<bf16 - fp32> noise=<standard error of the gap>
speedup=<bf16 / fp32 training images/s>``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from stingylib.experiments import supervised_run
from stingylib.profiles import CPU
from stingylib.runner import execute
from stingylib.runs import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    runs = {(p, s): supervised_run(CPU, CPU.table1, args.model, s).replace(precision=p)
            for p in ("fp32", "bf16") for s in args.seeds}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "results", Path(tmp) / "checkpoints")
        execute(list(runs.values()), store, jobs=args.jobs, threads=1, log=lambda _line: None)
        records = {k: store.load_record(c.run_id) for k, c in runs.items()}
    print(f"{args.model} (width {CPU.width(args.model)}), the cpu profile's recipe: "
          f"{CPU.table1.epochs} epochs on Fashion-MNIST ({CPU.table1.train_per_class}/class train, "
          f"{CPU.table1.test_per_class}/class test)")
    print("| precision | seed | final (%) | best (%) | images/s |\n|---|---|---|---|---|")
    for (p, s), r in records.items():
        print(f"| {p} | {s} | {r.final_accuracy:.2f} | {r.best_accuracy:.2f} | {r.images_per_s:.0f} |")
    final = {p: [records[p, s].final_accuracy for s in args.seeds] for p in ("fp32", "bf16")}
    speed = {p: statistics.mean(records[p, s].images_per_s for s in args.seeds) for p in ("fp32", "bf16")}
    for p, values in final.items():
        print(f"{p}: final {statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} (mean ± std over seeds)")
    n = len(args.seeds)
    noise = (statistics.variance(final["fp32"]) / n + statistics.variance(final["bf16"]) / n) ** 0.5
    gap = statistics.mean(final["bf16"]) - statistics.mean(final["fp32"])
    print(f"fp32={statistics.mean(final['fp32']):.2f} bf16={statistics.mean(final['bf16']):.2f} gap={gap:+.2f} "
          f"noise={noise:.2f} speedup={speed['bf16'] / speed['fp32']:.3f}")


if __name__ == "__main__":
    main()
