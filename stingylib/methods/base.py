"""What a training method is, and the registry of methods.

A method is one registered unit: a frozen dataclass of its hyperparameters (validated when built,
see :mod:`stingylib.fields`) whose class declares

- ``name``: how configs and records call it;
- ``roles``: the fields that hold the run ids of the frozen networks it needs (a teacher, an
  adversary); the runner trains those runs first;
- ``taps`` / ``frozen_taps``: intermediate outputs its loss reads from the trained network / from
  each frozen one (``"features"`` or a submodule name, see
  :meth:`stingylib.models.Classifier.forward_taps`);

and whose methods give its label, how it shows each frozen network (:meth:`Method.view`), any extra
trainable modules, its loss on a :class:`~stingylib.training.Batch`, and its trainer (the standard
:class:`~stingylib.training.BatchTrainer` unless it needs another epoch body).

Adding a method is one subclass and ``@register``: no edit anywhere else. Its parameters live in
its config's ``params`` and count in the run's identity only where they differ from their defaults.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping

import torch
from torch import Tensor, nn

from ..fields import Validated
from ..training import Batch, BatchTrainer, Frozen, Losses, Trainer

if TYPE_CHECKING:
    from ..data import DatasetInfo, ImageData
    from ..runs.config import RunConfig

#: The registered methods by name (filled by :func:`register`).
METHODS: dict[str, type["Method"]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Method(Validated):
    """Base class of the registered methods: hyperparameters as dataclass fields, behaviour as methods."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    taps: ClassVar[tuple[str, ...]] = ()
    frozen_taps: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # True when the method trains with the standard BatchTrainer (a loss on real batches), so that it
    # can share batches and frozen passes with other runs in a cohort; False for its own epoch body.
    shares_batches: ClassVar[bool] = True

    def check(self, cfg: "RunConfig", info: "DatasetInfo") -> None:
        """Checks that need the whole config (e.g. N ≤ the dataset's K); raise ValueError naming the field."""

    def dependencies(self) -> tuple[str, ...]:
        """The run ids of the frozen networks, in ``roles`` order."""
        return tuple(getattr(self, role) for role in self.roles)

    def label_parts(self) -> list[str]:
        """Readable pieces of the run's label after the model and width (e.g. the teacher and view)."""
        return []

    def view(self, role: str) -> Callable[[Tensor], Tensor]:
        """How the trained network sees the frozen network of ``role``: a map of (B, K) logits."""
        return _identity

    def extra_modules(self, network: nn.Module, info: "DatasetInfo") -> dict[str, nn.Module]:
        """Trainable modules the method adds beside the network (trained and checkpointed with it)."""
        return {}

    def loss(self, batch: Batch) -> Losses:
        """The loss terms of one batch (``total`` is back-propagated), for the standard trainer."""
        raise NotImplementedError(f"method {self.name!r} has no batch loss; it must provide make_trainer")

    def make_trainer(self, cfg: "RunConfig", data: "ImageData", device: torch.device,
                     frozen: dict[str, Frozen]) -> Trainer:
        """The object that trains one epoch (default: the standard batch trainer)."""
        return BatchTrainer(cfg, data, device, frozen)

    def images_per_epoch(self, cfg: "RunConfig", train_images: int) -> int:
        """How many images one epoch trains on, given the run's training split size (default: all of
        them; a method with its own image source says otherwise). Only estimates use it (an ETA)."""
        return train_images


def _identity(logits: Tensor) -> Tensor:
    return logits


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` available to configs under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, Method) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"only dataclass subclasses of Method can be registered; got {cls!r}")
    if not cls.name or not cls.name.replace("_", "").isalnum():
        raise ValueError(f"{cls.__name__}.name must be a non-empty name of letters, digits and '_'; "
                         f"got {cls.name!r}")
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise ValueError(f"a method named {cls.name!r} is registered already ({METHODS[cls.name].__name__})")
    names = cls.field_names()
    missing = [r for r in cls.roles if r not in names]
    if missing:
        raise ValueError(f"{cls.__name__}.roles names {missing}, which are not fields of {cls.__name__}")
    if cls.shares_batches and cls.make_trainer is not Method.make_trainer:
        raise ValueError(f"{cls.__name__} provides its own make_trainer: set shares_batches = False (only the "
                         f"standard BatchTrainer can share batches in a cohort)")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The registered method class called ``name``."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}; got {name!r}")
    return METHODS[name]


def run_tag(run_id: str) -> str:
    """A short readable tag of a run for other runs' labels: ``<method>_<model>`` from its id.

    Only cosmetic (labels help people read file names); identities never depend on it.
    """
    return "_".join(run_id.split("-")[:2])
