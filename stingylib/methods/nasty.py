"""``nasty``: Nasty Teacher training against a frozen, normally trained adversary (SPEC §3)."""

from __future__ import annotations

import dataclasses

from ..fields import check, nonnegative, positive
from ..losses import nasty_loss
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

    def loss(self, batch: Batch) -> Losses:
        return nasty_loss(batch.student.logits, batch.frozen["adversary"].logits, batch.y,
                          temperature=self.temperature, omega=self.omega)
