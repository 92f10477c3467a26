"""``nasty``: Nasty Teacher training against a frozen, normally trained adversary.

The loss of the Nasty Teacher's code (VITA-Group/Nasty-Teacher, ``train_nasty.py``): the nasty
network's own distribution is the target of the KL, and gradients flow through it (the order the
authors confirm is intended, their issue #2).
"""

from __future__ import annotations

import dataclasses

from ..fields import check, nonnegative, positive
from ..losses import nasty_loss
from ..runs.method import LABEL_TERM, TEACHER_TERM
from ..training import Batch, Losses
from .base import Method, register


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class Nasty(Method):
    """``CE(θ, y) − omega·τ²·KL(p_τ(θ) ‖ p_τ(adversary))``: accurate, but unlike the adversary."""

    adversary: str
    temperature: float = dataclasses.field(metadata=check(positive))
    omega: float = dataclasses.field(metadata=check(nonnegative))

    name = "nasty"
    summary = "Nasty Teacher training against an adversary"
    roles = ("adversary",)
    terms = {"ce": LABEL_TERM, "adversarial": TEACHER_TERM}

    def describe(self) -> str:
        return f"ω={self.omega:g}, τ_A={self.temperature:g}"

    def loss(self, batch: Batch) -> Losses:
        return nasty_loss(batch.student.logits, batch.frozen["adversary"].logits, batch.y,
                          temperature=self.temperature, omega=self.omega)
