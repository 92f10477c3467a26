"""``skeptical``: the Skeptical Student (Kundu et al., "Analyzing the Confidentiality of Undistillable
Teachers in Knowledge Distillation", NeurIPS 2021), an attack on an undistillable teacher that needs
more than a transform.

The teacher's (shown) distribution is distilled into a shallow auxiliary exit of the student, a
small head on an intermediate stage (``exit``, a submodule name such as ``"stages.1"`` of a ResNet),
not into its final head. The final head learns from the labels and, from epoch ``delay`` on, by
self-distillation from the auxiliary exit (whose output is detached: the final head follows the exit,
never the other way round). The auxiliary head is an extra trainable module of the method, trained
and checkpointed with the network; accuracy is the final head's.

Loss per batch (aux = the exit's logits, z = the final logits, s = the shown teacher logits):

    kd_aux(aux, s)                                         (KD at τ, α: α·τ²·KL + (1 − α)·CE)
    + CE(z, y)
    + [epoch ≥ delay]·self_distill·τ_sd²·KL(p_τsd(aux.detach()) ‖ p_τsd(z))

Kundu et al. also soften the nasty teacher and add data mixing; this is the core of their method
(distil into a shallow exit, then self-distil), which is what the framework makes one unit.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..fields import at_least, check, nonnegative, positive, unit_interval
from ..losses import kd_loss, kl_batchmean
from ..models import submodule_names
from ..models.base import conv_bn
from ..runs.method import LABEL_TERM, OTHER_TERM, TEACHER_TERM
from ..training import Batch, Losses
from .base import register
from .teacher import TeacherMethod

if TYPE_CHECKING:
    from ..data import DatasetInfo
    from ..runs.spec import TrainSpec

EXIT_HEAD = "exit_head"


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class Skeptical(TeacherMethod):
    """KD into the auxiliary exit at submodule ``exit``; the final head learns from labels and the exit."""

    exit: str
    temperature: float = dataclasses.field(metadata=check(positive))
    alpha: float = dataclasses.field(metadata=check(unit_interval))
    self_distill: float = dataclasses.field(default=1.0, metadata=check(nonnegative))
    self_distill_temperature: float = dataclasses.field(default=4.0, metadata=check(positive))
    delay: int = dataclasses.field(default=0, metadata=check(at_least(0)))  # epochs before self-distillation

    name = "skeptical"
    summary = "Skeptical Student: KD into a shallow exit, self-distillation into the final head"
    terms = {"kd": TEACHER_TERM, "ce": LABEL_TERM, "exit_ce": OTHER_TERM, "self_distill": OTHER_TERM}

    @property
    def taps(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.exit,)

    def check(self, spec: "TrainSpec", info: "DatasetInfo") -> None:
        super().check(spec, info)
        names = submodule_names(spec.model, info.num_classes, in_channels=info.channels, width=spec.width)
        if self.exit not in names or not self.exit:
            stages = [n for n in names if n.count(".") == 1][:16]
            raise ValueError(f"Skeptical.exit must name a submodule of {spec.model!r} (e.g. one of {stages}); "
                             f"got {self.exit!r}")

    def label_parts(self) -> list[str]:
        return super().label_parts() + [f"exit{self.exit.replace('.', '')}"]

    def extra_modules(self, network: nn.Module, info: "DatasetInfo") -> dict[str, nn.Module]:
        """The exit head: conv-BN-ReLU, global pool, linear; its width is the exit's channel count."""
        was_training = network.training
        network.eval()  # a probe pass must not move the BatchNorm statistics
        with torch.no_grad():
            probe = torch.zeros(1, info.channels, info.image_size, info.image_size,
                                device=next(network.parameters()).device)
            _, taps = network.forward_taps(probe, (self.exit,))
        network.train(was_training)
        channels = taps[self.exit].shape[1]
        head = nn.Sequential(conv_bn(channels, channels), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(channels, info.num_classes))
        return {EXIT_HEAD: head}

    def loss(self, batch: Batch) -> Losses:
        aux = batch.modules[EXIT_HEAD](batch.student.taps[self.exit].float())  # (B, K)
        z = batch.student.logits  # (B, K)
        exit_terms = kd_loss(aux, batch.frozen["teacher"].logits, batch.y, temperature=self.temperature,
                             alpha=self.alpha)
        ce = torch.nn.functional.cross_entropy(z, batch.y)
        on = 1.0 if batch.epoch >= self.delay else 0.0
        tau = self.self_distill_temperature
        sd = on * self.self_distill * tau**2 * kl_batchmean(aux.detach(), z, tau)
        return {"total": exit_terms["total"] + ce + sd, "kd": exit_terms["kd"], "ce": ce,
                "exit_ce": exit_terms["ce"], "self_distill": sd}
