"""A run is its config: one frozen dataclass holding everything that determines the result.

``RunConfig`` holds what every run has (model, dataset, optimisation, seed, data subset: the fields
of :class:`~stingylib.runs.spec.TrainSpec`) and, in ``method``, the registered method with its own
parameters (:mod:`stingylib.methods`; this package knows methods only through
:class:`~stingylib.runs.method.MethodSpec`): e.g.
``RunConfig(method=KD(teacher=..., transform="stingy_sparse", keep=2, temperature=20, alpha=0.9),
model="resnet18", dataset="fashion-mnist", epochs=10, lr=0.1, milestones=(5, 8))``.

Identity: ``run_id`` is a readable label plus 10 hex digits of SHA-256 over :meth:`RunConfig.identity`:
the identity schema version, the method's name, and only the fields (of the config and of the
method) that differ from their defaults, with numbers normalised (``lr=1`` ≡ ``lr=1.0``). So adding
a field with a default never changes an existing id, and a run's dependencies (its teacher's run id)
are part of its own id. Rule that follows: never change a field's default; add a field instead.
Nothing is ever parsed back out of a path: records and checkpoints carry their config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Mapping

from ..fields import as_dict, non_default
from .method import MethodSpec, get_method
from .spec import TrainSpec

#: Version of the identity rule (what the hash covers). Version 1 hashed every field of a flat config;
#: ``scripts/migrate_records.py`` moved its records to version 2.
ID_SCHEMA = 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig(TrainSpec):
    """Everything that determines one training run's result: its training fields
    (:class:`~stingylib.runs.spec.TrainSpec`, where they and their defaults are declared) and its
    method with the method's parameters."""

    method: MethodSpec  # a registered method with its parameters (stingylib.methods)

    def __post_init__(self) -> None:
        if not isinstance(self.method, MethodSpec):
            raise ValueError(f"RunConfig.method must be a registered method with its parameters (e.g. "
                             f"stingylib.methods.KD(...)); got {self.method!r}")
        super().__post_init__()
        from ..data import DATASETS

        self.method.check(self.spec, DATASETS[self.dataset])

    @property
    def spec(self) -> TrainSpec:
        """What training reads of this run (everything but the method)."""
        return TrainSpec.of(self)

    # --- identity -------------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """What the hash covers: schema, method name, and the non-default fields (normalised)."""
        out = {"id_schema": ID_SCHEMA, "method": self.method.name, **non_default(self, exclude=("method",))}
        params = non_default(self.method)
        if params:
            out["params"] = params
        return out

    @property
    def config_hash(self) -> str:
        """10 hex digits of SHA-256 over the canonical JSON of :meth:`identity`."""
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    @property
    def label(self) -> str:
        """The readable part of the id, e.g. ``kd-shufflenetv2-w0.125-nasty_resnet18-stingy_sparse2-fashion-mnist-s0``."""
        parts = [self.method.name, self.model]
        if self.width != 1.0:
            parts.append(f"w{self.width:g}")
        parts += self.method.label_parts() + [self.dataset, f"s{self.seed}"]
        return "-".join(parts)

    @property
    def run_id(self) -> str:
        """The run's id, ``<label>-<hash>``: its identity everywhere (records, checkpoints, dependencies)."""
        return f"{self.label}-{self.config_hash}"

    def dependencies(self) -> tuple[str, ...]:
        """Run ids this run needs finished first (the method's frozen roles)."""
        return self.method.dependencies()

    def cohort_key(self) -> tuple[Any, ...] | None:
        """Runs with equal keys can train as one cohort (:func:`stingylib.engine.loop.fit_cohort`):
        the same frozen runs (in the same precision), data (dataset, subset, seed → batch order and
        augmentation), batch size and epochs, so one batch and one pass of each frozen network serve
        every member. None: this run trains alone (no frozen network to share, or a method with its
        own epoch body)."""
        if not self.method.roles or not self.method.shares_batches:
            return None
        return (tuple(sorted(set(self.dependencies()))), self.dataset, self.train_per_class, self.subset_seed,
                self.test_per_class, self.val_per_class, self.seed, self.batch_size, self.epochs, self.augment,
                self.frozen_precision)

    # --- (de)serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values: ``{"method": name, <fields>, "params": {<method fields>}}``."""
        return {"method": self.method.name, **as_dict(self, exclude=("method",)), "params": as_dict(self.method)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunConfig":
        """Rebuild a config from :meth:`to_dict` output. Missing defaulted fields take their defaults;
        unknown fields, and parameters the method does not take, are errors that name them."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a run config must be a JSON object; got {type(data).__name__}")
        values = dict(data)
        name = values.pop("method", None)
        if not isinstance(name, str):
            raise ValueError(f"a run config needs 'method', the name of a registered method; got {name!r}")
        method_cls = get_method(name)
        params = values.pop("params", {})
        if not isinstance(params, Mapping):
            raise ValueError(f"'params' of a run config must be an object; got {params!r}")
        method = method_cls.build(params, what=f"method {name!r}")
        allowed = [n for n in cls.field_names() if n != "method"]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"unknown RunConfig fields {unknown}; allowed: {allowed + ['params']}")
        return cls(method=method, **values)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
