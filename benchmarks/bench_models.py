"""CPU training throughput of the model zoo: images/s for forward + backward + SGD step, batch 128.

Usage:
    python benchmarks/bench_models.py [--widths 0.25 0.5] [--steps 3] [--image 28x28x1|32x32x3] [--threads 1]

Defaults match the CPU profile: Fashion-MNIST 28×28×1, each model at the width the ``cpu`` profile
gives it, one torch thread (the profile runs two single-threaded jobs side by side). Each model
gets ``--warmup`` untimed steps, then ``--steps`` timed ones.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from stingylib.models import MODELS, build_model, count_parameters
from stingylib.profiles import CPU


def parse_image(text: str) -> tuple[int, int, int]:
    """'28x28x1' -> (channels, height, width) = (1, 28, 28)."""
    try:
        h, w, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--image must look like HxWxC, e.g. 28x28x1; got {text!r}") from None
    return c, h, w


def images_per_second(model: nn.Module, shape: tuple[int, int, int], batch: int, steps: int, warmup: int,
                      num_classes: int) -> float:
    """Time ``steps`` SGD steps on random data (after ``warmup`` untimed ones); return images/s."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *shape)  # (B, C, H, W)
    y = torch.randint(0, num_classes, (batch,))  # (B,)
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=None,
                        help="widths to time (default: each model's width in the cpu profile)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model and width")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image", type=parse_image, default=(1, 28, 28), help="HxWxC (default 28x28x1)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    c, h, w = args.image
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, image {h}x{w}x{c}, "
          f"batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps, K={args.num_classes}")
    print(f"{'model':<14}{'width':>7}{'params':>13}{'img/s':>10}{'s/step':>9}")
    t0 = time.perf_counter()
    for name in args.models:
        for width in args.widths or [CPU.width(name)]:
            torch.manual_seed(0)
            model = build_model(name, args.num_classes, in_channels=c, width=width)
            ips = images_per_second(model, (c, h, w), args.batch, args.steps, args.warmup, args.num_classes)
            print(f"{name:<14}{width:>7g}{count_parameters(model):>13,}{ips:>10.1f}{args.batch / ips:>9.2f}",
                  flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
