"""What an experiment is, the registry of experiments, and planning their runs.

An experiment is one registered unit (a subclass of :class:`Experiment`, registered with
:func:`register`): a table or figure of the paper, or of this project. It declares

- ``name``: its command-line target (``python -m stingylib run NAME``, ``status --target NAME``,
  ``table NAME``) and its key in :data:`EXPERIMENTS`;
- ``title`` and ``notebook``: what it is called and the notebook that shows it in the book (the
  book executes every registered experiment's notebook; ``_toc.yml`` lists it);
- ``settings``: the settings of a profile it reads (names or prefixes of
  :func:`stingylib.profiles.profile_numbers`), which its page lists;
- :meth:`Experiment.cells`: every number it shows, each a :class:`Cell` naming the run (a
  :class:`~stingylib.runs.config.RunConfig`) and the field of its record that gives the number;
- :meth:`Experiment.table`: the table ``python -m stingylib table NAME`` prints;
- :meth:`Experiment.verdicts`: the claims it tests, judged on its numbers (Markdown lines), by rules
  fixed before its runs.

:func:`plan` turns the cells of one experiment (or of ``all``) into the runs to train, each once,
dependencies first; a run shared by experiments has one config and so one id. Nothing here knows
an experiment by name: the registry drives the command line, :func:`status_frame`,
:func:`~stingylib.experiments.ensure.ensure_results` and the book's list of notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterable

import pandas as pd

from ..profiles import Profile, get_profile
from ..runs import RunConfig, RunStore

#: The target that stands for every registered experiment.
ALL = "all"
#: The profile settings every experiment's runs read (seeds of the teachers, widths, precisions, threads).
COMMON_SETTINGS = ("teacher_seed", "widths", "student_widths", "precisions", "default_precision", "threads")


@dataclass(frozen=True)
class Cell:
    """One number of a table: which record, which field of it."""

    row: tuple[str, ...]
    column: str
    seed: int
    run: RunConfig
    field: str  # "student" (the metric asked for), "teacher" (the weights students see), "shown_teacher"


class Experiment:
    """Base class of the registered experiments (see the module's docstring)."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: The path of the notebook that shows it, from the repository root; None when it has no page.
    notebook: ClassVar[str | None] = None
    #: The names or prefixes of the profile settings it reads, as :func:`stingylib.profiles.profile_numbers`
    #: names them (``"table1"`` covers ``table1.epochs`` and the rest); None for all of them.
    settings: ClassVar[tuple[str, ...] | None] = None

    def cells(self, profile: Profile) -> list[Cell]:
        """Every number the experiment shows, for every seed."""
        raise NotImplementedError

    def runs(self, profile: Profile) -> list[RunConfig]:
        """Runs the experiment needs beyond its cells' (e.g. teachers reachable only as dependencies);
        default: none."""
        return []

    def table(self, profile: Profile, store: RunStore, metric: str | None = None) -> pd.DataFrame:
        """The experiment's main table, as ``python -m stingylib table NAME`` prints it."""
        raise NotImplementedError

    def verdicts(self, profile: Profile, store: RunStore, metric: str | None = None) -> list[str]:
        """The claims this experiment tests, each judged on its numbers, as Markdown list items;
        default: none."""
        return []


#: The registered experiments by name, in the order they were registered.
EXPERIMENTS: dict[str, Experiment] = {}


def register(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``.

    Raises:
        ValueError: ``cls`` is not an :class:`Experiment` subclass, or its name is malformed, ``all``,
            or taken by another experiment.
    """
    if not (isinstance(cls, type) and issubclass(cls, Experiment)):
        raise ValueError(f"only subclasses of Experiment can be registered; got {cls!r}")
    name = cls.name
    if not name or name == ALL or not name.replace("_", "").isalnum():
        raise ValueError(f"{cls.__name__}.name must be a name of letters, digits and '_' other than {ALL!r}; "
                         f"got {name!r}")
    if name in EXPERIMENTS and type(EXPERIMENTS[name]) is not cls:
        raise ValueError(f"an experiment named {name!r} is registered already ({type(EXPERIMENTS[name]).__name__})")
    EXPERIMENTS[name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove a registered experiment (e.g. one a test registered)."""
    EXPERIMENTS.pop(name, None)


def targets() -> list[str]:
    """The targets of ``run`` and ``status``: every registered experiment, then ``all``."""
    return [*EXPERIMENTS, ALL]


def get_experiment(name: str) -> Experiment:
    """The registered experiment called ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {list(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]


def _configs(profile: Profile, experiment: Experiment) -> list[RunConfig]:
    """The runs of one experiment: its cells' and its other runs."""
    return [cell.run for cell in experiment.cells(profile)] + list(experiment.runs(profile))


def _with_dependencies(configs: Iterable[RunConfig], known: dict[str, RunConfig],
                       profile: Profile) -> dict[str, RunConfig]:
    """Every config plus the configs of the runs it depends on, dependencies first."""
    ordered: dict[str, RunConfig] = {}

    def visit(cfg: RunConfig) -> None:
        for dep in cfg.dependencies():
            if dep not in known:
                raise ValueError(f"run {cfg.run_id} depends on {dep}, which no experiment of profile "
                                 f"{profile.name!r} defines")
            visit(known[dep])
        ordered.setdefault(cfg.run_id, cfg)

    for cfg in configs:
        visit(cfg)
    return ordered


def plan(profile: Profile | str, target: str) -> list[RunConfig]:
    """The runs of ``target`` (a registered experiment's name, or ``all``), dependencies first, each
    exactly once."""
    profile = get_profile(profile)
    if target not in targets():
        raise ValueError(f"target must be one of {targets()}; got {target!r}")
    runs = {name: _configs(profile, experiment) for name, experiment in EXPERIMENTS.items()}
    known = {c.run_id: c for configs in runs.values() for c in configs}  # dependencies may be any experiment's
    chosen = [c for configs in runs.values() for c in configs] if target == ALL else runs[target]
    return list(_with_dependencies(chosen, known, profile).values())


def status_frame(profile: Profile | str, store: RunStore, target: str = ALL) -> pd.DataFrame:
    """Every run of ``target`` with its state (:data:`stingylib.runs.store.STATES`: ``done``, ``corrupt``,
    ``running``, ``interrupted`` or ``missing``) and where its final weights are (``yes``: its own,
    ``shipped``, ``no``, or ``corrupt``: not the ones its record vouches for). Reads only: works on a
    read-only data root."""
    store.check_readable()
    rows = []
    for cfg in plan(profile, target):
        rid = cfg.run_id
        rows.append({"run_id": rid, "method": cfg.method.name, "model": cfg.model, "state": store.state(rid),
                     "weights": store.weights_status(rid), "epochs": cfg.epochs})
    return pd.DataFrame(rows, columns=["run_id", "method", "model", "state", "weights", "epochs"])
