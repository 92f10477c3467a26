"""Student-side attacks on a stingy teacher: what a student may do with the logits it is shown.

A defence is judged by the best attack against it; these are this project's attacks (the logit
standardisation of Sun et al., "Logit Standardization in Knowledge Distillation", CVPR 2024, and
the Skeptical Student of Kundu et al., NeurIPS 2021, are KD options and a method:
:func:`stingylib.losses.standardize`, :class:`stingylib.methods.skeptical.Skeptical`).

A stingy teacher shows ``s``: its top-N logits in place and ``-inf`` elsewhere. An attack here is a
map of those *shown* logits only (never the hidden ones, which the attacker does not have) to the
logits the student's KD loss then uses as its target, ``softmax(target / τ)``. Each map is vectorised
over rows, keeps the shown top-1 class and needs the KD temperature ``τ`` only where it says so:

- ``none``: the shown logits unchanged (the naive student).
- ``tail_fill`` (value δ ≥ 0, logit units): every ``-inf`` becomes ``min(finite shown) − δ`` of its row.
  The hidden classes get a flat, non-zero tail; with ``-inf`` they get probability exactly 0 at every
  temperature, so raising τ alone cannot give them any.
- ``clip`` (value C > 0): every ``-inf`` becomes the finite ``-C``. With a large C the target is as
  sparse as the stingy one in practice but finite: this separates "infinite targets" (whose optimum
  is at infinity) from "missing information".
- ``smooth`` (value ε in (0, 1)): the target distribution becomes ``(1 − ε)·softmax(s/τ) + ε/K``,
  returned as the logits ``τ·log p'`` so that ``softmax(target/τ) = p'`` exactly.

Registered by name in :data:`ATTACKS`; built with :func:`get_attack`. The student-side logit
standardisation attack changes the student's logits, not the target: see
:func:`stingylib.losses.standardize`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ._checks import check_logits, check_nonnegative, check_positive

#: A target map, taking shown (B, K) logits and the KD temperature to (B, K) target logits.
TargetMap = Callable[[Tensor, float], Tensor]


def _hidden(shown: Tensor) -> Tensor:
    """Boolean (B, K) mask of the classes the teacher did not show (``-inf``)."""
    return torch.isneginf(shown)


def tail_fill(shown: Tensor, delta: float) -> Tensor:
    """Replace each row's ``-inf`` entries by the row's smallest shown logit minus ``delta``.

    Args:
        shown: (B, K) logits as a stingy teacher shows them (finite on the kept classes, ``-inf``
            elsewhere); a row with no ``-inf`` is returned unchanged.
        delta: δ ≥ 0 in logit units (δ = 0: the hidden classes tie with the last kept one).
    """
    check_logits(shown, "shown")
    delta = check_nonnegative(delta, "delta")
    hidden = _hidden(shown)  # (B, K)
    lowest = shown.masked_fill(hidden, float("inf")).amin(dim=1, keepdim=True)  # (B, 1): min over shown
    return torch.where(hidden, lowest - delta, shown)


def clip(shown: Tensor, c: float) -> Tensor:
    """Replace ``-inf`` by the finite value ``-c`` (c > 0); shown logits are kept."""
    check_logits(shown, "shown")
    c = check_positive(c, "c")
    return shown.masked_fill(_hidden(shown), -c)


def smooth(shown: Tensor, epsilon: float, temperature: float) -> Tensor:
    """Label-smooth the shown distribution at temperature τ: ``p' = (1 − ε)·softmax(s/τ) + ε/K``.

    Returns:
        (B, K) finite logits ``τ·log p'``, so that ``softmax(result / τ)`` is ``p'``.
    """
    check_logits(shown, "shown")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0.0 < epsilon < 1.0:
        raise ValueError(f"epsilon must be a number in (0, 1); got {epsilon!r}")
    tau = check_positive(temperature, "temperature")
    k = shown.shape[1]
    p = torch.softmax(shown.float() / tau, dim=1)  # (B, K), exact zeros on hidden classes
    smoothed = (1.0 - epsilon) * p + epsilon / k  # (B, K), every entry ≥ ε/K > 0
    return (tau * torch.log(smoothed)).to(shown.dtype)


@dataclass(frozen=True)
class AttackSpec:
    """A registered attack: its map ``fn(shown, value[, temperature])``, its parameter's name (None:
    takes none), whether it needs the KD temperature, and a one-line summary."""

    fn: Callable[..., Tensor]
    value_name: str | None
    needs_temperature: bool
    summary: str


def _none(shown: Tensor) -> Tensor:
    check_logits(shown, "shown")
    return shown


ATTACKS: dict[str, AttackSpec] = {
    "none": AttackSpec(_none, None, False, "the shown logits unchanged (the naive student)"),
    "tail_fill": AttackSpec(tail_fill, "delta", False, "-inf replaced by min(shown) - delta"),
    "clip": AttackSpec(clip, "c", False, "-inf replaced by -C"),
    "smooth": AttackSpec(smooth, "epsilon", True, "target (1 - eps)·softmax(s/τ) + eps/K"),
}


def get_attack(name: str, value: float | None = None) -> TargetMap:
    """The registered attack ``name`` with its parameter as a map ``(shown, temperature) → target``.

    Args:
        name: one of :data:`ATTACKS` (``none``, ``tail_fill``, ``clip``, ``smooth``).
        value: its parameter (δ, C or ε), required by every attack but ``none``, which refuses one.
    """
    if name not in ATTACKS:
        raise ValueError(f"attack must be one of {sorted(ATTACKS)}; got {name!r}")
    spec = ATTACKS[name]
    if spec.value_name is None:
        if value is not None:
            raise ValueError(f"attack_value must be None for attack {name!r}; got {value!r}")
        return lambda shown, temperature: spec.fn(shown)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"attack_value ({spec.value_name}) is required for attack {name!r}: a finite number; "
                         f"got {value!r}")
    fn = functools.partial(spec.fn, **{spec.value_name: value})
    if spec.needs_temperature:
        attack = lambda shown, temperature: fn(shown, temperature=temperature)  # noqa: E731
    else:
        attack = lambda shown, temperature: fn(shown)  # noqa: E731
    try:  # a bad value fails here, naming it, not in the middle of training
        attack(torch.tensor([[0.0, float("-inf")]]), 1.0)
    except ValueError as err:
        raise ValueError(f"attack_value of attack {name!r}: {err}") from None
    return attack
