"""Per-epoch diagnostics of KD runs (stingylib.diagnostics): right numbers, and training untouched."""

from __future__ import annotations

import pytest
import torch

from stingylib import engine, stingy_sparse
from stingylib.engine import member
from stingylib.diagnostics import Diagnostics, default_keep, diagnostic_keys
from stingylib.methods import KD, Skeptical, Supervised
from stingylib.runs import RunConfig, RunStore
from stingylib.training import Frozen, FrozenNet, load_data

TINY = dict(dataset="digits", train_per_class=20, test_per_class=10, val_per_class=5, width=0.125, batch_size=50,
            lr=0.05, milestones=(1,), gamma=0.1, epochs=2, model="resnet18")
TIMINGS = ("seconds", "images_per_s")


@pytest.fixture(scope="module")
def teacher(module_store):
    cfg = RunConfig(method=Supervised(), **TINY)
    engine.fit(cfg, module_store, progress=False)
    return cfg


def _kd(teacher, **kw) -> RunConfig:
    method = KD(teacher=teacher.run_id, transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9, **kw)
    return RunConfig(method=method, **TINY)


def test_kd_records_carry_the_diagnostics_and_supervised_ones_do_not(module_store, teacher):
    record = engine.fit(_kd(teacher), module_store, progress=False)
    assert diagnostic_keys(KD) == ("diag_logit_range", "diag_kd", "diag_kd_grad_kept", "diag_kd_grad_hidden",
                                   "diag_ce", "diag_ce_grad")  # the keys every earlier record used
    for h in record.history:
        assert tuple(h.to_json()) == ("epoch", "lr", "test_accuracy", "val_accuracy", "train_total", "train_kd",
                                      "train_ce", *diagnostic_keys(KD), "images_per_s", "seconds")
    assert not any(h.diagnostics for h in module_store.load_record(teacher.run_id).history)


@pytest.mark.parametrize("kw", [{}, {"attack": "tail_fill", "attack_value": 2.0}, {"standardize": True}])
def test_diagnostics_leave_training_bit_identical(tmp_path, module_store, teacher, monkeypatch, kw):
    cfg = _kd(teacher, **kw)
    with_diag = engine.fit(cfg, module_store, progress=False)
    bare = RunStore(tmp_path / "results", tmp_path / "checkpoints")
    bare.weights_path(teacher.run_id).parent.mkdir(parents=True, exist_ok=True)
    bare.weights_path(teacher.run_id).write_bytes(module_store.weights_path(teacher.run_id).read_bytes())
    monkeypatch.setattr(member, "has_diagnostics", lambda method: False)
    without = engine.fit(cfg, bare, progress=False)
    strip = lambda rec: [{k: v for k, v in h.to_json().items()  # noqa: E731
                          if not k.startswith("diag_") and k not in TIMINGS} for h in rec.history]
    assert strip(with_diag) == strip(without)
    assert not any(h.diagnostics for h in without.history)
    assert with_diag.sample_logits == without.sample_logits
    a = torch.load(module_store.weights_path(cfg.run_id), weights_only=True)["state_dict"]
    b = torch.load(bare.weights_path(cfg.run_id), weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_diagnostics_match_the_kd_gradient_formula(module_store, teacher):
    """For KD, d(α·τ²·KL(p ‖ q_τ))/dz = α·τ·(q_τ − p) per image: the kept/hidden norms are its parts."""
    cfg = _kd(teacher)
    data = load_data(cfg.spec)
    dev = torch.device("cpu")
    network, teacher_cfg = engine.load_run(module_store, teacher.run_id)
    frozen = {"teacher": Frozen(FrozenNet(network, teacher_cfg.spec, dev), cfg.method.view("teacher"))}
    diag = Diagnostics(cfg.method, frozen, data, dev)
    torch.manual_seed(3)
    from stingylib.models import build_model

    student = build_model("resnet18", 10, in_channels=1, width=0.125)
    out = diag.measure(cfg.method, student, {"network": student}, "fp32", torch.contiguous_format, epoch=0)
    assert student.training  # modes restored
    student.eval()
    with torch.no_grad():
        z = student(diag.x)
    with torch.no_grad():
        shown = stingy_sparse(network.eval()(diag.x), 2)
    p = torch.softmax(shown / 20.0, dim=1)
    grad = 0.9 * 20.0 * (torch.softmax(z / 20.0, dim=1) - p)  # (n, K)
    kept = torch.isfinite(shown)
    assert torch.equal(kept, diag.kept)
    assert out["kd_grad_kept"] == pytest.approx(float(grad.masked_fill(~kept, 0).norm(dim=1).mean()), rel=1e-4)
    assert out["kd_grad_hidden"] == pytest.approx(float(grad.masked_fill(kept, 0).norm(dim=1).mean()), rel=1e-4)
    assert out["logit_range"] == pytest.approx(float((z.max(dim=1).values - z.min(dim=1).values).mean()), rel=1e-5)
    ce_grad = 0.1 * (torch.softmax(z, dim=1) - torch.nn.functional.one_hot(diag.y, 10))
    assert out["ce_grad"] == pytest.approx(float(ce_grad.norm(dim=1).mean()), rel=1e-4)


def test_the_split_of_a_view_without_keep_is_the_papers_cifar10_ratio():
    assert default_keep(10) == 2 and default_keep(100) == 20 and default_keep(3) == 1


def test_a_skeptical_student_trains_with_diagnostics_and_its_final_head_gets_no_kd_gradient(module_store, teacher):
    method = Skeptical(teacher=teacher.run_id, transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9,
                       exit="stages.1", delay=1)
    record = engine.fit(RunConfig(method=method, **TINY), module_store, progress=False)
    assert all(h.diagnostics["kd_grad_kept"] == 0.0 == h.diagnostics["kd_grad_hidden"] for h in record.history)
    assert record.history[0].train["self_distill"] == 0.0 < record.history[1].train["self_distill"]
    # resumable like any run: its exit head is checkpointed with the network
    assert module_store.load_record(record.run_id).final_accuracy == record.final_accuracy
