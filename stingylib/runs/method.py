"""What a run's identity needs to know of its method, and the registry of methods by name.

A run config holds a registered method with its parameters. Identity and storage (this package)
need only the part of a method declared here, :class:`MethodSpec`: its name, its parameters (the
dataclass fields), the frozen runs it names (``roles``), the loss terms it reports (``terms``), and
its part of the run's label. How a method trains (its loss, its trainer) is added by
:class:`stingylib.methods.base.Method`, which subclasses this one; every method is such a subclass,
registered with :func:`stingylib.methods.base.register` (which calls :func:`register_spec`).

Loss terms: a method's loss returns a dict of named 0-d tensors, always with ``"total"`` (what is
back-propagated) and with each term of ``terms``, which maps its name to its kind:

- ``"teacher"`` (:data:`TEACHER_TERM`): reads a frozen network's output (a distillation term); the
  per-epoch diagnostics split its gradient into the teacher's kept and hidden classes;
- ``"labels"`` (:data:`LABEL_TERM`): reads the labels (a cross-entropy); the diagnostics measure its
  whole gradient;
- ``"other"`` (:data:`OTHER_TERM`): anything else (recorded every epoch, not diagnosed).

The record of a run keeps each term's epoch mean as ``train_<term>`` and refuses any other term
(:mod:`stingylib.runs.metrics`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar, Mapping

from ..fields import Validated

if TYPE_CHECKING:
    from ..data import DatasetInfo
    from .spec import TrainSpec

#: The kind of a loss term that reads a frozen network's output.
TEACHER_TERM = "teacher"
#: The kind of a loss term that reads the labels.
LABEL_TERM = "labels"
#: The kind of any other loss term.
OTHER_TERM = "other"
#: The kinds a method's terms may have.
TERM_KINDS = (TEACHER_TERM, LABEL_TERM, OTHER_TERM)

#: The registered methods by name (filled by :func:`register_spec`).
METHODS: dict[str, type["MethodSpec"]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MethodSpec(Validated):
    """A method's identity: its parameters (dataclass fields) and its class-level declarations."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: The fields that hold the run ids of the frozen networks the method needs (a teacher, an adversary).
    roles: ClassVar[tuple[str, ...]] = ()
    #: Every loss term the method reports besides ``"total"``: name → kind (see the module's docstring).
    terms: ClassVar[Mapping[str, str]] = {}
    #: True when the method trains with the standard batch trainer (a loss on real batches), so that it
    #: can share batches and frozen passes with other runs in a cohort; False for its own epoch body.
    shares_batches: ClassVar[bool] = True

    def check(self, spec: "TrainSpec", info: "DatasetInfo") -> None:
        """Checks that need the run's training fields (e.g. N ≤ the dataset's K); raise ValueError
        naming the field. Must not build networks or draw random numbers."""

    def dependencies(self) -> tuple[str, ...]:
        """The run ids of the frozen networks, in ``roles`` order."""
        return tuple(getattr(self, role) for role in self.roles)

    def label_parts(self) -> list[str]:
        """Readable pieces of the run's label after the model and width (e.g. the teacher and view)."""
        return []

    def control(self) -> bool:
        """Whether a run of this method is a *control* when the runs it depends on are controls too:
        what a recipe may be calibrated on, never a treatment (a stingy or nasty teacher, an attack).
        Default: a method with no frozen network (trained on the labels alone)."""
        return not self.roles

    def grad_clip(self) -> float | None:
        """The bound on the global gradient norm of each step (``torch.nn.utils.clip_grad_norm_``
        after the backward pass), or None (the default, no clipping)."""
        return None

    def describe(self) -> str:
        """A short, readable account of the parameters that differ between runs of this method (for
        listings such as the calibration runs); default: none."""
        return ""


def register_spec(cls: type[MethodSpec]) -> type[MethodSpec]:
    """Make ``cls`` available to configs under ``cls.name`` (after checking its declarations)."""
    if not (isinstance(cls, type) and issubclass(cls, MethodSpec) and dataclasses.is_dataclass(cls)):
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
    bad = {t: k for t, k in cls.terms.items()
           if k not in TERM_KINDS or t == "total" or not t.replace("_", "").isalnum()}
    if bad:
        raise ValueError(f"{cls.__name__}.terms must map term names (letters, digits, '_'; not 'total') to one of "
                         f"{list(TERM_KINDS)}; got {bad}")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[MethodSpec]:
    """The registered method class called ``name``."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}; got {name!r}")
    return METHODS[name]


def run_tag(run_id: str) -> str:
    """A short readable tag of a run for other runs' labels: ``<method>_<model>`` from its id.

    Only cosmetic (labels help people read file names); identities never depend on it.
    """
    return "_".join(run_id.split("-")[:2])
