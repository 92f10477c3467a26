"""Run identity and validation (stingylib.config)."""

from __future__ import annotations

import dataclasses

import pytest

from stingylib.config import RunConfig

BASE = dict(method="supervised", model="resnet18", dataset="cifar100", epochs=200, lr=0.1,
            milestones=(60, 120, 160), gamma=0.2)


def test_id_is_readable_and_stable():
    cfg = RunConfig(**BASE)
    assert cfg.run_id.startswith("supervised-resnet18-cifar100-s0-")
    assert cfg.run_id == RunConfig(**BASE).run_id
    assert len(cfg.config_hash) == 10


def test_every_field_changes_the_hash():
    cfg = RunConfig(**BASE)
    assert cfg.replace(seed=1).run_id != cfg.run_id
    assert cfg.replace(weight_decay=1e-4).run_id != cfg.run_id
    assert cfg.replace(milestones=(60, 120)).run_id != cfg.run_id


def test_dependencies_are_part_of_the_identity():
    kd = RunConfig(**{**BASE, "method": "kd"}, teacher="t-1", transform="stingy_sparse", keep=10,
                   temperature=20.0, alpha=0.9)
    assert kd.dependencies() == ("t-1",)
    assert kd.replace(teacher="t-2").run_id != kd.run_id
    assert "stingy_sparse10" in kd.label


def test_round_trip_through_dict():
    cfg = RunConfig(**BASE, train_per_class=5)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown RunConfig fields"):
        RunConfig.from_dict({**cfg.to_dict(), "colour": "red"})


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig(**BASE).seed = 3


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"method": "distill"}, "method must be one of"),
        ({"model": "vgg16"}, "model must be one of"),
        ({"dataset": "imagenet"}, "dataset must be one of"),
        ({"method": "kd"}, "teacher is required for method 'kd'"),
        ({"method": "nasty", "adversary": "a"}, "temperature is required"),
        ({"transform": "stingy_sparse"}, "keep must be an integer"),
        ({"transform": "reversed", "keep": 3}, "keep must be None"),
        ({"transform": "sparse"}, "transform must be one of"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"milestones": (120, 60)}, "milestones must be increasing"),
    ],
)
def test_bad_configs_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**{**BASE, **changes})
