"""CPU fast path of each model: memory format (contiguous / channels_last) × precision (fp32 / bf16).

Usage:
    python benchmarks/bench_fastpath.py [--models resnet18 ...] [--rounds 5] [--seconds 0.3] [--threads 1]
    python benchmarks/bench_fastpath.py --check    # the committed JSON still gives stingylib's table

For every model of the cpu profile (its teachers, its students and DAFL's ResNet-34 teacher; at the
profile's widths, Fashion-MNIST 28×28×1, 10 classes) it times, in four modes — fp32/contiguous,
fp32/channels_last, bf16/contiguous, bf16/channels_last (bf16: ``stingylib.fastpath.precision_context``;
channels_last: the model ``.to(memory_format=torch.channels_last)`` and the input
``.contiguous(memory_format=torch.channels_last)``) —

- a training step at batch 128: forward, cross-entropy, backward, SGD step, model in train mode;
- an inference forward at batch 128 (a frozen teacher's forward during KD) and at batch 2000 (the
  evaluation batch): eval mode, under ``torch.inference_mode()``.

Each mode is warmed up first; the steps per round k of a role and batch are set so that each mode
runs about ``--seconds`` per round. Then ``--rounds`` rounds: in each, the four modes of every role
and batch of the model take turns step by step, k times (the order of the modes rotates from round
to round), so that a slow spell of a busy machine hits every mode alike; a round's time of a mode is
its mean over its k steps. The result is the median over rounds of each mode's seconds per step and
its speed-up over fp32/contiguous (``ratio`` = t(fp32/contiguous) / t(mode), > 1 is faster).

Writes ``benchmarks/results/fast_path.json`` (machine facts, settings, per model / role / batch /
mode the median seconds per step, the per-round seconds and the ratio; the decisions) and
``fast_path.md`` (the ratios and the decisions, as tables), and prints the tables. The decisions are
``stingylib.fastpath.decide(json)``; the table ``stingylib.fastpath.CPU_FAST_PATH`` is their copy: the
script prints the literal to paste when they differ, and ``--check`` fails (exit 1) when the committed
JSON no longer gives ``CPU_FAST_PATH``. About 3-5 minutes with the defaults on one core.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from stingylib.fastpath import CPU_FAST_PATH, MODES, FastPath, bf16_native, decide, precision_context
from stingylib.models import build_model, count_parameters
from stingylib.profiles import CPU

RESULTS = Path(__file__).resolve().parent / "results"
SHAPE = (1, 28, 28)  # Fashion-MNIST (C, H, W)
NUM_CLASSES = 10
TRAIN_BATCH = 128
INFER_BATCHES = (128, 2000)
DEFAULT_MODELS = tuple(dict.fromkeys((*CPU.teachers, *CPU.students, "resnet34")))  # DAFL's generator: not a classifier
DEVICE = torch.device("cpu")


def cpu_model_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _split(mode: str) -> tuple[str, bool]:
    precision, fmt = mode.split("/")
    return precision, fmt == "channels_last"


def train_step(model: torch.nn.Module, precision: str, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One SGD training step of ``model`` on (x, y) under ``precision``: a closure."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step() -> None:
        with precision_context(DEVICE, precision):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def infer_step(model: torch.nn.Module, precision: str, x: torch.Tensor) -> Callable[[], None]:
    """One eval-mode forward of ``model`` on x under ``precision`` and ``torch.inference_mode()``."""
    model.eval()

    def step() -> None:
        with torch.inference_mode(), precision_context(DEVICE, precision):
            model(x)

    return step


def seconds_per_step(step: Callable[[], None], k: int) -> float:
    start = time.perf_counter()
    for _ in range(k):
        step()
    return (time.perf_counter() - start) / k


def measure_model(name: str, rounds: int, target: float, warmup: int) -> dict[str, Any]:
    """Median seconds per step of every (role, batch, mode) of ``name``; see the module docstring."""
    width = CPU.width(name)
    torch.manual_seed(0)
    base = build_model(name, NUM_CLASSES, in_channels=SHAPE[0], width=width)

    def variant(channels_last: bool) -> torch.nn.Module:
        m = copy.deepcopy(base)
        return m.to(memory_format=torch.channels_last) if channels_last else m

    def inputs(batch: int, channels_last: bool) -> torch.Tensor:
        x = torch.randn(batch, *SHAPE, generator=torch.Generator().manual_seed(batch))  # (B, C, H, W)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    y = torch.randint(0, NUM_CLASSES, (TRAIN_BATCH,), generator=torch.Generator().manual_seed(1))  # (B,)
    eval_models = {cl: variant(cl) for cl in (False, True)}  # shared by both precisions
    configs: dict[tuple[str, int], dict[str, Callable[[], None]]] = {}
    configs[("train", TRAIN_BATCH)] = {}
    for mode in MODES:
        precision, cl = _split(mode)
        configs[("train", TRAIN_BATCH)][mode] = train_step(variant(cl), precision, inputs(TRAIN_BATCH, cl), y)
    for batch in INFER_BATCHES:
        configs[("infer", batch)] = {
            mode: infer_step(eval_models[_split(mode)[1]], _split(mode)[0], inputs(batch, _split(mode)[1]))
            for mode in MODES
        }

    # warm-up; steps per round: about `target` seconds per mode (the same count for the 4 modes of a role/batch)
    steps: dict[tuple[str, int], int] = {}
    for key, modes in configs.items():
        warm = []
        for step in modes.values():
            step()  # first call: allocations, oneDNN primitive creation
            warm.append(min(seconds_per_step(step, 1) for _ in range(max(1, warmup))))
        steps[key] = max(1, round(target / statistics.median(warm)))

    # rounds: the modes take turns step by step, in an order that rotates from round to round
    times: dict[tuple[str, int], dict[str, list[float]]] = {key: {m: [] for m in MODES} for key in configs}
    for r in range(rounds):
        order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
        for key, modes in configs.items():
            total = dict.fromkeys(MODES, 0.0)
            for _ in range(steps[key]):
                for mode in order:
                    total[mode] += seconds_per_step(modes[mode], 1)
            for mode in MODES:
                times[key][mode].append(total[mode] / steps[key])

    out: dict[str, Any] = {"width": width, "parameters": count_parameters(base), "train": {}, "infer": {}}
    for (role, batch), per_mode in times.items():
        medians = {mode: statistics.median(ts) for mode, ts in per_mode.items()}
        baseline = medians[MODES[0]]
        out[role][str(batch)] = {
            mode: {"seconds": medians[mode], "ratio": baseline / medians[mode],
                   "steps_per_round": steps[(role, batch)], "rounds": per_mode[mode]}
            for mode in MODES
        }
    return out


# --- reports ----------------------------------------------------------------------------------------


def _x(v: float) -> str:
    return f"{v:.2f}×"


def ratio_table(measurement: dict[str, Any]) -> str:
    """Markdown: per model and role/batch, the speed-up of each mode over fp32/contiguous."""
    lines = ["| model | width | role | batch | " + " | ".join(MODES) + " |", "|---|---|---|---|" + "---|" * len(MODES)]
    for name, entry in measurement["models"].items():
        for role in ("train", "infer"):
            for batch, modes in entry[role].items():
                what = "train step" if role == "train" else "inference"
                lines.append(f"| {name} | {entry['width']:g} | {what} | {batch} | "
                             + " | ".join(_x(modes[m]["ratio"]) for m in MODES) + " |")
    return "\n".join(lines)


def seconds_table(measurement: dict[str, Any]) -> str:
    """Markdown: the fp32/contiguous baseline, in milliseconds per step."""
    first = next(iter(measurement["models"].values()))
    columns = [(role, batch) for role in ("train", "infer") for batch in first[role]]
    head = [f"{'train step' if r == 'train' else 'inference'} b{b} (ms)" for r, b in columns]
    lines = ["| model | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for name, entry in measurement["models"].items():
        lines.append(f"| {name} | " + " | ".join(f"{entry[r][b][MODES[0]]['seconds'] * 1e3:.1f}" for r, b in columns)
                     + " |")
    return "\n".join(lines)


def decision_table(table: dict[str, FastPath]) -> str:
    """Markdown: the decisions of :func:`stingylib.fastpath.decide`."""
    def fmt(v: bool) -> str:
        return "channels_last" if v else "contiguous"

    lines = ["| model | bf16 train faster | bf16 infer faster | train fp32 | train bf16 | infer fp32 | infer bf16 |",
             "|---|---|---|---|---|---|---|"]
    for name, fp in table.items():
        lines.append(f"| {name} | {'yes' if fp.bf16_faster else 'no'} | {'yes' if fp.bf16_infer_faster else 'no'} | "
                     f"{fmt(fp.channels_last_train_fp32)} | {fmt(fp.channels_last_train_bf16)} | "
                     f"{fmt(fp.channels_last_infer_fp32)} | {fmt(fp.channels_last_infer_bf16)} |")
    return "\n".join(lines)


def table_literal(table: dict[str, FastPath]) -> str:
    """The Python literal of ``CPU_FAST_PATH`` for ``table`` (to paste into stingylib/fastpath.py)."""
    lines = ["CPU_FAST_PATH: dict[str, FastPath] = {"]
    for name, fp in table.items():
        d = dataclasses.asdict(fp)
        indent = " " * (len(name) + 18)
        lines += [f'    "{name}": FastPath(bf16_faster={d["bf16_faster"]}, bf16_infer_faster={d["bf16_infer_faster"]},',
                  f"{indent}channels_last_train_fp32={d['channels_last_train_fp32']}, "
                  f"channels_last_train_bf16={d['channels_last_train_bf16']},",
                  f"{indent}channels_last_infer_fp32={d['channels_last_infer_fp32']}, "
                  f"channels_last_infer_bf16={d['channels_last_infer_bf16']}),"]
    lines.append("}")
    return "\n".join(lines)


def markdown(measurement: dict[str, Any], table: dict[str, FastPath]) -> str:
    m, s = measurement["machine"], measurement["settings"]
    return "\n".join([
        "# CPU fast path: memory format × precision, per model",
        "",
        f"Measured {m['date']} by `benchmarks/bench_fastpath.py` on {m['cpu']} (native bf16: "
        f"{'yes' if m['bf16_native'] else 'no'}), torch {m['torch']}, {m['threads']} thread(s); "
        f"Fashion-MNIST 28×28×1, the cpu profile's widths; medians of {s['rounds']} interleaved rounds of "
        f"~{s['seconds_per_round']} s per mode.",
        "",
        "## Speed-up over fp32/contiguous (t(fp32/contiguous) / t(mode); > 1 is faster)",
        "",
        "Training step: forward, cross-entropy, backward, SGD step (batch 128). Inference: eval-mode forward "
        "under `torch.inference_mode()`, at the training batch (a frozen teacher in KD) and the evaluation batch.",
        "",
        ratio_table(measurement),
        "",
        "Baseline (fp32/contiguous) times:",
        "",
        seconds_table(measurement),
        "",
        "## Decisions (`stingylib.fastpath.decide`, copied into `CPU_FAST_PATH`)",
        "",
        "channels_last when ≥ 5 % faster than contiguous for that precision and role; bf16 faster when its best "
        "format is ≥ 10 % faster than fp32's best. Inference is judged on seconds per image summed over batches "
        "128 and 2000.",
        "",
        decision_table(table),
        "",
    ])


def check(path: Path) -> int:
    """0 when ``decide(json at path)`` equals ``CPU_FAST_PATH``; else print the differences and 1."""
    table = decide(json.loads(path.read_text()))
    if table == CPU_FAST_PATH:
        print(f"ok: CPU_FAST_PATH == decide({path})")
        return 0
    for name in sorted(set(table) | set(CPU_FAST_PATH)):
        if table.get(name) != CPU_FAST_PATH.get(name):
            print(f"{name}: measured {table.get(name)}, table {CPU_FAST_PATH.get(name)}", file=sys.stderr)
    print("CPU_FAST_PATH differs from the measurement; the measured table is:\n" + table_literal(table),
          file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(DEFAULT_MODELS))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=0.3, help="seconds per mode per round (default 0.3)")
    parser.add_argument("--warmup", type=int, default=2, help="timed warm-up steps after the first call (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of fast_path.json/.md")
    parser.add_argument("--check", action="store_true", help="only check CPU_FAST_PATH against the committed JSON")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.out / "fast_path.json")
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be ≥ 1 and --seconds > 0")

    torch.set_num_threads(args.threads)
    measurement: dict[str, Any] = {
        "machine": {
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu_model_name(), "bf16_native": bf16_native(DEVICE), "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "settings": {
            "input": list(SHAPE), "num_classes": NUM_CLASSES, "train_batch": TRAIN_BATCH,
            "infer_batches": list(INFER_BATCHES), "rounds": args.rounds, "seconds_per_round": args.seconds,
            "warmup": args.warmup, "modes": list(MODES), "baseline": MODES[0],
        },
        "models": {},
    }
    start = time.perf_counter()
    for name in args.models:
        t0 = time.perf_counter()
        measurement["models"][name] = measure_model(name, args.rounds, args.seconds, args.warmup)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    measurement["elapsed_seconds"] = round(time.perf_counter() - start, 1)
    table = decide(measurement)
    measurement["decisions"] = {name: dataclasses.asdict(fp) for name, fp in table.items()}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fast_path.json").write_text(json.dumps(measurement, indent=1) + "\n")
    text = markdown(measurement, table)
    (args.out / "fast_path.md").write_text(text)
    print(text)
    print(f"wrote {args.out / 'fast_path.json'} and fast_path.md ({measurement['elapsed_seconds']:.0f} s)")
    if table != CPU_FAST_PATH:
        print("note: stingylib.fastpath.CPU_FAST_PATH differs from this measurement; paste:\n" + table_literal(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
