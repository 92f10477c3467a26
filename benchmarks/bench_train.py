"""How much time does fit() spend outside the model? A KD epoch on CPU with the CPU-profile models.

``python benchmarks/bench_train.py [--train-per-class 400] [--threads 1]`` (defaults: the cpu profile's
data and widths).

1. Trains a teacher (one epoch, supervised) so that KD has a teacher to load.
2. Runs one KD epoch of ``fit()`` (stingy teacher) and reads its epoch time (train + test).
3. Replays the same work as bare model compute: the same batches, made beforehand, through the
   teacher's forward, the student's forward/backward and the SGD step, then the test forward
   passes — no transforms, checks, logging, checkpoints or data pipeline.

The last line reads ``overhead=<epoch time / bare compute> images_per_s=<fit's training images/s>``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stingylib import data as datamod
from stingylib.engine import fit, load_network
from stingylib.methods import KD, Supervised
from stingylib.profiles import CPU
from stingylib.runs import RunConfig, RunStore
from stingylib.training import build_network, load_data


def bare_epoch(cfg: RunConfig, store: RunStore, data: datamod.ImageData) -> float:
    """Seconds of pure model compute for one KD epoch plus the test pass, on pre-made batches."""
    teacher = load_network(store, cfg.method.teacher)
    student = build_network(cfg, data.info)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    batches = list(datamod.train_batches(data, batch_size=cfg.batch_size, epoch=0, seed=cfg.seed))
    tests = list(datamod.test_batches(data, batch_size=512))
    tau, alpha = cfg.method.temperature, cfg.method.alpha
    start = time.perf_counter()
    student.train()
    for x, y in batches:
        with torch.inference_mode():
            t = teacher(x)
        s = student(x)
        loss = F.kl_div(F.log_softmax(s / tau, 1), F.softmax(t.clone() / tau, 1), reduction="batchmean")
        loss = alpha * tau**2 * loss + (1 - alpha) * F.cross_entropy(s, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    student.eval()
    with torch.inference_mode():
        for x, _ in tests:
            student(x).argmax(1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--train-per-class", type=int, default=CPU.table1.train_per_class)
    parser.add_argument("--test-per-class", type=int, default=CPU.table1.test_per_class)
    parser.add_argument("--teacher", default="resnet18")
    parser.add_argument("--student", default="shufflenetv2")
    parser.add_argument("--width", type=float, default=None, help="both models' width (default: the cpu profile's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    common = dict(dataset=args.dataset, train_per_class=args.train_per_class, test_per_class=args.test_per_class,
                  lr=0.05, milestones=(), gamma=0.1, batch_size=128)
    width = {m: args.width or CPU.width(m) for m in (args.teacher, args.student)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        teacher = RunConfig(method=Supervised(), model=args.teacher, width=width[args.teacher], epochs=1, **common)
        fit(teacher, RunStore(root / "results", root / "ckpt"), device="cpu", progress=False)
        data = load_data(teacher)
        fit_times, bare_times, rates = [], [], []
        for repeat in range(args.repeats):
            store = RunStore(root / f"r{repeat}", root / "ckpt")
            method = KD(teacher=teacher.run_id, transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9)
            kd = RunConfig(method=method, model=args.student, width=width[args.student], epochs=1, **common)
            history = fit(kd, store, device="cpu", progress=False, data=data).history
            fit_times.append(history[0]["seconds"])
            rates.append(history[0]["images_per_s"])
            bare_times.append(bare_epoch(kd, store, data))
            (store.results / f"{kd.run_id}.json").unlink()

    fit_s, bare_s = min(fit_times), min(bare_times)
    n_train = data.train_x.shape[0]
    print(f"torch {torch.__version__}, {args.threads} thread(s); KD {args.teacher} -> {args.student} "
          f"widths {width[args.teacher]:g}/{width[args.student]:g} on {args.dataset} ({n_train} train / {data.test_x.shape[0]} test images)")
    print(f"fit() epoch (train + test), best of {args.repeats}: {fit_s:.3f} s   runs: "
          + " ".join(f"{t:.3f}" for t in fit_times))
    print(f"bare compute of the same batches, best of {args.repeats}: {bare_s:.3f} s   runs: "
          + " ".join(f"{t:.3f}" for t in bare_times))
    print(f"overhead={fit_s / bare_s:.3f} images_per_s={max(rates):.0f}")


if __name__ == "__main__":
    main()
