"""Losses as pure functions of tensors and scalars.

Each is the loss of the code it names: KD as in the Stingy Teacher and Nasty Teacher code (α weights
the KD term), the Nasty Teacher's adversarial loss (VITA-Group/Nasty-Teacher, ``train_nasty.py``),
and DAFL's generator and student losses (huawei-noah/Data-Efficient-Model-Compression,
``DAFL/DAFL-train.py``).

Every loss returns a dict of named scalar tensors; the key ``total`` is what is back-propagated and
the other keys are its (already weighted) terms, for logging. Logits are cast to float32 first so
the losses are the same under bf16 autocast.

KL is always ``KLDivLoss(reduction="batchmean")``: summed over classes, averaged over the batch.
A target probability of exactly 0 (a stingy teacher's masked class) contributes exactly 0 and gives
finite gradients (PyTorch computes ``target * (log target - input)`` with ``xlogy``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import (
    check_logit_pair,
    check_logits,
    check_nonnegative,
    check_positive,
    check_targets,
    check_unit_interval,
)

Losses = dict[str, Tensor]


def kl_batchmean(target_logits: Tensor, input_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """KL(p_τ(target) ‖ p_τ(input)), summed over classes and averaged over the batch.

    ``target_logits`` may hold ``-inf`` (probability exactly 0); ``input_logits`` must be finite.
    Gradients flow into both arguments.
    """
    log_q = F.log_softmax(input_logits.float() / temperature, dim=1)  # (B, K)
    p = F.softmax(target_logits.float() / temperature, dim=1)  # (B, K), exact zeros where -inf
    return F.kl_div(log_q, p, reduction="batchmean")


def standardize(logits: Tensor, eps: float = 1e-7) -> Tensor:
    """Z-score each row: ``(z − mean(z)) / std(z)`` over the classes (population std), in float32.

    The logit standardisation of Sun et al. (CVPR 2024) applied to a student: its result has mean 0
    and std 1 per row, so it bounds the logit scale the KD term can see. (B, K) → (B, K).
    """
    z = logits.float()
    mean = z.mean(dim=1, keepdim=True)  # (B, 1)
    std = z.std(dim=1, keepdim=True, unbiased=False)  # (B, 1)
    return (z - mean) / (std + eps)


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    *,
    temperature: float,
    alpha: float,
    standardize_student: bool = False,
) -> Losses:
    """Hinton's KD loss: ``alpha·τ²·KL(p_τ(teacher) ‖ p_τ(student)) + (1 − alpha)·CE(student, y)``.

    The one loss for normal, nasty, stingy and reversed teachers: ``teacher_logits`` are whatever the
    (transformed) teacher shows, ``-inf`` allowed. ``alpha`` weights the KD term, as in the paper's code.

    Args:
        student_logits: (B, K) student logits (with gradient).
        teacher_logits: (B, K) teacher logits (no gradient needed).
        targets: (B,) hard labels.
        temperature: τ > 0.
        alpha: weight of the KD term in [0, 1].
        standardize_student: the KD term sees the student's z-scored logits (:func:`standardize`);
            the CE term always sees the raw ones.

    Returns:
        ``total``, ``kd`` (= alpha·τ²·KL) and ``ce`` (= (1 − alpha)·CE); ``total = kd + ce``.
    """
    check_logit_pair(("student_logits", student_logits), ("teacher_logits", teacher_logits), targets)
    tau = check_positive(temperature, "temperature")
    alpha = check_unit_interval(alpha, "alpha")

    seen = standardize(student_logits) if standardize_student else student_logits
    kd = alpha * tau**2 * kl_batchmean(teacher_logits, seen, tau)
    ce = (1.0 - alpha) * F.cross_entropy(student_logits.float(), targets)
    return {"total": kd + ce, "kd": kd, "ce": ce}


def cross_entropy_loss(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Losses:
    """Plain supervised cross-entropy, in the same dict form: ``total`` and ``ce``.

    ``label_smoothing`` ε in [0, 1) trains on ``(1 − ε)·onehot(y) + ε/K`` (PyTorch's definition).
    """
    check_logits(logits)
    check_targets(targets, logits)
    if isinstance(label_smoothing, bool) or not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be a number in [0, 1); got {label_smoothing!r}")
    ce = F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
    return {"total": ce, "ce": ce}


def nasty_loss(
    nasty_logits: Tensor,
    adversary_logits: Tensor,
    targets: Tensor,
    *,
    temperature: float,
    omega: float,
) -> Losses:
    """The Nasty Teacher's objective: ``CE(nasty, y) − omega·τ²·KL(p_τ(nasty) ‖ p_τ(adversary))``.

    The nasty network's own distribution is the first argument of the KL (the ``KLDivLoss`` target)
    and gradients flow through it, as in the authors' code. Minimising ``total`` keeps the nasty
    network accurate while pushing its softened output away from a normally trained adversary's.

    Args:
        nasty_logits: (B, K) logits of the network being trained (with gradient).
        adversary_logits: (B, K) logits of the frozen, normally trained adversary.
        targets: (B,) hard labels.
        temperature: τ_A > 0 (CIFAR-10: 4, CIFAR-100: 20).
        omega: weight ω ≥ 0 of the adversarial term (CIFAR-10: 0.04, CIFAR-100: 0.005).

    Returns:
        ``total``, ``ce`` and ``adversarial`` (= omega·τ²·KL, a positive number); ``total = ce − adversarial``.
    """
    check_logit_pair(("nasty_logits", nasty_logits), ("adversary_logits", adversary_logits), targets)
    tau = check_positive(temperature, "temperature")
    omega = check_nonnegative(omega, "omega")

    ce = F.cross_entropy(nasty_logits.float(), targets)
    adversarial = omega * tau**2 * kl_batchmean(nasty_logits, adversary_logits, tau)
    return {"total": ce - adversarial, "ce": ce, "adversarial": adversarial}


def dafl_generator_loss(
    teacher_logits: Tensor,
    teacher_features: Tensor,
    *,
    one_hot: float,
    info_entropy: float,
    activation: float,
) -> Losses:
    """DAFL's generator objective on a batch of generated images (Chen et al., 2019).

    ``L_G = one_hot·CE(z, argmax z) + info_entropy·Σ_k p̄_k·log10 p̄_k − activation·mean|f|``, where
    ``z`` are the teacher's (possibly transformed) logits on generated images, ``p̄`` the batch mean
    of softmax(z) and ``f`` the teacher's pooled features. The entropy term uses ``xlogy`` so a class
    with probability exactly 0 (a stingy teacher) contributes 0, with finite gradients, instead of NaN.

    Args:
        teacher_logits: (B, K) teacher logits on generated images (gradient flows to the generator).
        teacher_features: (B, D) teacher penultimate features on the same images.
        one_hot, info_entropy, activation: the three weights (CIFAR-10: 0.05, 5, 0.01; CIFAR-100: 0.5, 20, 0.1).

    Returns:
        ``total`` and the weighted terms ``one_hot``, ``info_entropy``, ``activation``.
    """
    check_logits(teacher_logits, "teacher_logits")
    if teacher_features.dim() != 2 or teacher_features.shape[0] != teacher_logits.shape[0]:
        raise ValueError(
            f"teacher_features must be 2-D (batch, features) with batch {teacher_logits.shape[0]}; "
            f"got shape {tuple(teacher_features.shape)}"
        )
    w_oh = check_nonnegative(one_hot, "one_hot")
    w_ie = check_nonnegative(info_entropy, "info_entropy")
    w_a = check_nonnegative(activation, "activation")

    logits = teacher_logits.float()
    l_oh = F.cross_entropy(logits, logits.argmax(dim=1))
    p_mean = F.softmax(logits, dim=1).mean(dim=0)  # (K,)
    # Σ p log10 p with 0·log 0 = 0. The clamp keeps the gradient finite at p = 0 (d/dp p·log p = −inf
    # there, and −inf · 0 from the softmax Jacobian would be NaN); it changes no value.
    l_ie = torch.xlogy(p_mean, p_mean.clamp_min(torch.finfo(p_mean.dtype).tiny)).sum() / math.log(10.0)
    l_a = -teacher_features.float().abs().mean()
    terms = {"one_hot": w_oh * l_oh, "info_entropy": w_ie * l_ie, "activation": w_a * l_a}
    return {"total": terms["one_hot"] + terms["info_entropy"] + terms["activation"], **terms}


def dafl_student_loss(student_logits: Tensor, teacher_logits: Tensor) -> Losses:
    """DAFL's student objective: ``KL(softmax(teacher) ‖ softmax(student))`` at τ = 1, no CE term.

    Returns ``total`` and ``kd`` (equal).
    """
    check_logit_pair(("student_logits", student_logits), ("teacher_logits", teacher_logits))
    kd = kl_batchmean(teacher_logits, student_logits, 1.0)
    return {"total": kd, "kd": kd}
