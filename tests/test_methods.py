"""Methods own their parts: the registry, and a new method added from this file alone (stingylib.methods)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stingylib.fields import check, positive, unit_interval
from stingylib.losses import kd_loss
from stingylib.methods import METHODS, KD, Method, Supervised, register
from stingylib.methods.teacher import TeacherMethod
from stingylib.models import build_model
from stingylib.runner import execute
from stingylib.runs import LABEL_TERM, TEACHER_TERM, RunConfig, RunStore

TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, width=0.125, batch_size=50, lr=0.05,
            milestones=(1,), gamma=0.1, epochs=2)


def test_the_built_in_methods_are_registered():
    assert set(METHODS) >= {"supervised", "kd", "nasty", "dafl"}
    assert METHODS["kd"].roles == ("teacher",) and METHODS["nasty"].roles == ("adversary",)
    assert METHODS["supervised"].roles == ()


# --- a new KD method, written here and registered: no library file is edited --------------------------


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class FeatureKD(TeacherMethod):
    """KD on the (shown) teacher logits plus a hint loss between the student's and the teacher's
    pooled features, through a learned linear projector: it needs intermediate features of both
    networks and an extra trainable module."""

    temperature: float = dataclasses.field(metadata=check(positive))
    alpha: float = dataclasses.field(metadata=check(unit_interval))
    beta: float = dataclasses.field(default=1.0, metadata=check(positive))  # weight of the hint term

    name = "feature_kd"
    summary = "KD plus a feature hint (test-only method)"
    taps = ("features",)
    frozen_taps = {"teacher": ("features",)}
    terms = {"kd": TEACHER_TERM, "ce": LABEL_TERM, "hint": TEACHER_TERM}  # its own term besides KD's

    def extra_modules(self, network, info):
        return {"projector": nn.Linear(network.feature_dim, _TEACHER_DIM)}  # student → teacher features

    def loss(self, batch):
        terms = kd_loss(batch.student.logits, batch.frozen["teacher"].logits, batch.y,
                        temperature=self.temperature, alpha=self.alpha)
        student = batch.modules["projector"](batch.student.taps["features"])  # (B, D_teacher)
        hint = self.beta * F.mse_loss(student, batch.frozen["teacher"].taps["features"])
        return {**terms, "hint": hint, "total": terms["total"] + hint}


_TEACHER_DIM = build_model("resnet18", 10, in_channels=1, width=0.125).feature_dim  # the teacher below


def test_a_new_method_registered_in_a_test_file_trains_end_to_end(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    teacher = RunConfig(method=Supervised(), model="resnet18", **TINY)
    student = RunConfig(method=FeatureKD(teacher=teacher.run_id, transform="stingy_sparse", keep=2,
                                         temperature=4.0, alpha=0.9, beta=0.5), model="shufflenetv2", **TINY)
    assert student.label.startswith("feature_kd-shufflenetv2-w0.125-supervised_resnet18-stingy_sparse2-")
    assert "beta" in student.identity()["params"]
    outcomes = execute([student, teacher], store, threads=1, log=lambda m: None)
    assert [o.status for o in outcomes] == ["trained", "trained"]
    record = store.load_record(student.run_id)
    assert record.config == student
    first = record.history[0]
    assert set(first.train) == {"total", "kd", "ce", "hint"} and first.train["hint"] > 0
    # the diagnostics follow the terms it declares: its own term is measured, none is read as 0
    assert set(first.diagnostics) == {"logit_range", "kd", "kd_grad_kept", "kd_grad_hidden", "ce", "ce_grad",
                                      "hint", "hint_grad_kept", "hint_grad_hidden"}
    assert first.diagnostics["hint"] > 0 and first.diagnostics["hint_grad_kept"] == 0.0  # the hint is on features
    # its parameters are validated like the built-in ones, and unknown ones are refused by name
    with pytest.raises(ValueError, match="FeatureKD.beta must be a finite number > 0"):
        FeatureKD(teacher=teacher.run_id, temperature=4.0, alpha=0.9, beta=0.0)
    with pytest.raises(ValueError, match=r"method 'feature_kd' does not take \['gamma'\]"):
        RunConfig.from_dict({**student.to_dict(), "params": {**student.to_dict()["params"], "gamma": 1}})


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class Undeclared(TeacherMethod):
    """A KD method whose loss returns a term it does not declare."""

    name = "undeclared_kd"
    terms = {"kd": TEACHER_TERM}

    def loss(self, batch):
        return kd_loss(batch.student.logits, batch.frozen["teacher"].logits, batch.y, temperature=4.0, alpha=0.9)


def test_a_loss_term_the_method_does_not_declare_is_an_error_not_a_silent_zero(tmp_path):
    store = RunStore(tmp_path / "r", tmp_path / "c")
    teacher = RunConfig(method=Supervised(), model="resnet18", **{**TINY, "epochs": 1})
    student = RunConfig(method=Undeclared(teacher=teacher.run_id), model="shufflenetv2", **{**TINY, "epochs": 1})
    with pytest.raises(ValueError, match=r"returned the terms \['ce', 'kd', 'total'\].*unknown: \['ce'\]"):
        execute([student, teacher], store, threads=1, log=lambda m: None)
    assert not store.is_done(student.run_id)  # nothing recorded


def test_the_registry_refuses_bad_methods():
    with pytest.raises(ValueError, match="a method named 'kd' is registered already"):
        @register
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class OtherKD(KD):
            name = "kd"

    with pytest.raises(ValueError, match="roles names \\['mentor'\\]"):
        @register
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Mentored(Method):
            name = "mentored"
            roles = ("mentor",)

    with pytest.raises(ValueError, match=r"terms must map term names .* got \{'total': 'labels'\}"):
        @register
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Totalled(Method):
            name = "totalled"
            terms = {"total": LABEL_TERM}

    with pytest.raises(ValueError, match="name must be a non-empty name"):
        @register
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Nameless(Method):
            pass


def test_taps_read_intermediate_outputs():
    net = build_model("resnet18", 10, in_channels=1, width=0.125).eval()
    x = torch.randn(4, 1, 8, 8)
    logits, taps = net.forward_taps(x, ("stages.1", "features"))
    assert torch.equal(logits, net(x))
    assert taps["features"].shape == (4, net.feature_dim) and taps["stages.1"].dim() == 4
    assert not net.stages[1]._forward_hooks  # hooks are removed again
    with pytest.raises(ValueError, match=r"taps \['stages.9'\] are not submodules"):
        net.forward_taps(x, ("stages.9",))
