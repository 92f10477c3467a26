"""``kd``: Hinton's knowledge distillation from a frozen teacher seen through a transform.

The loss of the paper and of the Nasty Teacher's and Stingy Teacher's code, where α weights the KD
term: ``α·τ²·KL(p_τ(teacher) ‖ p_τ(student)) + (1 − α)·CE`` (:func:`stingylib.losses.kd_loss`).

The one loss for normal, nasty, stingy and reversed teachers: what differs is the teacher run and
the transform (:class:`~.teacher.TeacherMethod`). A student that attacks a stingy teacher adds, on its
own side, a map of the *shown* logits to its target (``attack``, :mod:`stingylib.attacks`) and/or
standardises its own logits in the KD term (``standardize``, logit standardisation). A student may
also bound the global norm of each step's gradient (``clip_grad_norm``): the control that asks
whether a collapsed stingy student is an optimisation failure. All three default to off, which
keeps every earlier run's identity.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from torch import Tensor

from ..attacks import ATTACKS, get_attack
from ..fields import check, one_of, positive, unit_interval
from ..losses import kd_loss
from ..runs.method import LABEL_TERM, TEACHER_TERM
from ..training import Batch, Losses
from .base import register
from .teacher import TeacherMethod


_attack = functools.lru_cache(maxsize=None)(get_attack)  # built (and its value checked) once per setting


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class KD(TeacherMethod):
    """``alpha·τ²·KL(p_τ(target) ‖ p_τ(student)) + (1 − alpha)·CE``; alpha weights the KD term.

    ``target`` is the teacher's shown logits after the student's ``attack`` (``none``: unchanged);
    with ``standardize`` the KD term sees the student's z-scored logits; with ``clip_grad_norm`` each
    step's gradient is scaled down to that global norm when it is larger.
    """

    temperature: float = dataclasses.field(metadata=check(positive))
    alpha: float = dataclasses.field(metadata=check(unit_interval))
    attack: str = dataclasses.field(default="none", metadata=check(one_of(lambda: ATTACKS)))
    attack_value: float | None = None  # the attack's parameter (δ, C or ε): see stingylib.attacks
    standardize: bool = False
    clip_grad_norm: float | None = dataclasses.field(default=None, metadata=check(positive))

    name = "kd"
    summary = "KD from a (transformed) teacher"
    terms = {"kd": TEACHER_TERM, "ce": LABEL_TERM}

    def __post_init__(self) -> None:
        super().__post_init__()
        self.target_map()  # a missing or out-of-range attack_value fails here, naming it

    def target_map(self) -> Callable[[Tensor], Tensor]:
        """The student's target logits from the teacher's shown ones (B, K) → (B, K)."""
        attack = _attack(self.attack, self.attack_value)
        return lambda shown: attack(shown, self.temperature)

    def label_parts(self) -> list[str]:
        parts = super().label_parts()
        if self.attack != "none":
            parts.append(f"{self.attack}{self.attack_value:g}")
        if self.standardize:
            parts.append("zscore")
        if self.clip_grad_norm is not None:
            parts.append(f"clip{self.clip_grad_norm:g}")
        return parts

    def control(self) -> bool:
        """Normal KD (the teacher shown as it is, no attack, no clipping) is a control."""
        return (self.transform == "normal" and self.attack == "none" and not self.standardize
                and self.clip_grad_norm is None)

    def grad_clip(self) -> float | None:
        return self.clip_grad_norm

    def describe(self) -> str:
        text = self.transform + (f" N={self.keep}" if self.keep else "") + f", τ={self.temperature:g}"
        if self.attack != "none":
            text += f", {self.attack} {self.attack_value:g}"
        text += ", z-scored student" if self.standardize else ""
        return text + (f", gradient norm ≤ {self.clip_grad_norm:g}" if self.clip_grad_norm is not None else "")

    def loss(self, batch: Batch) -> Losses:
        shown = batch.frozen["teacher"].logits
        target = shown if self.attack == "none" else self.target_map()(shown)
        return kd_loss(batch.student.logits, target, batch.y, temperature=self.temperature, alpha=self.alpha,
                       standardize_student=self.standardize)
