"""``supervised``: cross-entropy on the labels (normal teachers, adversaries and student baselines)."""

from __future__ import annotations

import dataclasses

from ..losses import cross_entropy_loss
from ..training import Batch, Losses
from .base import Method, register


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class Supervised(Method):
    """Train on the labels alone; no hyperparameters beyond the optimiser's."""

    name = "supervised"
    summary = "cross-entropy on the labels"

    def loss(self, batch: Batch) -> Losses:
        return cross_entropy_loss(batch.student.logits, batch.y)
