"""``kd``: Hinton's knowledge distillation from a frozen teacher seen through a transform (SPEC §3).

The one loss for normal, nasty, stingy and reversed teachers: what differs is the teacher run and
the transform (:class:`~.view.TeacherView`).
"""

from __future__ import annotations

import dataclasses

from ..fields import check, positive, unit_interval
from ..losses import kd_loss
from ..training import Batch, Losses
from .base import register
from .view import TeacherView


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class KD(TeacherView):
    """``alpha·τ²·KL(p_τ(shown teacher) ‖ p_τ(student)) + (1 − alpha)·CE``; alpha weights the KD term."""

    temperature: float = dataclasses.field(metadata=check(positive))
    alpha: float = dataclasses.field(metadata=check(unit_interval))

    name = "kd"
    summary = "KD from a (transformed) teacher"

    def loss(self, batch: Batch) -> Losses:
        return kd_loss(batch.student.logits, batch.frozen["teacher"].logits, batch.y,
                       temperature=self.temperature, alpha=self.alpha)
