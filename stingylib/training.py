"""The building blocks a training method is made of (below the engine's epoch loop).

- :class:`Outputs`, :class:`Batch`: what a method's loss sees for one batch: the trained network's
  logits and the intermediate outputs ("taps") it asked for, the frozen networks' outputs as the
  method shows them to it (e.g. a teacher through a stingy transform), and the labels.
- :class:`FrozenNet`: a finished run's network, frozen (eval mode, no gradient), in its own precision;
  :class:`Frozen`: how one run sees it in one role (a view of its logits).
- :class:`BatchTrainer`: the standard epoch body: real images → frozen outputs → the method's loss →
  one SGD step. :func:`cohort_epoch` steps several of them on the same batches, each frozen
  network running once per batch (a cohort). A method with another body (DAFL's generator) provides
  its own trainer with the same :class:`Trainer` interface; it trains alone.
- :func:`load_data`, :func:`build_network`, :func:`learning_rate`, :func:`sgd`: shared by all.

Everything here reads a run's :class:`~stingylib.runs.spec.TrainSpec` (model, data, optimisation),
never its identity. Nothing here knows a method by name: the method object
(:class:`stingylib.methods.base.Method`, which imports this module) brings its roles, taps, views, terms
and loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Iterable, Protocol, Sequence

import torch
from torch import Tensor, nn

from . import data as datamod
from .data import DatasetInfo, ImageData
from ._checks import values_trusted
from .fastpath import memory_format, precision_context
from .models import Classifier, build_model, fold_batchnorm
from .runs.method import MethodSpec
from .runs.spec import TrainSpec

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
    epoch: int = 0  # the 0-based epoch being trained (for losses with a schedule)


class FrozenNet:
    """A finished run's network, frozen (eval mode, no gradient), run in its own run's precision
    (or in ``precision``, the reading run's ``frozen_precision``, when given).

    One object per frozen run in a fit: a cohort's members that share a teacher share this object,
    so the teacher runs once per batch for all of them (:func:`cohort_epoch`). ``taps`` is the
    union of the intermediate outputs its viewers read.
    """

    def __init__(self, network: Classifier, spec: TrainSpec, device: torch.device,
                 precision: str | None = None) -> None:
        self.spec, self.device = spec, device
        self.precision = spec.precision if precision is None else precision
        self.format = memory_format(spec.model, self.precision, device, "infer")
        # Frozen = eval mode for good: its BatchNorms fold into its convolutions (same function, faster).
        self.network = fold_batchnorm(network).to(device, memory_format=self.format)
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.taps: tuple[str, ...] = ()
        self.forward: Callable[..., Tensor] = self.network  # torch.compile may replace it

    def add_taps(self, taps: Iterable[str]) -> None:
        """Also capture these taps on every pass."""
        self.taps = tuple(dict.fromkeys(self.taps + tuple(taps)))

    def context(self) -> ContextManager:
        """The autocast context of this network's precision."""
        return precision_context(self.device, self.precision)

    def __call__(self, x: Tensor) -> Outputs:
        """(B, C, H, W) images → raw float32 logits (B, K) and the taps (no gradient)."""
        with torch.no_grad(), self.context():
            x = x.contiguous(memory_format=self.format)
            if self.taps:
                logits, taps = self.network.forward_taps(x, self.taps)
            else:
                logits, taps = self.forward(x), {}
        return Outputs(logits.float(), taps)


class Frozen:
    """How one run sees a frozen network in one role: the shared :class:`FrozenNet` and a view
    (logits → logits, e.g. a stingy teacher's transform). Taps are shown raw."""

    def __init__(self, net: FrozenNet, view: Callable[[Tensor], Tensor], taps: Iterable[str] = ()) -> None:
        self.net = net
        self.view = view
        net.add_taps(taps)

    def show(self, raw: Outputs) -> Outputs:
        """The network's raw outputs on a batch → what this role shows."""
        return Outputs(self.view(raw.logits), raw.taps)

    def __call__(self, x: Tensor) -> Outputs:
        """(B, C, H, W) images → the view of the logits (B, K) and the raw taps."""
        return self.show(self.net(x))

    def logits(self, x: Tensor) -> Tensor:
        """Only the viewed logits (B, K): what evaluation scores."""
        return self(x).logits


class Trainer(Protocol):
    """What the engine's epoch loop needs from a method's trainer."""

    network: nn.Module  # the network being trained and tested
    modules: dict[str, nn.Module]  # everything with weights to checkpoint (``network`` included)
    optimizers: dict[str, torch.optim.Optimizer]
    steps_per_epoch: int  # optimisation steps in one epoch (for the progress bar)
    format: torch.memory_format  # the network's memory format (inputs are converted to it)
    # This run's CPU random-number state between its steps: a cohort's members take turns with the
    # global generator, so each sees the stream it would see alone (bit-identical to a solo run).
    rng_state: Tensor

    def train_epoch(self, epoch: int, tick: Callable[[], None]) -> tuple[dict[str, Tensor], int]:
        """Train one epoch, calling ``tick()`` after each step; return each loss term's mean (a 0-d
        tensor, still on the device) and the number of images seen."""
        ...


def load_data(spec: TrainSpec) -> ImageData:
    """The run's dataset: its validation split held out of the training split first (when the run
    has one), then reduced to the class-balanced subset the run asks for (if any)."""
    data = datamod.split_validation(datamod.load_dataset(spec.dataset), spec.val_per_class)
    if spec.train_per_class is None and spec.test_per_class is None:
        return data
    return datamod.class_balanced_subset(data, train_per_class=spec.train_per_class,
                                         test_per_class=spec.test_per_class, seed=spec.subset_seed, test_seed=0)


def build_network(spec: TrainSpec, info: DatasetInfo) -> Classifier:
    """The run's network, initialised from ``spec.seed`` (same seed → same weights)."""
    torch.manual_seed(spec.seed)
    return build_model(spec.model, info.num_classes, in_channels=info.channels, width=spec.width)


def learning_rate(spec: TrainSpec, epoch: int, base_lr: float | None = None) -> float:
    """The learning rate of ``epoch`` (epochs count from 0). ``step``: ``lr · gamma^(number of
    milestones ≤ epoch)``; ``cosine``: ``lr · (1 + cos(π · epoch / epochs)) / 2``, from ``lr`` at the
    first epoch down to a small rate at the last (never 0, so every epoch trains)."""
    lr = spec.lr if base_lr is None else base_lr
    if spec.schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * epoch / spec.epochs))
    return lr * spec.gamma ** sum(epoch >= m for m in spec.milestones)


def sgd(params: Iterable[nn.Parameter], spec: TrainSpec) -> torch.optim.SGD:
    """SGD with the run's momentum and weight decay (the paper's optimiser)."""
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr


class BatchTrainer:
    """The standard epoch body: a batch of real images → the method's loss → one SGD step.

    The method's extra modules (:meth:`stingylib.methods.base.Method.extra_modules`) are trained with the
    network by the same optimiser. :func:`cohort_epoch` drives it: one batch and one pass of each
    frozen network serve every trainer of a cohort (a solo run is a cohort of one).
    """

    def __init__(self, method: MethodSpec, spec: TrainSpec, data: ImageData, device: torch.device,
                 frozen: dict[str, Frozen]) -> None:
        self.method, self.spec, self.data, self.device, self.frozen = method, spec, data, device, frozen
        self.format = memory_format(spec.model, spec.precision, device, "train")
        self.network = build_network(spec, data.info).to(device, memory_format=self.format)
        extra = {k: m.to(device) for k, m in method.extra_modules(self.network, data.info).items()}
        self.modules = {"network": self.network, **extra}
        params = [p for m in self.modules.values() for p in m.parameters()]
        self.optimizers = {"network": sgd(params, spec)}
        self.params, self.max_norm = params, method.grad_clip()
        self.steps_per_epoch = math.ceil(data.train_x.shape[0] / spec.batch_size)
        self.rng_state = torch.get_rng_state()  # where a solo run's generator stands after building
        self.forward: Callable[..., Tensor] = self.network  # torch.compile may replace it
        self.terms = {"total", *method.terms}  # exactly the keys its loss must return
        self._sums: dict[str, Tensor] = {}
        self._seen = 0
        self._epoch = 0

    def begin_epoch(self, epoch: int) -> None:
        """Set the epoch's learning rate and training mode; reset the loss sums."""
        set_lr(self.optimizers["network"], learning_rate(self.spec, epoch))
        for module in self.modules.values():
            module.train()
        self._sums, self._seen, self._epoch = {}, 0, epoch

    def step(self, x: Tensor, y: Tensor, raw: dict[FrozenNet, Outputs]) -> None:
        """One SGD step on a batch: x (B, C, H, W) normalised images, y (B,) labels, ``raw`` the
        frozen networks' outputs on x (each shown through this run's view of its role)."""
        method, opt = self.method, self.optimizers["network"]
        shown = {role: frozen.show(raw[frozen.net]) for role, frozen in self.frozen.items()}
        x = x.contiguous(memory_format=self.format)
        with precision_context(self.device, self.spec.precision):
            if method.taps:
                logits, taps = self.network.forward_taps(x, method.taps)
            else:
                logits, taps = self.forward(x), {}  # (B, K)
        losses = method.loss(Batch(x, y, Outputs(logits.float(), taps), shown, self.modules, self._epoch))
        check_terms(method, losses)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        if self.max_norm is not None:  # scales the gradients on the device: no host sync
            torch.nn.utils.clip_grad_norm_(self.params, self.max_norm)
        opt.step()
        for name, value in losses.items():  # tensors: no host sync inside the loop
            self._sums[name] = self._sums.get(name, 0.0) + value.detach() * y.numel()
        self._seen += y.numel()

    def end_epoch(self) -> tuple[dict[str, Tensor], int]:
        """Each loss term's mean over the epoch (0-d tensors on the device) and the images seen."""
        return {name: total / self._seen for name, total in self._sums.items()}, self._seen

    def train_epoch(self, epoch: int, tick: Callable[[], None]) -> tuple[dict[str, Tensor], int]:
        """One epoch of this trainer alone (a cohort of one)."""
        return cohort_epoch([self], epoch, tick)[0]


def check_terms(method: MethodSpec, losses: dict[str, Tensor]) -> None:
    """Raise ValueError unless ``losses`` holds exactly ``"total"`` and the method's declared terms (a
    comparison of names: no tensor is read)."""
    expected = {"total", *method.terms}
    if losses.keys() != expected:
        extra, missing = sorted(losses.keys() - expected), sorted(expected - losses.keys())
        raise ValueError(f"the loss of method {method.name!r} returned the terms {sorted(losses)}, but the method "
                         f"declares {sorted(expected)} (unknown: {extra}, missing: {missing}); declare every term in "
                         f"{type(method).__name__}.terms")


def cohort_epoch(trainers: Sequence[BatchTrainer], epoch: int,
                 tick: Callable[[], None]) -> list[tuple[dict[str, Tensor], int]]:
    """One epoch of a cohort: each batch is drawn and augmented once, each frozen network runs once,
    and every trainer steps on it, in turn with its own CPU random state.

    The trainers must share their batches (:meth:`~stingylib.runs.spec.TrainSpec.data_key`). Every
    member ends the epoch exactly as it would alone: nothing it computes depends on the other
    members. No host synchronisation happens inside the loop (the checks that read tensor values
    are off there; the engine checks each epoch's losses).

    Returns:
        One pair per trainer, in order, of each loss term's mean (0-d tensors) and the number of
        images seen.

    Raises:
        ValueError: no trainer, or trainers that do not share their batches.
    """
    if not trainers or len({t.spec.data_key() for t in trainers}) != 1:
        raise ValueError("a cohort epoch needs at least one trainer, and its trainers must share their dataset, "
                         "subset, seed, batch size and augmentation")
    first = trainers[0]
    nets = list(dict.fromkeys(f.net for t in trainers for f in t.frozen.values()))  # each frozen run once
    for trainer in trainers:
        trainer.begin_epoch(epoch)
    spec = first.spec
    batches = datamod.train_batches(first.data, batch_size=spec.batch_size, epoch=epoch, seed=spec.seed,
                                    device=first.device, augment_data=spec.augment)
    with values_trusted():
        for x, y in batches:  # x (B, C, H, W) float32, y (B,)
            raw = {net: net(x) for net in nets}  # no gradient
            for trainer in trainers:
                torch.set_rng_state(trainer.rng_state)
                trainer.step(x, y, raw)
                trainer.rng_state = torch.get_rng_state()
                tick()
    return [trainer.end_epoch() for trainer in trainers]
