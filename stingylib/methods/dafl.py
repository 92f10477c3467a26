"""``dafl``: data-free KD (DAFL, Chen et al., ICCV 2019): a generator and a student trained together.

As in the DAFL code (huawei-noah/Data-Efficient-Model-Compression, ``DAFL/DAFL-train.py``): the
generator's loss is one-hot + information entropy + activation on the teacher's outputs, the
student's is KL to the teacher at τ = 1 with no cross-entropy.

Per iteration a batch of latent codes becomes images; the generator learns to please the frozen
(possibly stingy) teacher, the student learns to match the teacher on those images. No training
image is used; the test split still measures the student.

The generator's loss needs gradients *through* the teacher, so the trainer uses the teacher's raw
network with frozen parameters and applies the view (transform) itself to every logit output; the
teacher's features, which the activation loss reads, stay raw (a black-box stingy teacher shows
only logits; how the paper did it is not written anywhere, see the book).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from .._checks import values_trusted
from ..fastpath import memory_format, precision_context
from ..fields import at_least, check, nonnegative, positive
from ..losses import dafl_generator_loss, dafl_student_loss
from ..models import build_generator
from ..runs.method import OTHER_TERM, TEACHER_TERM
from ..training import Frozen, build_network, check_terms, learning_rate, set_lr, sgd
from .base import register
from .teacher import TeacherMethod

if TYPE_CHECKING:
    from ..data import ImageData
    from ..runs.spec import TrainSpec


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class DAFL(TeacherMethod):
    """DAFL's generator weights (one-hot, information entropy, activation), latent size and schedule."""

    latent_dim: int = dataclasses.field(metadata=check(at_least(1)))
    iterations_per_epoch: int = dataclasses.field(metadata=check(at_least(1)))
    generator_lr: float = dataclasses.field(metadata=check(positive))
    one_hot: float = dataclasses.field(metadata=check(nonnegative))
    info_entropy: float = dataclasses.field(metadata=check(nonnegative))
    activation: float = dataclasses.field(metadata=check(nonnegative))

    name = "dafl"
    shares_batches = False  # its batches come from its own generator
    summary = "data-free KD with a DAFL generator"
    terms = {"kd": TEACHER_TERM, "generator_total": OTHER_TERM, "generator_one_hot": OTHER_TERM,
             "generator_info_entropy": OTHER_TERM, "generator_activation": OTHER_TERM}

    def make_trainer(self, spec: "TrainSpec", data: "ImageData", device: torch.device,
                     frozen: dict[str, Frozen]) -> "DaflTrainer":
        return DaflTrainer(self, spec, data, device, frozen["teacher"])

    def images_per_epoch(self, spec: "TrainSpec", train_images: int) -> int:
        """Generated images: ``iterations_per_epoch`` batches (no training image is read)."""
        return self.iterations_per_epoch * spec.batch_size


class DaflTrainer:
    """One DAFL epoch: ``iterations_per_epoch`` generator batches, each stepping generator and student."""

    def __init__(self, method: DAFL, spec: "TrainSpec", data: "ImageData", device: torch.device,
                 teacher: Frozen) -> None:
        self.spec, self.device, self.params = spec, device, method
        info = data.info
        self.teacher = teacher.net  # frozen parameters, but gradients flow through it to the generator
        self.transform: Callable[[Tensor], Tensor] = teacher.view
        self.format = memory_format(spec.model, spec.precision, device, "train")
        self.network = build_network(spec, info).to(device, memory_format=self.format)
        self.generator = build_generator(latent_dim=self.params.latent_dim, img_size=info.image_size,
                                         channels=info.channels).to(device)
        self.modules = {"network": self.network, "generator": self.generator}
        self.optimizers = {
            "network": sgd(self.network.parameters(), spec),
            "generator": torch.optim.Adam(self.generator.parameters(), lr=self.params.generator_lr),
        }
        self.steps_per_epoch = self.params.iterations_per_epoch
        self.rng_state = torch.get_rng_state()

    def train_epoch(self, epoch: int, tick: Callable[[], None]) -> tuple[dict[str, Tensor], int]:
        spec, p, teacher = self.spec, self.params, self.teacher
        set_lr(self.optimizers["network"], learning_rate(spec, epoch))
        # The noise generator lives on the device (on CPU: the CPU generator of every earlier version).
        noise = torch.Generator(device=self.device).manual_seed((spec.seed * 1_000_003 + epoch) % (1 << 63))
        self.generator.train()
        self.network.train()
        teacher.network.eval()
        sums: dict[str, Tensor] = {}
        with values_trusted():  # no per-batch value checks (host syncs); the engine checks the epoch's losses
            self._iterations(noise, sums, tick)
        n = p.iterations_per_epoch
        return {name: total / n for name, total in sums.items()}, n * spec.batch_size

    def _iterations(self, noise: torch.Generator, sums: dict[str, Tensor], tick: Callable[[], None]) -> None:
        spec, p, teacher = self.spec, self.params, self.teacher
        for _ in range(p.iterations_per_epoch):
            z = torch.randn(spec.batch_size, p.latent_dim, generator=noise, device=self.device)  # (B, latent)
            with precision_context(self.device, spec.precision):
                images = self.generator(z)  # (B, C, H, W)
            with teacher.context():
                t_logits, t_features = teacher.network(images.contiguous(memory_format=teacher.format),
                                                       return_features=True)  # (B, K), (B, D)
            t_logits = self.transform(t_logits.float())  # what the teacher shows
            g_losses = dafl_generator_loss(t_logits, t_features, one_hot=p.one_hot,
                                           info_entropy=p.info_entropy, activation=p.activation)
            with precision_context(self.device, spec.precision):
                s_logits = self.network(images.detach().contiguous(memory_format=self.format))  # (B, K)
            s_losses = dafl_student_loss(s_logits, t_logits.detach())
            for opt in self.optimizers.values():
                opt.zero_grad(set_to_none=True)
            (g_losses["total"] + s_losses["total"]).backward()  # disjoint graphs: G and S get their own
            for opt in self.optimizers.values():
                opt.step()
            terms = {"total": g_losses["total"] + s_losses["total"], "kd": s_losses["kd"],
                     **{f"generator_{k}": v for k, v in g_losses.items()}}
            check_terms(p, terms)
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach()
            tick()
