"""Profiles: the paper profile is pinned to the authors' recipes, and each of its run kinds can take a step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from stingylib import data as datamod
from stingylib.experiments import plan
from stingylib.methods import Supervised
from stingylib.models import build_model
from stingylib.profiles import CPU, PAPER, PROFILES, SMOKE, get_profile
from stingylib.training import Frozen, FrozenNet


def test_paper_table1_recipe_is_spec_cifar100():
    r = PAPER.table1
    assert (r.dataset, r.epochs, r.lr, r.milestones, r.gamma, r.batch_size) == ("cifar100", 200, 0.1, (60, 120, 160),
                                                                               0.2, 128)
    assert (r.keep, r.temperature, r.alpha) == (10, 20.0, 0.9)  # one τ for every teacher in Table 1
    assert r.second_temperature == 4.0  # the figure's second τ, the authors' CIFAR-10 KD τ
    assert (r.nasty_temperature, r.nasty_omega) == (20.0, 0.005)
    assert r.train_per_class is None and r.test_per_class is None  # the whole dataset


def test_paper_table2_recipes_are_spec_dafl():
    c10, c100 = PAPER.table2
    assert c10.teacher.dataset == "cifar10" and c100.teacher.dataset == "cifar100"
    t = c10.teacher
    assert (t.epochs, t.lr, t.milestones, t.gamma, t.keep, t.temperature) == (160, 0.1, (80, 120), 0.1, 2, 4.0)
    assert (t.nasty_temperature, t.nasty_omega) == (4.0, 0.04)
    for d in (c10, c100):
        assert (d.epochs, d.iterations_per_epoch, d.batch_size, d.latent_dim, d.generator_lr) == (2000, 120, 1024,
                                                                                                   1000, 0.02)
        assert (d.lr, d.milestones, d.gamma, d.teacher_model, d.student_model) == (0.1, (800, 1600), 0.1,
                                                                                    "resnet34", "resnet18")
    assert (c10.one_hot, c10.info_entropy, c10.activation) == (0.05, 5.0, 0.01)
    assert (c100.one_hot, c100.info_entropy, c100.activation) == (0.5, 20.0, 0.1)


def test_paper_runs_use_full_width_sgd_and_the_paper_models():
    runs = plan("paper", "all")
    assert {c.width for c in runs} == {1.0}
    assert {(c.momentum, c.weight_decay) for c in runs} == {(0.9, 5e-4)}
    assert {c.batch_size for c in runs if c.method.name != "dafl"} == {128}
    assert {c.model for c in runs} == {"resnet18", "resnet34", "resnet50", "resnext29", "mobilenetv2", "shufflenetv2"}
    paper_grid = {c.run_id for t in ("table1", "table2", "figure") for c in plan("paper", t)}
    table1 = {c.run_id for c in plan("paper", "table1")}
    stingy = [c.method for c in runs if c.method.name == "kd" and c.method.transform == "stingy_sparse"
              and c.dataset == "cifar100" and c.run_id in paper_grid]  # (the attack grid sweeps τ and α)
    # Table 1 and the figure at τ 20; the figure's pair also at its second τ, 4
    assert {(m.temperature, m.alpha) for m in stingy} == {(20.0, 0.9), (4.0, 0.9)}
    assert {c.method.temperature for c in runs if c.run_id in table1 and c.method.name == "kd"} == {20.0}
    assert PAPER.seeds == (0,)  # the reference seed


def test_cpu_profile_keeps_the_cifar10_distillation_settings_and_selects_on_validation():
    r = CPU.table1
    assert (r.dataset, r.keep, r.alpha) == ("fashion-mnist", 2, 0.9)
    assert {r.temperature, r.stingy_temperature or r.second_temperature} == {4.0, 20.0}  # the authors' two CIFAR-10 τ
    assert (r.nasty_temperature, r.lr, r.batch_size) == (4.0, 0.1, 128)
    # selection on a validation split; reporting on the whole test split; three student seeds, one teacher
    assert r.val_per_class and r.test_per_class is None and len(CPU.seeds) >= 3 and CPU.metric == "selected_accuracy"
    # the owner trains on its whole training split, the students on a smaller transfer set
    assert r.owner.train_per_class is None and r.train_per_class is not None
    runs = plan("cpu", "all")
    teachers = {c.run_id for c in runs if c.method.name in ("supervised", "nasty") and c.train_per_class is None}
    assert {c.seed for c in runs if c.run_id in teachers} == {CPU.teacher_seed}
    assert {c.seed for c in runs if c.method.name == "kd"} == set(CPU.seeds)
    # the paper profile keeps the paper's protocol: no validation split, best epoch on the test split
    assert PAPER.table1.val_per_class is None and PAPER.metric == "best_accuracy"


def test_profiles_registry_and_errors():
    assert set(PROFILES) == {"smoke", "cpu", "paper"}
    assert get_profile("smoke") is SMOKE
    with pytest.raises(ValueError, match=r"profile must be one of \['cpu', 'paper', 'smoke'\]"):
        get_profile("gpu")


def _synthetic_cifar(num_classes: int, n: int = 8) -> datamod.ImageData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % num_classes
    return datamod.ImageData(datamod.DATASETS[f"cifar{num_classes}"], x, y, x[:4], y[:4])


def _kinds():
    """One run per (method, model, teacher view, dataset) of the paper profile."""
    seen = {}
    for cfg in plan("paper", "all"):
        seen.setdefault((cfg.method.name, cfg.model, getattr(cfg.method, "transform", None), cfg.dataset), cfg)
    return list(seen.values())


@pytest.mark.slow
@pytest.mark.parametrize("cfg", _kinds(), ids=lambda c: f"{c.method.name}-{c.model}-"
                                                         f"{getattr(c.method, 'transform', '')}-{c.dataset}")
def test_one_step_of_each_paper_run_kind_at_full_width(cfg):
    # A synthetic CIFAR-shaped batch; the paper's batch of 1024 generated images is cut to 8 for DAFL.
    num_classes = datamod.DATASETS[cfg.dataset].num_classes
    data = _synthetic_cifar(num_classes)
    if cfg.method.name == "dafl":
        cfg = cfg.replace(method=dataclasses.replace(cfg.method, iterations_per_epoch=1), batch_size=8)
    method = cfg.method
    frozen = {}
    for role in method.roles:  # fresh full-width stand-ins for the frozen runs
        arch = {"dafl": "resnet34"}.get(method.name, cfg.model if role == "adversary" else "resnet18")
        frozen_cfg = cfg.replace(method=Supervised(), model=arch)
        frozen[role] = Frozen(FrozenNet(build_model(arch, num_classes), frozen_cfg.spec, torch.device("cpu")),
                              method.view(role))
    trainer = method.make_trainer(cfg.spec, data, torch.device("cpu"), frozen)
    before = [p.detach().clone() for p in trainer.network.parameters()]

    losses, seen = trainer.train_epoch(0, lambda: None)
    assert all(torch.isfinite(v) for v in losses.values())
    assert seen == 8
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.network.parameters()))
