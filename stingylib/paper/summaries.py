"""What the results pages compute from a profile's runs beyond the tables: paired comparisons made
readable, how many cells go each way, and the nasty teachers' own numbers.

- :func:`format_comparisons`: :func:`stingylib.experiments.table1_comparisons` as one row per
  teacher → student pair and one column per comparison, cells ``+2.00 [-0.48, +4.48]``
  (:func:`difference_texts`, which formats any comparisons frame, the figure's too).
- :func:`mean_differences`: the same comparisons from a table of single numbers (the paper's), no
  interval.
- :func:`claim_counts`: per comparison of :data:`CLAIMS`, in how many cells the mean difference has
  the sign the paper's claim predicts, and in how many of those the interval excludes 0.
- :func:`nasty_teachers` and :func:`teacher_epochs`: each architecture's normal and nasty teacher,
  the adversarial KL the nasty one reached, and the epoch whose weights students see.

Nothing is read at import.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..experiments import BASELINE_ROW, COMPARISONS, SELF, ResultTable, teacher_accuracy, teacher_runs
from ..profiles import Profile, Recipe
from ..runs import RunRecord, RunStore
from ..stats import PairedDifference
from .display import label

#: Comparisons whose direction the results pages count: comparison → (what the count is of, the
#: sign of the difference that counts).
CLAIMS: dict[str, tuple[str, int]] = {
    "normal KD − baseline": ("normal KD above the baseline", +1),
    "stingy − normal KD": ("stingy below normal KD", -1),
    "stingy − nasty": ("stingy below nasty", -1),
}

_COMPARISON_COLUMNS = ["teacher", "student", "comparison", "mean", "low", "high", "n", "excludes_zero"]


def _pair_label(teacher: str, student: str) -> str:
    return f"{label(teacher)} → {label(teacher) + ' (teacher self)' if student == SELF else label(student)}"


def difference_texts(comparisons: pd.DataFrame, *, mark: str = " *") -> list[str]:
    """Each row of a comparisons frame (columns ``mean``, ``low``, ``high``, ``n``, ``excludes_zero``,
    as :func:`stingylib.experiments.table1_comparisons` and
    :func:`~stingylib.experiments.figure_comparisons` return) as ``+2.00 [-0.48, +4.48]`` (points;
    ``—`` without a seed; one seed: no interval), with ``mark`` appended where the 95 % interval
    excludes 0."""
    return [str(PairedDifference(float(r.mean), float(r.low), float(r.high), int(r.n)))
            + (mark if r.excludes_zero else "")
            for r in comparisons[["mean", "low", "high", "n", "excludes_zero"]].itertuples(index=False)]


def format_comparisons(comparisons: pd.DataFrame, *, mark: str = " *") -> pd.DataFrame:
    """Table 1's paired comparisons as a readable table.

    Args:
        comparisons: :func:`stingylib.experiments.table1_comparisons` output.
        mark: appended to a cell whose 95 % interval excludes 0.

    Returns:
        One row per teacher → student pair (``ResNet-18 → MobileNetV2``), one column per comparison
        (in the order of :data:`stingylib.experiments.COMPARISONS`) with cells ``mean [low, high]``
        in points (``—`` where a comparison does not apply or has no seed; one seed: no interval),
        and a column ``seeds (n)``: the number of seeds paired (a range when the comparisons differ).
    """
    missing = [c for c in _COMPARISON_COLUMNS if c not in comparisons.columns]
    if missing:
        raise ValueError(f"comparisons lack column(s) {missing}; expected table1_comparisons output")
    rows: dict[str, dict[str, object]] = {}
    seeds: dict[str, list[int]] = {}
    texts = difference_texts(comparisons, mark=mark)
    for r, text in zip(comparisons.itertuples(index=False), texts):
        key = _pair_label(r.teacher, r.student)
        rows.setdefault(key, {})[r.comparison] = text
        seeds.setdefault(key, []).append(int(r.n))
    order = [c for c in COMPARISONS if c in set(comparisons["comparison"])]
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=order)
    frame = frame.astype(object).where(frame.notna(), "—")
    frame["seeds (n)"] = [str(min(n)) if min(n) == max(n) else f"{min(n)}–{max(n)}" for n in seeds.values()]
    frame.index.name = "Teacher → student"
    return frame


def mean_differences(table: ResultTable, like: pd.DataFrame) -> pd.DataFrame:
    """The comparisons of ``like`` computed from the means of a Table 1 (e.g. the paper's, one number
    per cell): ``mean`` is the difference of the two cells, with no interval (``n`` = 1 where both
    cells have a number, else 0).

    Args:
        table: a Table 1 (:func:`stingylib.paper.paper_table1` or
            :func:`stingylib.experiments.table1_frame`).
        like: rows (``teacher``, ``student``, ``comparison``), e.g. a
            :func:`~stingylib.experiments.table1_comparisons` output; a pair absent from ``table``
            gives NaN.
    """
    mean = table.mean
    rows = []
    for r in like[["teacher", "student", "comparison"]].itertuples(index=False):
        a, b = ((BASELINE_ROW if v == "baseline" else (r.teacher, v)) for v in COMPARISONS[r.comparison])
        present = a in mean.index and b in mean.index and r.student in mean.columns
        diff = float(mean.loc[a, r.student] - mean.loc[b, r.student]) if present else math.nan
        rows.append({"teacher": r.teacher, "student": r.student, "comparison": r.comparison, "mean": diff,
                     "low": math.nan, "high": math.nan, "n": int(not math.isnan(diff)), "excludes_zero": False})
    return pd.DataFrame(rows, columns=_COMPARISON_COLUMNS)


def claim_counts(comparisons: pd.DataFrame, reference: pd.DataFrame | None = None, *,
                 reference_name: str = "reference") -> pd.DataFrame:
    """How many cells go the way each comparison of :data:`CLAIMS` is counted.

    Args:
        comparisons: :func:`stingylib.experiments.table1_comparisons` output.
        reference: optional differences over the same cells from elsewhere (the paper's, by
            :func:`mean_differences`), counted beside.
        reference_name: what the reference's columns are called (e.g. ``"paper"``).

    Returns:
        A frame with one row per claim, indexed by its description (e.g. ``stingy below nasty``), and
        the columns ``cells`` (cells with a mean difference), ``in that direction`` (of those, the mean has the claimed sign),
        ``interval excludes 0`` (of those, the 95 % interval excludes 0), and with ``reference``,
        ``<reference_name>: cells`` and ``<reference_name>: in that direction``.
    """
    rows = {}
    for comparison, (description, sign) in CLAIMS.items():
        part = comparisons[comparisons["comparison"] == comparison]
        known = part[part["mean"].notna()]
        way = known[np.sign(known["mean"]) == sign]
        row = {"comparison": comparison, "cells": len(known), "in that direction": len(way),
               "interval excludes 0": int(way["excludes_zero"].astype(bool).sum())}
        if reference is not None:
            ref = reference[(reference["comparison"] == comparison) & reference["mean"].notna()]
            row.update({f"{reference_name}: cells": len(ref),
                        f"{reference_name}: in that direction": int((np.sign(ref["mean"]) == sign).sum())})
        rows[description] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "claim"
    return frame


def adversarial_kl(record: RunRecord, epoch: int | None = None) -> float:
    """KL(p_τA(nasty) ‖ p_τA(normal)) of a nasty teacher's training at ``epoch`` (1-based; default:
    the last), from its history's ``train_adversarial`` = ω·τ_A²·KL (NaN when ω is 0 or the term is
    not recorded)."""
    method = record.config.method
    history = record.history
    epoch = len(history) if epoch is None else int(epoch)
    if not 1 <= epoch <= len(history):
        raise ValueError(f"epoch must be in 1..{len(history)}; got {epoch}")
    scale = float(method.omega) * float(method.temperature) ** 2
    value = history[epoch - 1].get("train_adversarial")
    return math.nan if value is None or scale == 0 else float(value) / scale


def _seen_epoch(record: RunRecord) -> int:
    """The epoch whose weights students see: selected on validation, else the last."""
    return record.selected_epoch if record.selected_epoch is not None else len(record.history)


def _teacher_records(profile: Profile, store: RunStore, recipe: Recipe | None = None,
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
        A frame with one row per architecture, indexed by its paper label, and the columns ``normal``
        and ``nasty`` test accuracy (%),
        ``nasty − normal`` (points), the nasty teacher's adversarial KL (:func:`adversarial_kl`) at
        its last epoch and at the epoch students see, and its ``ω`` and ``τ_A``.
    """
    rows = {}
    for model, records in _teacher_records(profile, store, recipe, models).items():
        normal, nasty = records["normal"], records["nasty"]
        method = nasty.config.method
        rows[label(model)] = {
            "normal": teacher_accuracy(normal), "nasty": teacher_accuracy(nasty),
            "nasty − normal": teacher_accuracy(nasty) - teacher_accuracy(normal),
            "KL, last epoch": adversarial_kl(nasty),
            "KL, epoch students see": adversarial_kl(nasty, _seen_epoch(nasty)),
            "ω": float(method.omega), "τ_A": float(method.temperature)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Teacher"
    return frame


def teacher_epochs(profile: Profile, store: RunStore, recipe: Recipe | None = None,
                   models: Sequence[str] | None = None) -> str:
    """Markdown: the teachers' seed and, per teacher, the epoch whose weights students see out of its
    epochs (selected on validation when the profile has a validation split, else the last)."""
    how = "selected on validation" if (profile.table1 if recipe is None else recipe).val_per_class else "the last"
    parts = []
    for model, records in _teacher_records(profile, store, recipe, models).items():
        parts.append(f"{label(model)} " + ", ".join(
            f"{variant} {_seen_epoch(r)}/{len(r.history)}" for variant, r in records.items()))
    return (f"One teacher per architecture, seed {profile.teacher_seed}. Epoch students see ({how}) / "
            f"epochs: {'; '.join(parts)}.")
