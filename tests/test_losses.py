"""Losses pinned against hand-computed values (stingylib.losses)."""

from __future__ import annotations

import math

import pytest
import torch

from stingylib import (
    dafl_generator_loss,
    dafl_student_loss,
    kd_loss,
    nasty_loss,
    stingy_sparse,
)

TEACHER = torch.tensor([[3.0, 1.0, 2.0, 0.5], [0.0, 5.0, -1.0, 2.0]])
STUDENT = torch.tensor([[1.0, 0.0, 0.5, 0.2], [0.3, 0.1, 0.0, 1.0]])
TARGETS = torch.tensor([0, 1])


def ref_softmax(row: list[float], tau: float) -> list[float]:
    finite = [v / tau for v in row if v != float("-inf")]
    m = max(finite)
    e = [0.0 if v == float("-inf") else math.exp(v / tau - m) for v in row]
    s = sum(e)
    return [x / s for x in e]


def ref_kd(student, teacher, targets, tau, alpha) -> tuple[float, float]:
    """KD and CE terms in pure-Python float64, straight from the formula."""
    kl = ce = 0.0
    for s_row, t_row, y in zip(student.tolist(), teacher.tolist(), targets.tolist()):
        p, q = ref_softmax(t_row, tau), ref_softmax(s_row, tau)
        kl += sum(pk * (math.log(pk) - math.log(qk)) for pk, qk in zip(p, q) if pk > 0)
        ce -= math.log(ref_softmax(s_row, 1.0)[y])
    b = len(targets)
    return alpha * tau**2 * kl / b, (1 - alpha) * ce / b


# Pinned values (float32 result of this implementation, agreeing with ref_kd to 1e-6).
PINNED = {
    ("normal", 4.0, 0.9): (1.5368728638, 1.4065955877, 0.1302773356),
    ("normal", 1.0, 0.5): (1.0433310270, 0.3919443488, 0.6513866782),
    ("stingy", 4.0, 0.9): (9.9971456528, 9.8668680191, 0.1302773356),
    ("stingy", 1.0, 0.5): (1.1324532032, 0.4810665548, 0.6513866782),
}


@pytest.mark.parametrize("key", list(PINNED))
def test_kd_loss_pinned_and_hand_computed(key):
    kind, tau, alpha = key
    teacher = TEACHER if kind == "normal" else stingy_sparse(TEACHER, 2)
    out = kd_loss(STUDENT, teacher, TARGETS, temperature=tau, alpha=alpha)
    total, kd, ce = PINNED[key]
    assert out["total"].item() == pytest.approx(total, abs=1e-6)
    assert out["kd"].item() == pytest.approx(kd, abs=1e-6)
    assert out["ce"].item() == pytest.approx(ce, abs=1e-6)
    ref_kd_term, ref_ce_term = ref_kd(STUDENT, teacher, TARGETS, tau, alpha)
    assert out["kd"].item() == pytest.approx(ref_kd_term, rel=1e-5)
    assert out["ce"].item() == pytest.approx(ref_ce_term, rel=1e-5)
    assert torch.allclose(out["total"], out["kd"] + out["ce"])


def test_kd_loss_has_finite_gradients_with_neginf_targets():
    student = STUDENT.clone().requires_grad_(True)
    out = kd_loss(student, stingy_sparse(TEACHER, 1), TARGETS, temperature=20.0, alpha=0.9)
    out["total"].backward()
    assert torch.isfinite(out["total"]) and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0


def test_kd_term_scales_as_tau_squared_times_kl():
    # With the teacher and student logits scaled with τ, p_τ is fixed and KD grows exactly as τ².
    base = kd_loss(STUDENT, TEACHER, TARGETS, temperature=1.0, alpha=1.0)["kd"]
    for tau in (2.0, 4.0, 20.0):
        scaled = kd_loss(STUDENT * tau, TEACHER * tau, TARGETS, temperature=tau, alpha=1.0)["kd"]
        assert scaled.item() == pytest.approx(tau**2 * base.item(), rel=1e-5)


def test_alpha_weights_the_kd_term():
    only_kd = kd_loss(STUDENT, TEACHER, TARGETS, temperature=4.0, alpha=1.0)
    only_ce = kd_loss(STUDENT, TEACHER, TARGETS, temperature=4.0, alpha=0.0)
    assert only_kd["ce"].item() == 0.0 and only_ce["kd"].item() == 0.0
    assert only_ce["total"].item() == pytest.approx(torch.nn.functional.cross_entropy(STUDENT, TARGETS).item())


def test_kd_loss_under_bf16_inputs_is_float32():
    out = kd_loss(STUDENT.bfloat16(), TEACHER.bfloat16(), TARGETS, temperature=4.0, alpha=0.9)
    assert out["total"].dtype == torch.float32


def test_nasty_loss_value_and_gradient_reach_the_nasty_logits():
    nasty = STUDENT.clone().requires_grad_(True)
    tau, omega = 4.0, 0.04
    out = nasty_loss(nasty, TEACHER, TARGETS, temperature=tau, omega=omega)
    # adversarial = ω·τ²·KL(p_τ(nasty) ‖ p_τ(adversary)): the nasty distribution is the first argument.
    kl, _ = ref_kd(TEACHER, STUDENT, TARGETS, tau, 1.0)  # ref_kd(student=q-side, teacher=p-side)
    assert out["adversarial"].item() == pytest.approx(omega * kl, rel=1e-5)
    assert out["total"].item() == pytest.approx(out["ce"].item() - out["adversarial"].item(), rel=1e-6)
    # The adversarial term's gradient flows into the nasty logits (the KLDivLoss *target*).
    grad_adv, = torch.autograd.grad(out["adversarial"], nasty, retain_graph=True)
    assert torch.isfinite(grad_adv).all() and grad_adv.abs().sum() > 0
    # … and equals the numerical derivative of ω·τ²·KL(p_nasty ‖ p_adv).
    eps = 1e-3
    base = nasty.detach().double()
    for i, k in [(0, 0), (1, 3)]:
        plus, minus = base.clone(), base.clone()
        plus[i, k] += eps
        minus[i, k] -= eps
        fd = (ref_kd(TEACHER.double(), plus, TARGETS, tau, 1.0)[0] - ref_kd(TEACHER.double(), minus, TARGETS, tau, 1.0)[0]) / (2 * eps)
        assert grad_adv[i, k].item() == pytest.approx(omega * fd, rel=1e-3, abs=1e-6)


def test_dafl_generator_loss_is_finite_with_a_stingy_teacher():
    logits = stingy_sparse(TEACHER, 1).clone().requires_grad_(True)  # mean prob of classes 2, 3 is 0
    feats = torch.randn(2, 8, requires_grad=True)
    out = dafl_generator_loss(logits, feats, one_hot=0.05, info_entropy=5.0, activation=0.01)
    out["total"].backward()
    assert all(torch.isfinite(v) for v in out.values())
    assert torch.isfinite(logits.grad).all() and torch.isfinite(feats.grad).all()
    # Σ p̄ log10 p̄ with p̄ = (0.5, 0.5, 0, 0): −log10 2, weighted by 5.
    assert out["info_entropy"].item() == pytest.approx(-5.0 * math.log10(2.0), rel=1e-6)
    assert out["activation"].item() == pytest.approx(-0.01 * feats.abs().mean().item(), rel=1e-6)
    assert out["one_hot"].item() == pytest.approx(0.0, abs=1e-7)  # one kept class: CE(z, argmax z) = 0


def test_dafl_student_loss_is_kl_at_tau_one():
    out = dafl_student_loss(STUDENT, TEACHER)
    kd, _ = ref_kd(STUDENT, TEACHER, TARGETS, 1.0, 1.0)
    assert out["total"].item() == pytest.approx(kd, rel=1e-5)


# --- bad input -------------------------------------------------------------------------------


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="teacher_logits must have the same shape as student_logits"):
        kd_loss(STUDENT, TEACHER[:, :3], TARGETS, temperature=4.0, alpha=0.9)
    with pytest.raises(ValueError, match="targets must have one entry per row"):
        kd_loss(STUDENT, TEACHER, TARGETS[:1], temperature=4.0, alpha=0.9)
    with pytest.raises(ValueError, match="adversary_logits must have the same shape"):
        nasty_loss(STUDENT, TEACHER[:1], TARGETS, temperature=4.0, omega=0.04)
    with pytest.raises(ValueError, match="teacher_features must be 2-D"):
        dafl_generator_loss(TEACHER, torch.zeros(3, 4), one_hot=1, info_entropy=1, activation=1)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_raises(bad):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        kd_loss(STUDENT, TEACHER, TARGETS, temperature=bad, alpha=0.9)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        nasty_loss(STUDENT, TEACHER, TARGETS, temperature=bad, omega=0.04)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_alpha_raises(bad):
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        kd_loss(STUDENT, TEACHER, TARGETS, temperature=4.0, alpha=bad)


def test_bad_logits_and_targets_raise():
    with pytest.raises(ValueError, match="student_logits must be 2-D"):
        kd_loss(STUDENT[0], TEACHER, TARGETS, temperature=4.0, alpha=0.9)
    bad = TEACHER.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"teacher_logits contains NaN or \+inf"):
        kd_loss(STUDENT, bad, TARGETS, temperature=4.0, alpha=0.9)
    bad[0, 1] = float("inf")
    with pytest.raises(ValueError, match=r"student_logits contains NaN or \+inf"):
        kd_loss(bad, TEACHER, TARGETS, temperature=4.0, alpha=0.9)
    with pytest.raises(ValueError, match="targets must hold integer class indices"):
        kd_loss(STUDENT, TEACHER, TARGETS.float(), temperature=4.0, alpha=0.9)
    with pytest.raises(ValueError, match=r"targets must be class indices in \[0, 3\]"):
        kd_loss(STUDENT, TEACHER, torch.tensor([0, 4]), temperature=4.0, alpha=0.9)
    with pytest.raises(ValueError, match="omega must be a finite number >= 0"):
        nasty_loss(STUDENT, TEACHER, TARGETS, temperature=4.0, omega=-1.0)
