"""stingylib.fastpath: the decision rule, the table against the committed measurement, the precision
context and the memory formats; and the reference KD loop of benchmarks/reference_kd.py runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from stingylib import fastpath
from stingylib.fastpath import CPU_FAST_PATH, MODES, FastPath, decide, memory_format, precision_context
from stingylib.models import build_model

ROOT = Path(__file__).resolve().parents[1]
MEASUREMENT = ROOT / "benchmarks" / "results" / "fast_path.json"


def _roles(train: dict[str, float], infer: dict[str, float]) -> dict:
    """A measurement entry from seconds per mode (one batch of 100 per role)."""
    return {"train": {"100": {m: {"seconds": s} for m, s in train.items()}},
            "infer": {"100": {m: {"seconds": s} for m, s in infer.items()}}}


def _modes(fc: float, fl: float, bc: float, bl: float) -> dict[str, float]:
    return dict(zip(MODES, (fc, fl, bc, bl)))


def test_decide_applies_both_thresholds_in_both_directions():
    assert MODES == ("fp32/contiguous", "fp32/channels_last", "bf16/contiguous", "bf16/channels_last")
    measurement = {"models": {
        # channels_last 1.06× (fp32) and 1.04× (bf16) faster; bf16's best 1.0/0.9 = 1.11× faster
        "a": _roles(train=_modes(1.06, 1.0, 0.936, 0.9), infer=_modes(1.0, 1.04, 1.0, 0.95)),
        # channels_last slower; bf16's best 1.0/0.92 = 1.087×: not 10 % faster
        "b": _roles(train=_modes(1.0, 1.2, 0.92, 1.3), infer=_modes(1.0, 1.0, 0.8, 0.9)),
    }}
    assert decide(measurement) == {
        "a": FastPath(bf16_faster=True, bf16_infer_faster=False, channels_last_train_fp32=True,
                      channels_last_train_bf16=False, channels_last_infer_fp32=False, channels_last_infer_bf16=True),
        "b": FastPath(bf16_faster=False, bf16_infer_faster=True, channels_last_train_fp32=False,
                      channels_last_train_bf16=False, channels_last_infer_fp32=False, channels_last_infer_bf16=False),
    }


def test_decide_judges_a_role_by_seconds_per_image_over_its_batches():
    # channels_last 2× faster at batch 10, 1 % slower at batch 1000: per image it wins (0.1+0.00101 vs 0.2+0.001)
    infer = {"10": {m: {"seconds": s} for m, s in _modes(2.0, 1.0, 2.0, 1.0).items()},
             "1000": {m: {"seconds": s} for m, s in _modes(1.0, 1.01, 1.0, 1.01).items()}}
    train = {"10": {m: {"seconds": 1.0} for m in MODES}}
    (fp,) = decide({"models": {"m": {"train": train, "infer": infer}}}).values()
    assert fp.channels_last_infer_fp32 and fp.channels_last_infer_bf16
    assert not (fp.channels_last_train_fp32 or fp.bf16_faster or fp.bf16_infer_faster)


def test_the_table_is_the_committed_measurement():
    measurement = json.loads(MEASUREMENT.read_text())
    assert CPU_FAST_PATH == decide(measurement)
    assert measurement["decisions"] == {k: vars(v) for k, v in CPU_FAST_PATH.items()}
    assert {"resnet18", "resnet34", "resnet50", "resnext29", "mobilenetv2", "shufflenetv2"} <= set(CPU_FAST_PATH)


def test_precision_context_autocasts_and_rejects_unknown_names():
    cpu = torch.device("cpu")
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with precision_context(cpu, "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with precision_context(cpu, "fp32"):
        assert layer(x).dtype == torch.float32
    with pytest.raises(ValueError, match=r"precision.*'fp32', 'bf16'.*'fp16'"):
        precision_context(cpu, "fp16")


def test_memory_format_of_a_model_missing_from_the_table():
    for precision in ("fp32", "bf16"):
        for role in ("train", "infer"):
            assert memory_format("my-new-net", precision, torch.device("cpu"), role) == torch.contiguous_format
            assert memory_format("my-new-net", precision, torch.device("cuda"), role) == torch.channels_last
            assert memory_format("resnet18", precision, torch.device("cuda"), role) == torch.channels_last
            assert memory_format("resnet18", precision, torch.device("mps"), role) == torch.contiguous_format
    assert fastpath.fast_precision("my-new-net", torch.device("cpu")) == "fp32"
    assert fastpath.fast_precision("resnet18", torch.device("mps")) == "fp32"
    with pytest.raises(ValueError, match="role"):
        memory_format("resnet18", "fp32", torch.device("cpu"), "eval")


def test_memory_format_and_precision_follow_the_cpu_table(monkeypatch):
    monkeypatch.setitem(fastpath.CPU_FAST_PATH, "net", FastPath(bf16_faster=True, channels_last_infer_bf16=True))
    cpu = torch.device("cpu")
    assert memory_format("net", "bf16", cpu, "infer") == torch.channels_last
    assert memory_format("net", "bf16", cpu, "train") == torch.contiguous_format
    monkeypatch.setattr(fastpath, "_cpu_has_native_bf16", lambda: True)
    assert fastpath.fast_precision("net", cpu) == "bf16"
    assert fastpath.fast_precision("net", cpu, role="infer") == "fp32"
    monkeypatch.setattr(fastpath, "_cpu_has_native_bf16", lambda: False)
    assert fastpath.fast_precision("net", cpu) == "fp32"


def test_reference_kd_epoch_runs_on_a_tiny_input():
    spec = importlib.util.spec_from_file_location("reference_kd", ROOT / "benchmarks" / "reference_kd.py")
    reference_kd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference_kd)

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    teacher = build_model("resnet18", 10, in_channels=1, width=0.0625)
    student = build_model("shufflenetv2", 10, in_channels=1, width=0.125)
    before = torch.random.get_rng_state()
    speed = reference_kd.reference_kd_epoch(teacher, student, x, y, batch_size=32)
    assert speed > 0
    assert torch.equal(torch.random.get_rng_state(), before)  # the global random state is untouched
