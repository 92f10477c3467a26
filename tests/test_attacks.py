"""The attacks on a stingy teacher and the baselines that define "undistillable" (stingylib.attacks,
the ``truncated_topn`` transform, logit standardisation, the label-smoothing student, the Skeptical
Student).

Every student-side attack must read only what the stingy teacher shows: changing the teacher's hidden
logits (any values, as long as they stay outside its top-N) must not change the attack's output.
Each one's defining property is checked beside it.
"""

from __future__ import annotations

import math

import pytest
import torch

from stingylib import stingy_sparse, truncated_topn
from stingylib.attacks import ATTACKS, clip, get_attack, smooth, tail_fill
from stingylib.losses import cross_entropy_loss, kd_loss, standardize
from stingylib.methods import KD, Skeptical, Supervised
from stingylib.runs import RunConfig

B, K, N = 32, 10, 3


@pytest.fixture
def logits() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, K, generator=g, dtype=torch.float64) * 3


def reshuffle_hidden(z: torch.Tensor, n: int, seed: int = 7) -> torch.Tensor:
    """The same top-n logits in place, every other logit replaced by new values below the n-th one."""
    g = torch.Generator().manual_seed(seed)
    values, idx = z.topk(n, dim=1)
    floor = values[:, -1:]  # (B, 1): the n-th largest
    fresh = floor - 0.01 - torch.rand(z.shape, generator=g, dtype=z.dtype) * 20  # all below the floor
    return fresh.scatter(1, idx, values)


ATTACK_SETTINGS = [("none", None), ("tail_fill", 0.0), ("tail_fill", 4.0), ("clip", 100.0), ("smooth", 0.1),
                   ("smooth", 0.5)]


def test_every_registered_attack_is_tested():
    assert {name for name, _ in ATTACK_SETTINGS} == set(ATTACKS)


@pytest.mark.parametrize("name,value", ATTACK_SETTINGS)
def test_an_attack_reads_only_the_shown_logits(logits, name, value):
    other = reshuffle_hidden(logits, N)
    assert not torch.equal(other, logits)  # the hidden logits did change
    attack = get_attack(name, value)
    first = attack(stingy_sparse(logits, N), 20.0)
    second = attack(stingy_sparse(other, N), 20.0)
    assert torch.equal(first, second)


@pytest.mark.parametrize("name,value", ATTACK_SETTINGS)
def test_an_attack_keeps_the_shown_top1(logits, name, value):
    out = get_attack(name, value)(stingy_sparse(logits, N), 4.0)
    assert torch.equal(out.argmax(dim=1), logits.argmax(dim=1))


@pytest.mark.parametrize("delta", [0.0, 1.0, 8.0])
def test_tail_fill_puts_every_hidden_class_delta_below_the_lowest_shown(logits, delta):
    shown = stingy_sparse(logits, N)
    out = tail_fill(shown, delta)
    kept = torch.isfinite(shown)
    assert torch.equal(out[kept], shown[kept])  # shown logits in place
    lowest = logits.topk(N, dim=1).values[:, -1:]  # (B, 1)
    expected = (lowest - delta).expand(B, K)
    assert torch.equal(out[~kept], expected[~kept])
    p = torch.softmax(out / 20.0, dim=1)
    assert torch.all(p > 0)  # with -inf the hidden classes had exactly 0 at every temperature


def test_tail_fill_leaves_a_row_without_hidden_classes_alone(logits):
    assert torch.equal(tail_fill(logits, 2.0), logits)


def test_clip_replaces_minus_infinity_by_minus_c(logits):
    shown = stingy_sparse(logits, N)
    out = clip(shown, 1000.0)
    assert torch.isfinite(out).all()
    assert torch.all(out[torch.isinf(shown)] == -1000.0)
    # a large C is the stingy target in practice (fp32 softmax underflows to the same zeros)
    assert torch.equal(torch.softmax(clip(shown.float(), 1e4) / 20, dim=1), torch.softmax(shown.float() / 20, dim=1))


@pytest.mark.parametrize("eps", [0.1, 0.5])
@pytest.mark.parametrize("tau", [1.0, 20.0])
def test_smooth_is_the_label_smoothed_sparse_distribution_at_the_kd_temperature(logits, eps, tau):
    shown = stingy_sparse(logits, N)
    out = smooth(shown, eps, tau)
    p = torch.softmax(shown / tau, dim=1)
    expected = (1 - eps) * p + eps / K
    assert torch.allclose(torch.softmax(out / tau, dim=1), expected, atol=1e-12)
    assert torch.allclose(torch.softmax(out / tau, dim=1)[torch.isinf(shown)],
                          torch.full(((K - N) * B,), eps / K, dtype=out.dtype))


@pytest.mark.parametrize("name,value,message", [
    ("tail_fill", -1.0, "delta"), ("clip", 0.0, "c must"), ("smooth", 1.0, "epsilon"), ("smooth", None, "required"),
    ("none", 2.0, "must be None"), ("bogus", None, "attack must be one of"),
])
def test_bad_attack_settings_name_the_parameter(name, value, message):
    with pytest.raises(ValueError, match=message):
        get_attack(name, value)
    with pytest.raises(ValueError, match=message if name != "bogus" else "attack"):
        KD(teacher="t", transform="stingy_sparse", keep=2, temperature=4.0, alpha=0.9, attack=name, attack_value=value)


def test_the_attacks_keep_every_earlier_run_id():
    plain = KD(teacher="t", transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9)
    explicit = KD(teacher="t", transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9, attack="none",
                  attack_value=None, standardize=False)
    cfg = dict(model="resnet18", dataset="digits", epochs=1, lr=0.1)
    assert RunConfig(method=plain, **cfg).run_id == RunConfig(method=explicit, **cfg).run_id
    assert RunConfig(method=Supervised(), **cfg).run_id == RunConfig(method=Supervised(label_smoothing=0.0), **cfg).run_id
    attacked = KD(teacher="t", transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9, attack="tail_fill",
                  attack_value=2.0)
    assert "tail_fill2" in RunConfig(method=attacked, **cfg).run_id


def test_kd_with_an_attack_uses_the_attacked_target(logits):
    shown = stingy_sparse(logits.float(), 2)
    student = torch.randn(B, K, generator=torch.Generator().manual_seed(3))
    y = torch.zeros(B, dtype=torch.long)
    method = KD(teacher="t", transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9, attack="tail_fill",
                attack_value=1.0)
    from stingylib.training import Batch, Outputs

    got = method.loss(Batch(None, y, Outputs(student), {"teacher": Outputs(shown)}, {}))
    expected = kd_loss(student, tail_fill(shown, 1.0), y, temperature=20.0, alpha=0.9)
    assert torch.equal(got["total"], expected["total"])


# --- logit standardisation -------------------------------------------------------------------------------


def test_standardize_gives_mean_zero_std_one_and_ignores_scale_and_shift(logits):
    z = standardize(logits)
    assert torch.allclose(z.mean(dim=1), torch.zeros(B, dtype=z.dtype), atol=1e-5)
    assert torch.allclose(z.std(dim=1, unbiased=False), torch.ones(B, dtype=z.dtype), atol=1e-5)
    assert torch.allclose(standardize(50 * logits + 7), z, atol=1e-5)


def test_standardized_kd_is_bounded_whatever_the_student_logit_scale(logits):
    """The KD term of a standardised student cannot fall by inflating the logits: the mechanism the
    attack targets (the naive student's KD term keeps falling as its logit range grows)."""
    teacher = stingy_sparse(logits.float(), 2)
    y = logits.argmax(dim=1)
    student = torch.isfinite(teacher).float() - 1.0  # (B, K): 0 on the kept classes, -1 elsewhere
    plain = [kd_loss(s * student, teacher, y, temperature=20.0, alpha=0.9)["kd"].item() for s in (1, 10, 100)]
    zs = [kd_loss(s * student, teacher, y, temperature=20.0, alpha=0.9, standardize_student=True)["kd"].item()
          for s in (1, 10, 100)]
    assert plain[0] > plain[1] > plain[2]  # the naive KD term rewards a larger logit scale
    assert max(zs) - min(zs) < 1e-3  # the standardised one does not see it
    ce = kd_loss(5 * student, teacher, y, temperature=20.0, alpha=0.9, standardize_student=True)["ce"]
    assert ce.item() == pytest.approx(0.1 * torch.nn.functional.cross_entropy(5 * student, y).item(), rel=1e-6)
    assert plain[2] < min(zs)  # bounded: the standardised student cannot reach the naive one's KD value


# --- baselines ---------------------------------------------------------------------------------------------


def test_truncated_topn_publishes_the_topn_probabilities_and_spreads_the_rest(logits):
    out = truncated_topn(logits, N)
    p = torch.softmax(logits, dim=1)
    idx = logits.topk(N, dim=1).indices
    assert torch.allclose(out.exp().gather(1, idx), p.gather(1, idx))  # not renormalised
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(B, dtype=out.dtype))
    hidden = torch.ones_like(logits, dtype=torch.bool).scatter(1, idx, False)
    missing = 1 - p.gather(1, idx).sum(dim=1, keepdim=True)  # (B, 1)
    assert torch.allclose(out.exp()[hidden].view(B, K - N), (missing / (K - N)).expand(B, K - N))
    assert torch.equal(out.argmax(dim=1), logits.argmax(dim=1))


def test_truncated_topn_read_as_if_the_rest_were_zero_is_the_stingy_teacher(logits):
    published = truncated_topn(logits, N).exp()  # (B, K)
    idx = logits.topk(N, dim=1).indices
    naive = torch.full_like(logits, float("-inf")).scatter(1, idx, published.gather(1, idx).log())
    for tau in (1.0, 4.0, 20.0):
        assert torch.allclose(torch.softmax(naive / tau, dim=1), torch.softmax(stingy_sparse(logits, N) / tau, dim=1))


def test_the_label_only_teacher_is_the_stingy_teacher_with_n_one(logits):
    """Its softmax is the one-hot of the teacher's top-1 at every temperature: at τ = 1 its KD term is
    the cross-entropy on the teacher's labels."""
    shown = stingy_sparse(logits, 1)
    onehot = torch.nn.functional.one_hot(logits.argmax(dim=1), K).to(logits.dtype)
    for tau in (1.0, 20.0):
        assert torch.equal(torch.softmax(shown / tau, dim=1), onehot)
    student = torch.randn(B, K, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    kd = kd_loss(student, shown, logits.argmax(dim=1), temperature=1.0, alpha=1.0)["kd"]
    assert kd.item() == pytest.approx(torch.nn.functional.cross_entropy(student, logits.argmax(dim=1)).item(), rel=1e-6)


def test_label_smoothing_student_loss(logits):
    y = torch.arange(B) % K
    out = cross_entropy_loss(logits.float(), y, label_smoothing=0.1)["total"]
    logp = torch.log_softmax(logits.float(), dim=1)
    expected = -(0.9 * logp.gather(1, y[:, None]).squeeze(1) + 0.1 * logp.mean(dim=1)).mean()
    assert out.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        Supervised(label_smoothing=1.0)


# --- the Skeptical Student -----------------------------------------------------------------------------------


def test_skeptical_student_refuses_an_exit_the_model_does_not_have():
    method = Skeptical(teacher="t", transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9, exit="stages.9")
    with pytest.raises(ValueError, match="Skeptical.exit must name a submodule of 'resnet18'"):
        RunConfig(method=method, model="resnet18", dataset="digits", epochs=1, lr=0.1, width=0.125)


def test_skeptical_student_distils_into_the_exit_and_self_distils_after_the_delay():
    from stingylib.data import DATASETS
    from stingylib.models import build_model
    from stingylib.training import Batch, Outputs

    info = DATASETS["digits"]
    torch.manual_seed(0)
    net = build_model("resnet18", info.num_classes, in_channels=info.channels, width=0.125)
    method = Skeptical(teacher="t", transform="stingy_sparse", keep=2, temperature=20.0, alpha=0.9, exit="stages.1",
                       delay=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modules = method.extra_modules(net, info)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the probe moved no statistic
    x = torch.randn(8, info.channels, info.image_size, info.image_size)
    logits, taps = net.forward_taps(x, method.taps)
    teacher = stingy_sparse(torch.randn(8, info.num_classes), 2)
    y = torch.arange(8) % info.num_classes
    early = method.loss(Batch(x, y, Outputs(logits, taps), {"teacher": Outputs(teacher)}, modules, epoch=1))
    late = method.loss(Batch(x, y, Outputs(logits, taps), {"teacher": Outputs(teacher)}, modules, epoch=2))
    assert early["self_distill"].item() == 0.0 and late["self_distill"].item() > 0.0
    # the KD term reaches the exit head, never the final head directly
    (grad_final,) = torch.autograd.grad(early["kd"], logits, retain_graph=True, allow_unused=True)
    assert grad_final is None or torch.count_nonzero(grad_final) == 0
    head_grads = torch.autograd.grad(early["kd"], list(modules["exit_head"].parameters()))
    assert any(torch.count_nonzero(g) > 0 for g in head_grads)
    assert math.isclose(late["total"].item(), (late["kd"] + late["exit_ce"] + late["ce"] + late["self_distill"]).item(),
                        rel_tol=1e-6)
