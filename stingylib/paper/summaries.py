"""What the results pages compute from a profile's runs beyond the tables: paired comparisons made
readable, how many cells go each way, and the nasty teachers' own numbers.

- :func:`format_comparisons`: :func:`stingylib.experiments.table1.table1_comparisons` as one row per
  teacher → student pair and one column per comparison, cells ``+2.00 [-0.48, +4.48]``
  (:func:`difference_texts`, which formats any comparisons frame, the figure's too).
- :func:`mean_differences`: the same comparisons from a table of single numbers (the paper's), no
  interval.
- :func:`nasty_teachers` and :func:`teacher_epochs`: each architecture's normal and nasty teacher,
  the adversarial KL the nasty one reached, and the epoch whose weights students see (from
  :mod:`stingylib.experiments.teachers`, with the paper's labels).

How many cells go each claim's way (:func:`stingylib.experiments.table1.claim_counts`) is computed with
Table 1 and re-exported by :mod:`stingylib.paper`.

Nothing is read at import.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from ..experiments import BASELINE_ROW, COMPARISONS, SELF, ResultTable, teachers
from ..profiles import Profile, Recipe
from ..runs import RunStore
from ..stats import PairedDifference
from .display import label

_COMPARISON_COLUMNS = ["teacher", "student", "comparison", "mean", "low", "high", "n", "excludes_zero"]


def _pair_label(teacher: str, student: str) -> str:
    return f"{label(teacher)} → {label(teacher) + ' (teacher self)' if student == SELF else label(student)}"


def difference_texts(comparisons: pd.DataFrame, *, mark: str = " *") -> list[str]:
    """Each row of a comparisons frame (columns ``mean``, ``low``, ``high``, ``n``, ``excludes_zero``,
    as :func:`stingylib.experiments.table1.table1_comparisons` and
    :func:`~stingylib.experiments.figure.figure_comparisons` return) as ``+2.00 [-0.48, +4.48]`` (points;
    ``—`` without a seed; one seed: no interval), with ``mark`` appended where the 95 % interval
    excludes 0."""
    return [str(PairedDifference(float(r.mean), float(r.low), float(r.high), int(r.n)))
            + (mark if r.excludes_zero else "")
            for r in comparisons[["mean", "low", "high", "n", "excludes_zero"]].itertuples(index=False)]


def format_comparisons(comparisons: pd.DataFrame, *, mark: str = " *") -> pd.DataFrame:
    """Table 1's paired comparisons as a readable table.

    Args:
        comparisons: :func:`stingylib.experiments.table1.table1_comparisons` output.
        mark: appended to a cell whose 95 % interval excludes 0.

    Returns:
        One row per teacher → student pair (``ResNet-18 → MobileNetV2``), one column per comparison
        (in the order of :data:`stingylib.experiments.table1.COMPARISONS`) with cells ``mean [low, high]``
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
            :func:`stingylib.experiments.table1.table1_frame`).
        like: rows (``teacher``, ``student``, ``comparison``), e.g. a
            :func:`~stingylib.experiments.table1.table1_comparisons` output; a pair absent from ``table``
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


def nasty_teachers(profile: Profile, store: RunStore, recipe: Recipe | None = None,
                   models: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`stingylib.experiments.teachers.nasty_teachers` with the paper's row labels (index
    ``Teacher``: ``ResNet-18``, …): each architecture's normal and nasty teacher, their accuracy with
    the weights students see, and the nasty teacher's adversarial KL, ω and τ_A."""
    frame = teachers.nasty_teachers(profile, store, recipe, models)
    frame.index = pd.Index([label(m) for m in frame.index], name="Teacher")
    return frame


def teacher_epochs(profile: Profile, store: RunStore, recipe: Recipe | None = None,
                   models: Sequence[str] | None = None) -> str:
    """Markdown: the teachers' seed and, per teacher, the epoch whose weights students see out of its
    epochs (selected on validation when the profile has a validation split, else the last)."""
    how = "selected on validation" if (profile.table1 if recipe is None else recipe).val_per_class else "the last"
    parts = []
    for model, records in teachers.teacher_records(profile, store, recipe, models).items():
        parts.append(f"{label(model)} " + ", ".join(
            f"{variant} {teachers.seen_epoch(r)}/{len(r.history)}" for variant, r in records.items()))
    return (f"One teacher per architecture, seed {profile.teacher_seed}. Epoch students see ({how}) / "
            f"epochs: {'; '.join(parts)}.")
