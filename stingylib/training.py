"""The building blocks a training method is made of (below the engine's epoch loop).

- :class:`Outputs`, :class:`Batch`: what a method's loss sees for one batch: the trained network's
  logits and the intermediate outputs ("taps") it asked for, the frozen networks' outputs as the
  method shows them to it (e.g. a teacher through a stingy transform), and the labels.
- :class:`Frozen`: a finished run's network, frozen (eval mode, no gradient), seen through a view.
- :class:`BatchTrainer`: the standard epoch body: real images → frozen outputs → the method's loss →
  one SGD step. A method with another body (DAFL's generator) provides its own trainer with the
  same :class:`Trainer` interface.
- :func:`load_data`, :func:`build_network`, :func:`learning_rate`, :func:`sgd`: shared by all.

Nothing here knows a method by name: the method object (:class:`stingylib.methods.base.Method`) brings
its roles, taps, views and loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

import torch
from torch import Tensor, nn

from . import data as datamod
from .data import DatasetInfo, ImageData
from .device import autocast, memory_format
from .models import Classifier, build_model

if TYPE_CHECKING:  # imported for type hints only: runs.config imports the methods, which import this
    from .runs.config import RunConfig

Losses = dict[str, Tensor]


@dataclass
class Outputs:
    """One network's outputs on a batch: logits (B, K) and the requested taps by name."""

    logits: Tensor
    taps: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class Batch:
    """Everything a method's loss may read for one training batch."""

    x: Tensor  # (B, C, H, W) normalised (and augmented) images
    y: Tensor  # (B,) labels
    student: Outputs  # the trained network (with gradient)
    frozen: dict[str, Outputs]  # role → the frozen network's outputs as the method shows them (no gradient)
    modules: dict[str, nn.Module]  # the method's extra trainable modules (e.g. a projector)


class Frozen:
    """A finished run's network in eval mode, without gradient, seen through ``view`` (logits → logits).

    ``taps`` are intermediate outputs the method also reads from it (raw: the view applies to logits).
    """

    def __init__(self, network: Classifier, view: Callable[[Tensor], Tensor], taps: Iterable[str] = ()) -> None:
        self.network = network.eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.view = view
        self.taps = tuple(taps)

    def __call__(self, x: Tensor) -> Outputs:
        """(B, C, H, W) images → the view of the logits (B, K) and the raw taps."""
        self.network.eval()
        with torch.no_grad():
            if self.taps:
                logits, taps = self.network.forward_taps(x, self.taps)
            else:
                logits, taps = self.network(x), {}
            return Outputs(self.view(logits), taps)

    def logits(self, x: Tensor) -> Tensor:
        """Only the viewed logits (B, K): what evaluation scores."""
        return self(x).logits


class Trainer(Protocol):
    """What the engine's epoch loop needs from a method's trainer."""

    network: nn.Module  # the network being trained and tested
    modules: dict[str, nn.Module]  # everything with weights to checkpoint (``network`` included)
    optimizers: dict[str, torch.optim.Optimizer]
    steps_per_epoch: int  # optimisation steps in one epoch (for the progress bar)

    def train_epoch(self, epoch: int, tick: Callable[[], None]) -> tuple[dict[str, float], int]:
        """Train one epoch, calling ``tick()`` after each step; return each loss term's mean and the
        number of images seen."""
        ...


def load_data(cfg: "RunConfig") -> ImageData:
    """The config's dataset, reduced to its class-balanced subset when the config asks for one."""
    data = datamod.load_dataset(cfg.dataset)
    if cfg.train_per_class is None and cfg.test_per_class is None:
        return data
    return datamod.class_balanced_subset(
        data, train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class, seed=0
    )


def build_network(cfg: "RunConfig", info: DatasetInfo) -> Classifier:
    """The config's network, initialised from ``cfg.seed`` (same seed → same weights)."""
    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, info.num_classes, in_channels=info.channels, width=cfg.width)


def learning_rate(cfg: "RunConfig", epoch: int, base_lr: float | None = None) -> float:
    """Multi-step schedule: ``lr · gamma^(number of milestones ≤ epoch)`` (epochs count from 0)."""
    lr = cfg.lr if base_lr is None else base_lr
    return lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


def sgd(params: Iterable[nn.Parameter], cfg: "RunConfig") -> torch.optim.SGD:
    """SGD with the config's momentum and weight decay (the paper's optimiser)."""
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr


class BatchTrainer:
    """The standard epoch body: a batch of real images → the method's loss → one SGD step.

    The method's extra modules (:meth:`stingylib.methods.base.Method.extra_modules`) are trained with the
    network by the same optimiser.
    """

    def __init__(self, cfg: "RunConfig", data: ImageData, device: torch.device,
                 frozen: dict[str, Frozen]) -> None:
        self.cfg, self.data, self.device, self.frozen = cfg, data, device, frozen
        fmt = memory_format(device)
        self.network = build_network(cfg, data.info).to(device, memory_format=fmt)
        extra = {k: m.to(device) for k, m in cfg.method.extra_modules(self.network, data.info).items()}
        self.modules = {"network": self.network, **extra}
        params = [p for m in self.modules.values() for p in m.parameters()]
        self.optimizers = {"network": sgd(params, cfg)}
        self.steps_per_epoch = math.ceil(data.train_x.shape[0] / cfg.batch_size)

    def train_epoch(self, epoch: int, tick: Callable[[], None]) -> tuple[dict[str, float], int]:
        cfg, method, opt, fmt = self.cfg, self.cfg.method, self.optimizers["network"], memory_format(self.device)
        set_lr(opt, learning_rate(cfg, epoch))
        for module in self.modules.values():
            module.train()
        sums: dict[str, Tensor] = {}
        seen = 0
        batches = datamod.train_batches(self.data, batch_size=cfg.batch_size, epoch=epoch, seed=cfg.seed,
                                        device=self.device, augment_data=cfg.augment)
        for x, y in batches:
            x = x.contiguous(memory_format=fmt)
            with autocast(self.device):
                shown = {role: view(x) for role, view in self.frozen.items()}  # no gradient
                if method.taps:
                    student = Outputs(*self.network.forward_taps(x, method.taps))
                else:
                    student = Outputs(self.network(x))  # (B, K)
            losses = method.loss(Batch(x, y, student, shown, self.modules))
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            for name, value in losses.items():  # tensors: no host sync inside the loop
                sums[name] = sums.get(name, 0.0) + value.detach() * y.numel()
            seen += y.numel()
            tick()
        return {name: float(total) / seen for name, total in sums.items()}, seen
