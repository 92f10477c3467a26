"""Run identity and validation (stingylib.runs.config, stingylib.fields)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from stingylib.experiments import plan
from stingylib.methods import DAFL, KD, Nasty, Supervised
from stingylib.runs import RunConfig

BASE = dict(model="resnet18", dataset="cifar100", epochs=200, lr=0.1, milestones=(60, 120, 160), gamma=0.2)


def kd(**changes) -> KD:
    return KD(**{**dict(teacher="t-1", transform="stingy_sparse", keep=10, temperature=20.0, alpha=0.9), **changes})


def test_id_is_readable_and_stable():
    cfg = RunConfig(method=Supervised(), **BASE)
    assert cfg.run_id.startswith("supervised-resnet18-cifar100-s0-")
    assert cfg.run_id == RunConfig(method=Supervised(), **BASE).run_id
    assert len(cfg.config_hash) == 10
    # pinned: a change of the identity rule (or of a default) must be deliberate, with a migration
    assert cfg.identity() == {"id_schema": 2, "method": "supervised", "model": "resnet18", "dataset": "cifar100",
                              "epochs": 200, "lr": 0.1, "milestones": [60, 120, 160], "gamma": 0.2}
    assert cfg.config_hash == "fe5836a23d"  # sha256 of the canonical JSON above


def test_every_non_default_value_changes_the_hash():
    cfg = RunConfig(method=Supervised(), **BASE)
    assert cfg.replace(seed=1).run_id != cfg.run_id
    assert cfg.replace(weight_decay=1e-4).run_id != cfg.run_id
    assert cfg.replace(milestones=(60, 120)).run_id != cfg.run_id
    student = RunConfig(method=kd(), **BASE)
    assert student.replace(method=kd(alpha=0.5)).run_id != student.run_id


def test_numbers_are_normalised():
    a = RunConfig(method=Supervised(), **{**BASE, "lr": 1, "width": 1})
    b = RunConfig(method=Supervised(), **{**BASE, "lr": 1.0, "width": 1.0})
    assert a == b and a.run_id == b.run_id and isinstance(a.lr, float)
    assert RunConfig(method=kd(temperature=20), **BASE).run_id == RunConfig(method=kd(temperature=20.0), **BASE).run_id
    # a value equal to its default is the default: it does not enter the identity
    assert "width" not in a.identity() and "momentum" not in a.identity()


def test_adding_a_defaulted_field_keeps_every_id():
    # A later version adds a field with a default (as `precision` was added) to the config and to a
    # method: every id of every planned run of every profile stays the same.
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class GrownConfig(RunConfig):
        loss_scale: float = 1.0

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class GrownKD(KD):
        label_smoothing: float = 0.0

    for profile in ("smoke", "cpu", "paper"):
        for cfg in plan(profile, "all"):
            method = cfg.method
            if isinstance(method, KD):
                method = GrownKD(**dataclasses.asdict(method))
            fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(RunConfig) if f.name != "method"}
            grown = GrownConfig(method=method, **fields)
            assert grown.run_id == cfg.run_id, cfg.run_id
            assert grown.replace(loss_scale=2.0).run_id != cfg.run_id  # a non-default value does count


def test_dependencies_are_part_of_the_identity():
    cfg = RunConfig(method=kd(), **BASE)
    assert cfg.dependencies() == ("t-1",)
    assert cfg.replace(method=kd(teacher="t-2")).run_id != cfg.run_id
    assert "stingy_sparse10" in cfg.label


def test_labels_tell_students_of_normal_and_nasty_teachers_apart():
    normal = RunConfig(method=Supervised(), **BASE)
    nasty = RunConfig(method=Nasty(adversary=normal.run_id, temperature=20.0, omega=0.005), **BASE)
    of_normal = RunConfig(method=kd(teacher=normal.run_id, transform="normal", keep=None), **BASE)
    of_nasty = RunConfig(method=kd(teacher=nasty.run_id, transform="normal", keep=None), **BASE)
    assert of_normal.label != of_nasty.label
    assert "supervised_resnet18" in of_normal.label and "nasty_resnet18" in of_nasty.label
    for profile in ("smoke", "cpu", "paper"):
        runs = plan(profile, "all")
        assert len({c.run_id for c in runs}) == len(runs), profile  # every run its own id
        by_label: dict[str, list[RunConfig]] = {}
        for c in runs:
            by_label.setdefault(c.label, []).append(c)
        # a label is shared only by runs that differ in what it does not show: a KD temperature or weight,
        # or a teacher's data and schedule against a student baseline's
        for label, same in by_label.items():
            unshown = {(getattr(c.method, "temperature", None), getattr(c.method, "alpha", None), c.train_per_class,
                        c.epochs, c.milestones) for c in same}
            assert len(unshown) == len(same), (profile, label)


def test_round_trip_through_dict():
    for cfg in plan("smoke", "all"):
        assert RunConfig.from_dict(cfg.to_dict()) == cfg
    cfg = RunConfig(method=Supervised(), **BASE, train_per_class=5)
    with pytest.raises(ValueError, match=r"unknown RunConfig fields \['colour'\]"):
        RunConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    # defaulted fields may be missing (a record written before the field existed)
    short = {k: v for k, v in cfg.to_dict().items() if k not in ("momentum", "augment")}
    assert RunConfig.from_dict(short) == cfg


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig(method=Supervised(), **BASE).seed = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        kd().alpha = 0.5


def test_a_parameter_the_method_does_not_take_is_refused_by_name():
    cfg = RunConfig(method=Supervised(), **BASE).to_dict()
    with pytest.raises(ValueError, match=r"method 'supervised' does not take \['teacher'\]; allowed: \['label_smoothing'\]"):
        RunConfig.from_dict({**cfg, "params": {"teacher": "x"}})
    with pytest.raises(ValueError, match=r"method 'kd' does not take \['omega'\]"):
        RunConfig.from_dict({**cfg, "method": "kd", "params": {**dataclasses.asdict(kd()), "omega": 1.0}})
    with pytest.raises(TypeError, match="omega"):
        KD(teacher="t", temperature=4.0, alpha=0.9, omega=1.0)
    with pytest.raises(TypeError, match="teacher"):
        RunConfig(method=Supervised(), teacher="x", **BASE)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"model": "vgg16"}, r"RunConfig.model must be one of \["),
        ({"dataset": "imagenet"}, r"RunConfig.dataset must be one of \["),
        ({"epochs": 0}, "RunConfig.epochs must be an integer >= 1"),
        ({"epochs": 2.5}, "RunConfig.epochs must be an integer"),
        ({"lr": math.nan}, "RunConfig.lr must be a finite number > 0; got nan"),
        ({"lr": 0}, "RunConfig.lr must be a finite number > 0"),
        ({"lr": math.inf}, "RunConfig.lr must be a finite number > 0"),
        ({"width": -0.5}, "RunConfig.width must be a finite number > 0"),
        ({"milestones": (120, 60)}, "RunConfig.milestones must be strictly increasing integers >= 1"),
        ({"momentum": 1.0}, r"RunConfig.momentum must be a number in \[0, 1\)"),
        ({"weight_decay": -1e-4}, "RunConfig.weight_decay must be a finite number >= 0"),
        ({"batch_size": 0}, "RunConfig.batch_size must be an integer >= 1"),
        ({"train_per_class": 0}, "RunConfig.train_per_class must be an integer >= 1"),
        ({"augment": "yes"}, "RunConfig.augment must be true or false"),
        ({"seed": True}, "RunConfig.seed must be an integer"),
    ],
)
def test_bad_configs_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(method=Supervised(), **{**BASE, **changes})


@pytest.mark.parametrize(
    "method,message",
    [
        (lambda: kd(temperature=0), "KD.temperature must be a finite number > 0"),
        (lambda: kd(temperature=math.nan), "KD.temperature must be a finite number > 0"),
        (lambda: kd(alpha=1.5), r"KD.alpha must be a number in \[0, 1\]"),
        (lambda: kd(alpha=-0.1), r"KD.alpha must be a number in \[0, 1\]"),
        (lambda: kd(keep=0), "KD.keep must be an integer >= 1"),
        (lambda: kd(keep=101), r"KD.keep must be in \[1, 100\]"),
        (lambda: kd(keep=None), "KD.keep must be an integer N >= 1 for transform 'stingy_sparse'"),
        (lambda: kd(transform="reversed", keep=3), "KD.keep must be None for transform 'reversed'"),
        (lambda: kd(transform="sparse"), r"KD.transform must be one of \["),
        (lambda: Nasty(adversary="a", temperature=4.0, omega=-1.0), "Nasty.omega must be a finite number >= 0"),
        (lambda: DAFL(teacher="t", latent_dim=0, iterations_per_epoch=1, generator_lr=0.1, one_hot=0.05,
                      info_entropy=5.0, activation=0.01), "DAFL.latent_dim must be an integer >= 1"),
    ],
)
def test_bad_method_parameters_raise(method, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(method=method(), **BASE)


def test_method_must_be_a_registered_method_object():
    with pytest.raises(ValueError, match="RunConfig.method must be a registered method"):
        RunConfig(method="kd", **BASE)
    with pytest.raises(ValueError, match=r"method must be one of \[.*'kd'.*\]; got 'distill'"):
        RunConfig.from_dict({**RunConfig(method=Supervised(), **BASE).to_dict(), "method": "distill"})
