"""What a training method is: a registered unit of parameters, frozen roles, loss terms and a loss.

A method is one frozen dataclass of its hyperparameters (validated when built, see
:mod:`stingylib.fields`), a subclass of :class:`Method`. Its identity part comes from
:class:`stingylib.runs.method.MethodSpec` (what a run's id and record need: ``name``, the parameter
fields, ``roles``, ``terms``, ``shares_batches``, its label); this class adds how it trains:

- ``taps`` / ``frozen_taps``: intermediate outputs its loss reads from the trained network / from
  each frozen one (``"features"`` or a submodule name, see
  :meth:`stingylib.models.Classifier.forward_taps`);
- :meth:`Method.view`: how it shows each frozen network (a map of that network's logits, e.g. a
  stingy teacher's transform);
- :meth:`Method.extra_modules`: trainable modules beside the network (trained and checkpointed with it);
- :meth:`Method.loss`: its loss terms on a :class:`~stingylib.training.Batch`: ``"total"`` (what is
  back-propagated) and exactly the terms it declares in ``terms`` (another key is an error the
  first time the loss returns it, so no term is ever dropped from a record or read as 0);
- :meth:`Method.make_trainer`: its trainer (the standard :class:`~stingylib.training.BatchTrainer`
  unless it needs another epoch body).

Methods receive a run's :class:`~stingylib.runs.spec.TrainSpec` (its model, data and optimisation),
never its whole config. Adding a method is one subclass decorated with :func:`register`, in any
module (a test file is enough): no edit anywhere else. Its parameters live in its config's
``params`` and count in the run's identity only where they differ from their defaults.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping

import torch
from torch import Tensor, nn

from ..runs.method import METHODS, MethodSpec, get_method, register_spec, run_tag  # noqa: F401 - re-exported
from ..runs.spec import TrainSpec
from ..training import Batch, BatchTrainer, Frozen, Trainer

if TYPE_CHECKING:
    from ..data import DatasetInfo, ImageData


@dataclasses.dataclass(frozen=True, kw_only=True)
class Method(MethodSpec):
    """Base class of the registered methods: hyperparameters as dataclass fields, behaviour as methods."""

    taps: ClassVar[tuple[str, ...]] = ()
    frozen_taps: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def view(self, role: str) -> Callable[[Tensor], Tensor]:
        """How the trained network sees the frozen network of ``role``: a map of (B, K) logits."""
        return _identity

    def extra_modules(self, network: nn.Module, info: "DatasetInfo") -> dict[str, nn.Module]:
        """Trainable modules the method adds beside the network (trained and checkpointed with it)."""
        return {}

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        """The loss terms of one batch: ``total`` (back-propagated) and each term the method declares
        (``terms``), for the standard trainer."""
        raise NotImplementedError(f"method {self.name!r} has no batch loss; it must provide make_trainer")

    def make_trainer(self, spec: TrainSpec, data: "ImageData", device: torch.device,
                     frozen: dict[str, Frozen]) -> Trainer:
        """The object that trains one epoch (default: the standard batch trainer)."""
        return BatchTrainer(self, spec, data, device, frozen)

    def images_per_epoch(self, spec: TrainSpec, train_images: int) -> int:
        """How many images one epoch trains on, given the run's training split size (default: all of
        them; a method with its own image source says otherwise). Only estimates use it (an ETA)."""
        return train_images


def _identity(logits: Tensor) -> Tensor:
    return logits


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` available to configs under ``cls.name``.

    Raises:
        ValueError: ``cls`` is not a dataclass subclass of :class:`Method`, its name is taken or
            malformed, its ``roles`` are not fields, its ``terms`` are malformed, or it brings its own
            trainer while claiming to share batches.
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ValueError(f"only dataclass subclasses of Method can be registered; got {cls!r}")
    if cls.shares_batches and cls.make_trainer is not Method.make_trainer:
        raise ValueError(f"{cls.__name__} provides its own make_trainer: set shares_batches = False (only the "
                         f"standard BatchTrainer can share batches in a cohort)")
    register_spec(cls)
    return cls
