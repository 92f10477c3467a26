"""``precision`` (fp32 or bf16 autocast) is part of a run's identity, and bf16 costs no accuracy:
the same teacher trained in both precisions differs by no more than seed-to-seed noise."""

from __future__ import annotations

import statistics

import pytest
import torch

from stingylib.engine import fit
from stingylib.experiments import plan
from stingylib.methods import Supervised
from stingylib.runs import RunConfig, RunStore

DIGITS = dict(dataset="digits", width=0.25, epochs=6, lr=0.02, milestones=(3, 4), batch_size=64)
SEEDS = (0, 1, 2)


def test_precision_is_part_of_the_identity_and_fp32_is_the_default():
    fp32 = RunConfig(method=Supervised(), model="resnet18", **DIGITS)
    assert fp32.precision == "fp32" and "precision" not in fp32.identity()  # old ids unchanged
    bf16 = fp32.replace(precision="bf16")
    assert bf16.run_id != fp32.run_id and RunConfig.from_dict(bf16.to_dict()) == bf16
    with pytest.raises(ValueError, match="precision.*fp16"):
        fp32.replace(precision="fp16")


def test_profiles_fix_the_precision_of_every_run():
    cpu = plan("cpu", "all")  # bf16 where this CPU trains the model faster in it (benchmarks/results/fast_path.md)
    assert {c.model: c.precision for c in cpu} == {"resnet18": "bf16", "resnet34": "bf16", "resnet50": "bf16",
                                                    "resnext29": "bf16", "shufflenetv2": "fp32", "mobilenetv2": "fp32"}
    assert {c.precision for c in plan("smoke", "all")} == {"fp32"}
    assert {c.precision for c in plan("paper", "all")} == {"bf16"}  # as the engine always ran on GPUs


def test_bf16_training_matches_fp32_within_seed_noise(tmp_path):
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    accuracy = {}
    for precision in ("fp32", "bf16"):
        runs = [RunConfig(method=Supervised(), model="resnet18", seed=s, precision=precision, **DIGITS) for s in SEEDS]
        accuracy[precision] = [fit(c, store).final_accuracy for c in runs]
    fp32, bf16 = accuracy["fp32"], accuracy["bf16"]
    # Seed-to-seed noise of the gap between the two means (its standard error), with a floor of half
    # a point; the cpu-scale comparison is benchmarks/bench_precision.py.
    noise = max((statistics.variance(fp32) / len(SEEDS) + statistics.variance(bf16) / len(SEEDS)) ** 0.5, 0.5)
    gap = statistics.mean(bf16) - statistics.mean(fp32)
    print(f"final test accuracy over seeds {SEEDS}: fp32 {fp32}, bf16 {bf16}; gap {gap:+.2f}, noise {noise:.2f}")
    assert min(fp32 + bf16) > 75  # both learn (chance: 10 %)
    assert abs(gap) <= 2 * noise, accuracy
    assert fp32 != bf16  # bf16 really ran (a different arithmetic gives different numbers)


def test_bf16_networks_give_float32_logits_to_the_losses(tmp_path):
    store = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    record = fit(RunConfig(method=Supervised(), model="resnet18", precision="bf16", **{**DIGITS, "epochs": 1}), store)
    assert all(isinstance(v, float) for row in record.sample_logits for v in row)
    assert torch.isfinite(torch.tensor(record.sample_logits)).all()
