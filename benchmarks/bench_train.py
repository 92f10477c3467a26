"""How fast is the engine? KD epochs on CPU with the cpu profile's data and widths, side by side.

``python benchmarks/bench_train.py [--rounds 3] [--threads 1]``

Measured in one process, interleaved, median of ``--rounds`` rounds (the machine is shared and noisy):

- ``vs_reference_r18`` / ``vs_reference_snv2``: the engine's KD training images/s (``fit``, one epoch,
  each model on its fast path: ``stingylib.fastpath``) over a reference-style loop
  (``reference_kd.py``: PIL images, torchvision transforms, a DataLoader, fp32, contiguous tensors)
  training the same student from the same teacher: ResNet-18 → ResNet-18 and ResNet-18 → ShuffleNetV2.
- ``cohort_speedup``: per-student training images/s of a 4-student cohort (four ResNet-18 students,
  normal and stingy N = 1, 2, 5, of the cpu profile's ResNeXt-29 teacher, a Table 1 cohort) over the
  first of them trained alone. The same for the figure's cohort (the ResNet-18 teacher) is printed
  beside it: on the fast path that teacher's pass costs a fifth of a student's step, so sharing it
  saves less (at most ~16 % for 4 students).
- ``overhead``: a ``fit`` epoch (training and evaluation, ResNet-18 → ShuffleNetV2) over the bare
  model compute of the same work on pre-made batches (same precision and memory formats).
- ``eval_share``: the evaluation's share of that epoch.

The last line reads
``overhead=<r> images_per_s=<n> vs_reference_r18=<r> vs_reference_snv2=<r> cohort_speedup=<c>``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from reference_kd import reference_kd_epoch
from stingylib import data as datamod
from stingylib.engine import EVAL_BATCH, fit, fit_cohort, load_network
from stingylib.fastpath import fast_precision, memory_format, precision_context
from stingylib.losses import kd_loss
from stingylib.methods import KD, Supervised
from stingylib.models import build_model, fold_batchnorm
from stingylib.profiles import CPU
from stingylib.runs import RunConfig, RunStore
from stingylib.training import build_network, load_data

CPU_DEVICE = torch.device("cpu")


def bare_epoch(cfg: RunConfig, store: RunStore, data: datamod.ImageData) -> float:
    """Seconds of pure model compute for one KD epoch plus the test pass, on pre-made batches, with
    the engine's precisions, memory formats, folded BatchNorm (frozen and evaluated networks) and
    evaluation batch."""
    teacher_cfg = store.load_record(cfg.method.teacher).config
    t_fmt = memory_format(teacher_cfg.model, teacher_cfg.precision, CPU_DEVICE, "infer")
    s_fmt = memory_format(cfg.model, cfg.precision, CPU_DEVICE, "train")
    teacher = fold_batchnorm(load_network(store, cfg.method.teacher)).to(memory_format=t_fmt)
    student = build_network(cfg, data.info).to(memory_format=s_fmt)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    batches = list(datamod.train_batches(data, batch_size=cfg.batch_size, epoch=0, seed=cfg.seed))
    tests = list(datamod.test_batches(data, batch_size=EVAL_BATCH))
    e_fmt = memory_format(cfg.model, cfg.precision, CPU_DEVICE, "infer")
    start = time.perf_counter()
    student.train()
    for x, y in batches:
        with torch.no_grad(), precision_context(CPU_DEVICE, teacher_cfg.precision):
            t = teacher(x.contiguous(memory_format=t_fmt)).float()
        with precision_context(CPU_DEVICE, cfg.precision):
            s = student(x.contiguous(memory_format=s_fmt))
        loss = kd_loss(s.float(), t, y, temperature=cfg.method.temperature, alpha=cfg.method.alpha)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    evaluated = fold_batchnorm(student).to(memory_format=e_fmt)
    with torch.inference_mode(), precision_context(CPU_DEVICE, cfg.precision):
        for x, _ in tests:
            evaluated(x.contiguous(memory_format=e_fmt)).argmax(1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-per-class", type=int, default=CPU.table1.train_per_class)
    parser.add_argument("--test-per-class", type=int, default=CPU.table1.test_per_class)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    common = dict(dataset="fashion-mnist", train_per_class=args.train_per_class, test_per_class=args.test_per_class,
                  lr=0.05, batch_size=128, epochs=1)

    def config(method, model: str) -> RunConfig:
        return RunConfig(method=method, model=model, width=CPU.width(model),
                         precision=fast_precision(model, CPU_DEVICE), **common)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        teachers = RunStore(root / "teachers", root / "ckpt")
        teacher = config(Supervised(), "resnet18")
        big_teacher = config(Supervised(), "resnext29")
        for t in (teacher, big_teacher):
            fit(t, teachers, device="cpu", progress=False)
        data = load_data(teacher)

        def kd(student: str, transform: str = "normal", keep: int | None = None, of: RunConfig = teacher) -> RunConfig:
            method = KD(teacher=of.run_id, transform=transform, keep=keep, temperature=4.0, alpha=0.9)
            return config(method, student)

        def fresh_store(name: str) -> RunStore:
            store = RunStore(root / name, root / "ckpt")  # the teacher's weights are there
            store.results.mkdir(parents=True, exist_ok=True)
            for f in teachers.results.iterdir():
                (store.results / f.name).write_bytes(f.read_bytes())
            return store

        def engine_rate(cfg: RunConfig, name: str) -> tuple[float, dict]:
            h = fit(cfg, fresh_store(name), device="cpu", progress=False, data=data).history[0]
            return h.images_per_s, h

        def reference_rate(student_model: str) -> float:
            t = load_network(teachers, teacher.run_id)
            torch.manual_seed(0)
            s = build_model(student_model, 10, in_channels=1, width=CPU.width(student_model))
            return reference_kd_epoch(t, s, data.train_x, data.train_y, temperature=4.0, alpha=0.9, lr=0.05)

        def students(of: RunConfig) -> list[RunConfig]:  # the figure's: normal and stingy N = 1, 2, 5
            return [kd("resnet18", of=of)] + [kd("resnet18", "stingy_sparse", n, of) for n in (1, 2, 5)]

        cohorts = {"r18": students(teacher), "rx29": students(big_teacher)}
        rates: dict[str, list[float]] = {k: [] for k in ("r18", "ref_r18", "snv2", "ref_snv2", "solo_r18",
                                                         "cohort_r18", "solo_rx29", "cohort_rx29")}
        overheads, eval_shares = [], []
        for r in range(args.rounds):
            rate, _ = engine_rate(kd("resnet18"), f"r18-{r}")
            rates["r18"].append(rate)
            rates["ref_r18"].append(reference_rate("resnet18"))
            snv2 = kd("shufflenetv2")
            store = fresh_store(f"snv2-{r}")
            h = fit(snv2, store, device="cpu", progress=False, data=data).history[0]
            rates["snv2"].append(h.images_per_s)
            rates["ref_snv2"].append(reference_rate("shufflenetv2"))
            train_s = data.train_x.shape[0] / h.images_per_s
            eval_shares.append(1 - train_s / h.seconds)
            overheads.append(h.seconds / bare_epoch(snv2, store, data))
            for name, cohort in cohorts.items():
                rates[f"solo_{name}"].append(engine_rate(cohort[0], f"solo-{name}-{r}")[0])
                records = fit_cohort(cohort, fresh_store(f"cohort-{name}-{r}"), device="cpu", progress=False, data=data)
                rates[f"cohort_{name}"].append(statistics.mean(rec.history[0].images_per_s for rec in records))
            print(f"round {r + 1}: " + " ".join(f"{k}={v[-1]:.0f}" for k, v in rates.items()), flush=True)

    med = {k: statistics.median(v) for k, v in rates.items()}
    precisions = {m: fast_precision(m, CPU_DEVICE) for m in ("resnet18", "shufflenetv2", "resnext29")}
    print(f"torch {torch.__version__}, {args.threads} thread(s), fashion-mnist {data.train_x.shape[0]} train / "
          f"{data.test_x.shape[0]} test images, precisions {precisions}; medians of {args.rounds} rounds (images/s):")
    for k, v in med.items():
        print(f"  {k:9s} {v:8.0f}   rounds: " + " ".join(f"{x:.0f}" for x in rates[k]))
    print(f"evaluation share of a ResNet-18 -> ShuffleNetV2 epoch: eval_share={statistics.median(eval_shares):.3f}")
    print(f"4-student cohorts, per-student speed-up over solo: ResNet-18 teacher (the figure's) "
          f"{med['cohort_r18'] / med['solo_r18']:.3f}, ResNeXt-29 teacher (cohort_speedup) "
          f"{med['cohort_rx29'] / med['solo_rx29']:.3f}")
    print(f"overhead={statistics.median(overheads):.3f} images_per_s={med['snv2']:.0f} "
          f"vs_reference_r18={med['r18'] / med['ref_r18']:.3f} vs_reference_snv2={med['snv2'] / med['ref_snv2']:.3f} "
          f"cohort_speedup={med['cohort_rx29'] / med['solo_rx29']:.3f}")


if __name__ == "__main__":
    main()
