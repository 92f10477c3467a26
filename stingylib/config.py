"""A run is its config: one frozen dataclass holding everything that determines the result.

``RunConfig.run_id`` is a readable name plus a short hash of the whole config, so two runs with the
same id are the same experiment, and the ids of the runs a run depends on (its ``teacher`` or
``adversary``) are part of its config and therefore of its own id. Nothing is ever parsed back out
of a path: records and checkpoints carry their config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .transforms import TRANSFORMS

# Which fields each method needs (None = must be set); checked in RunConfig.__post_init__.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "supervised": (),
    "kd": ("teacher", "temperature", "alpha"),
    "nasty": ("adversary", "temperature", "omega"),
    "dafl": ("teacher", "dafl_one_hot", "dafl_info_entropy", "dafl_activation", "latent_dim",
             "iterations_per_epoch", "generator_lr"),
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's result.

    Optimisation defaults are the ones shared by every recipe of the paper (SPEC §4: SGD, momentum
    0.9, weight decay 5e-4, batch 128); the per-dataset recipes and method hyperparameters are set by
    the experiment profiles (:mod:`stingylib.profiles`).
    """

    method: str  # "supervised" | "kd" | "nasty" | "dafl"
    model: str  # a name of stingylib.models.MODELS
    dataset: str  # a name of stingylib.data.DATASETS
    epochs: int
    lr: float
    milestones: tuple[int, ...]  # epochs at which the learning rate is multiplied by gamma
    gamma: float
    width: float = 1.0
    seed: int = 0
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    train_per_class: int | None = None  # class-balanced subset sizes (None: the whole split)
    test_per_class: int | None = None
    augment: bool = True
    # KD and DAFL: the teacher run and how the student sees it.
    teacher: str | None = None  # run id of the teacher
    transform: str = "normal"  # a name of stingylib.transforms.TRANSFORMS
    keep: int | None = None  # N, the kept-class count of the top-n transforms
    # nasty: the normally trained adversary.
    adversary: str | None = None
    temperature: float | None = None
    alpha: float | None = None  # weight of the KD term
    omega: float | None = None  # weight of the nasty adversarial term
    # DAFL (data-free): generator and loss weights; one epoch = iterations_per_epoch batches.
    latent_dim: int | None = None
    iterations_per_epoch: int | None = None
    generator_lr: float | None = None
    dafl_one_hot: float | None = None
    dafl_info_entropy: float | None = None
    dafl_activation: float | None = None

    def __post_init__(self) -> None:
        from .data import DATASETS  # local imports keep `import stingylib.config` light
        from .models import MODELS

        if self.method not in METHOD_FIELDS:
            raise ValueError(f"method must be one of {sorted(METHOD_FIELDS)}; got {self.method!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}; got {self.model!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {sorted(DATASETS)}; got {self.dataset!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {sorted(TRANSFORMS)}; got {self.transform!r}")
        if TRANSFORMS[self.transform].takes_n != (self.keep is not None):
            raise ValueError(f"keep must be {'an integer' if TRANSFORMS[self.transform].takes_n else 'None'} "
                             f"for transform {self.transform!r}; got {self.keep!r}")
        for name in METHOD_FIELDS[self.method]:
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required for method {self.method!r}")
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {getattr(self, name)!r}")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must be increasing epoch numbers; got {self.milestones!r}")
        object.__setattr__(self, "milestones", tuple(self.milestones))

    # --- identity -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Rebuild a config from :meth:`to_dict` output (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown RunConfig fields {sorted(unknown)}; allowed: {sorted(names)}")
        values = dict(data)
        if "milestones" in values:
            values["milestones"] = tuple(values["milestones"])
        return cls(**values)

    @property
    def config_hash(self) -> str:
        """10 hex digits of SHA-256 over the canonical JSON of the config."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    @property
    def label(self) -> str:
        """The readable part of the id, e.g. ``kd-resnet18-stingy_sparse2-fashion-mnist-s0``."""
        parts = [self.method, self.model]
        if self.width != 1.0:
            parts.append(f"w{self.width:g}")
        if self.teacher is not None:
            parts.append(self.transform + ("" if self.keep is None else str(self.keep)))
        parts += [self.dataset, f"s{self.seed}"]
        return "-".join(parts)

    @property
    def run_id(self) -> str:
        """The run's id, ``<label>-<hash>``: its identity everywhere (records, checkpoints, dependencies)."""
        return f"{self.label}-{self.config_hash}"

    def dependencies(self) -> tuple[str, ...]:
        """Run ids this run needs finished first (teacher and/or adversary)."""
        return tuple(d for d in (self.teacher, self.adversary) if d is not None)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
