"""``supervised``: cross-entropy on the labels (normal teachers, adversaries and student baselines).

``label_smoothing`` ε > 0 gives the label-smoothing student with no teacher, the bar a knock-off
student must clear before a teacher counts as distillable in recent work on undistillable models
(e.g. CMIM, 2025).
"""

from __future__ import annotations

import dataclasses

from ..fields import below_one, check
from ..losses import cross_entropy_loss
from ..runs.method import LABEL_TERM
from ..training import Batch, Losses
from .base import Method, register


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class Supervised(Method):
    """Train on the labels alone, optionally label-smoothed (ε = ``label_smoothing``)."""

    label_smoothing: float = dataclasses.field(default=0.0, metadata=check(below_one))

    name = "supervised"
    summary = "cross-entropy on the labels"
    terms = {"ce": LABEL_TERM}

    def describe(self) -> str:
        return f"label smoothing ε={self.label_smoothing:g}" if self.label_smoothing else ""

    def label_parts(self) -> list[str]:
        return [f"ls{self.label_smoothing:g}"] if self.label_smoothing else []

    def loss(self, batch: Batch) -> Losses:
        return cross_entropy_loss(batch.student.logits, batch.y, label_smoothing=self.label_smoothing)
