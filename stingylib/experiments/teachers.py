"""The teachers: the model owner's one network per architecture, normal and nasty.

A teacher is trained once, by the owner's recipe (its whole training split, less the validation
split), and every student of every experiment distils from that one network; the stingy teacher
is the normal one seen through its transform. This experiment lists the normal and nasty teacher
of each Table 1 architecture: their accuracy with the weights their students see, and what the
nasty teacher's adversarial training reached (:func:`nasty_teachers`).
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..profiles import Profile, Recipe, get_profile
from ..runs import RunRecord, RunStore
from .base import COMMON_SETTINGS, Cell, Experiment, register
from .builders import teacher_runs
from .reading import teacher_accuracy

#: The variants that are networks of their own (the stingy teacher is the normal network).
TRAINED_VARIANTS = ("normal", "nasty")


def teacher_models(profile: Profile) -> list[str]:
    """The architectures the owner trains for Table 1 and the figure (in the profile's order)."""
    return list(dict.fromkeys([*profile.teachers, profile.figure_teacher]))


def teacher_cells(profile: Profile) -> list[Cell]:
    """Each teacher's accuracy, with the weights its students see: one cell per architecture and variant."""
    cells = []
    for model in teacher_models(profile):
        runs = teacher_runs(profile, profile.table1, model)
        cells += [Cell((model, v), "teacher_accuracy", profile.teacher_seed, runs[v], "teacher")
                  for v in TRAINED_VARIANTS]
    return cells


def adversarial_kl(record: RunRecord, epoch: int | None = None) -> float:
    """KL(p_τA(nasty) ‖ p_τA(normal)) of a nasty teacher's training at ``epoch`` (1-based; default:
    the last), from its history's ``adversarial`` term = ω·τ_A²·KL (NaN when ω is 0 or the term is
    not recorded)."""
    method = record.config.method
    history = record.history
    epoch = len(history) if epoch is None else int(epoch)
    if not 1 <= epoch <= len(history):
        raise ValueError(f"epoch must be in 1..{len(history)}; got {epoch}")
    scale = float(method.omega) * float(method.temperature) ** 2
    value = history[epoch - 1].train.get("adversarial")
    return math.nan if value is None or scale == 0 else float(value) / scale


def seen_epoch(record: RunRecord) -> int:
    """The epoch whose weights students see: selected on validation, else the last."""
    return record.selected_epoch if record.selected_epoch is not None else len(record.history)


def teacher_records(profile: Profile, store: RunStore, recipe: Recipe | None = None,
                    models: Sequence[str] | None = None) -> dict[str, dict[str, RunRecord]]:
    """model → {"normal": record, "nasty": record} of the recipe's teachers (the stingy one is the normal)."""
    recipe = profile.table1 if recipe is None else recipe
    models = profile.teachers if models is None else models
    return {m: {v: store.load_record(cfg.run_id) for v, cfg in teacher_runs(profile, recipe, m).items()
                if v != "stingy"} for m in models}


def nasty_teachers(profile: Profile, store: RunStore, recipe: Recipe | None = None,
                   models: Sequence[str] | None = None) -> pd.DataFrame:
    """Each architecture's normal and nasty teacher, with the weights students see.

    Args:
        profile: a :class:`~stingylib.profiles.Profile`.
        store: the :class:`~stingylib.runs.store.RunStore` holding the teachers' records.
        recipe: the recipe whose teachers to show (default: the profile's Table 1 recipe).
        models: the architectures (default: the profile's Table 1 teachers).

    Returns:
        A frame with one row per architecture (index ``teacher``: the model's name) and the columns
        ``normal`` and ``nasty`` test accuracy (%), ``nasty − normal`` (points), the nasty teacher's
        adversarial KL (:func:`adversarial_kl`) at its last epoch and at the epoch students see, and
        its ``ω`` and ``τ_A``.
    """
    rows = {}
    for model, records in teacher_records(profile, store, recipe, models).items():
        normal, nasty = records["normal"], records["nasty"]
        method = nasty.config.method
        rows[model] = {
            "normal": teacher_accuracy(normal), "nasty": teacher_accuracy(nasty),
            "nasty − normal": teacher_accuracy(nasty) - teacher_accuracy(normal),
            "KL, last epoch": adversarial_kl(nasty),
            "KL, epoch students see": adversarial_kl(nasty, seen_epoch(nasty)),
            "ω": float(method.omega), "τ_A": float(method.temperature)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "teacher"
    return frame


@register
class Teachers(Experiment):
    """The owner's teachers (see the module's docstring)."""

    name = "teachers"
    title = "The teachers"
    notebook = "notebooks/teachers.ipynb"
    settings = ("table1", "teachers", "figure_teacher", *COMMON_SETTINGS)

    def cells(self, profile: Profile) -> list[Cell]:
        return teacher_cells(profile)

    def table(self, profile: Profile, store: RunStore, metric: str | None = None) -> pd.DataFrame:
        profile = get_profile(profile)
        store.check_readable()
        return nasty_teachers(profile, store, models=teacher_models(profile))
