"""Time the teacher output transforms on a (4096, 1000) CPU tensor.

A benchmark, not a test: ``python benchmarks/bench_transforms.py [--rows 4096] [--classes 1000]``.
Prints one line per transform (median over repeats, and throughput in rows/s); the kept-class
count is N = K / 10, as on CIFAR-100 and ImageNet in the paper.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stingylib import TRANSFORMS, get_transform


def time_call(fn, x: torch.Tensor, repeats: int) -> float:
    """Median wall time of ``fn(x)`` in seconds, after one warm-up call."""
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    x = torch.randn(args.rows, args.classes, generator=torch.Generator().manual_seed(0))
    n = max(1, args.classes // 10)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {tuple(x.shape)} float32, n={n}")
    print(f"{'transform':<15} {'median ms':>10} {'Mrows/s':>9}")
    for name, spec in TRANSFORMS.items():
        fn = get_transform(name, n if spec.takes_n else None)
        seconds = time_call(fn, x, args.repeats)
        print(f"{name:<15} {seconds * 1e3:>10.2f} {args.rows / seconds / 1e6:>9.3f}")


if __name__ == "__main__":
    main()
