"""Table 1 (standard KD): teachers (normal, nasty, stingy) × students, and the students' baselines.

Rows: the students' baseline (trained on the labels alone), then per teacher architecture its
normal, nasty and stingy teacher; columns: the teacher's accuracy (as its students see it), each
student of the profile, and the teacher's own architecture ("teacher self", when the profile has
it). A stingy teacher is the normal teacher's run seen through ``stingy_sparse`` with the recipe's
N: it is never retrained, and its accuracy is measured through its transform.

Besides the table (:func:`table1_frame`), its paired comparisons over student seeds
(:func:`table1_comparisons`), how many cells go the way each of the paper's claims says
(:func:`claim_counts`), and the verdicts on those claims (:meth:`Table1.verdicts`), each by a rule
fixed before the runs (:func:`judge`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..profiles import Profile, get_profile
from ..runs import RunConfig, RunStore
from ..runs.metrics import COLLAPSE_LOSS, COLLAPSE_MARGIN
from ..stats import paired_difference
from .base import COMMON_SETTINGS, Cell, Experiment, register
from .builders import VARIANTS, kd_run, stingy_temperature, supervised_run, teacher_runs, teacher_setting
from .reading import ResultTable, aggregate, by_seed, cell_values, named_index

#: The baseline row of Table 1 (students trained on the labels alone).
BASELINE_ROW = ("student baseline", "baseline")
SELF = "teacher_self"
#: A stingy teacher "keeps its accuracy" when its test accuracy is within this many points of its
#: normal teacher's (one test image in 1,000 at 0.1; a tie between top logits can change a prediction).
SAME_ACCURACY = 0.1
#: Normal KD "does no harm" when the lower end of its paired interval against the baseline is above
#: minus this many points.
HARMLESS = 1.0
#: The row of the clipped-gradient controls (``Profile.clip_controls``): the stingy students again,
#: each step's gradient norm clipped.
CLIPPED = "stingy, clipped"

#: Table 1's paired comparisons, name → (condition a, condition b), each a Table 1 row's variant or
#: ``"baseline"``; the difference is ``a − b`` per student seed.
COMPARISONS = {
    "normal KD − baseline": ("normal", "baseline"),
    "stingy − normal KD": ("stingy", "normal"),
    "stingy − baseline": ("stingy", "baseline"),
    "stingy − nasty": ("stingy", "nasty"),
    "nasty − baseline": ("nasty", "baseline"),
    "clipped − stingy": (CLIPPED, "stingy"),
}

#: The comparisons whose direction the results pages count, each mapped to what the count is of and
#: the sign of the difference that counts.
CLAIMS: dict[str, tuple[str, int]] = {
    "normal KD − baseline": ("normal KD above the baseline", +1),
    "stingy − normal KD": ("stingy below normal KD", -1),
    "stingy − nasty": ("stingy below nasty", -1),
}


def table1_columns(profile: Profile) -> list[str]:
    """Table 1's student columns: the profile's students, and teacher self when the profile has it."""
    return list(profile.students) + ([SELF] if profile.teacher_self else [])


def table1_cells(profile: Profile) -> list[Cell]:
    """Every number of Table 1: teacher accuracy (the owner's one model per architecture) and student
    accuracy per (teacher, variant), for every student seed."""
    r = profile.table1
    cells = []
    teachers = {t: teacher_runs(profile, r, t) for t in profile.teachers}
    clip_seeds = profile.side_seeds or profile.seeds
    for seed in profile.seeds:
        for student in profile.students:
            cells.append(Cell(BASELINE_ROW, student, seed, supervised_run(profile, r, student, seed, student=True),
                              "student"))
        for teacher, runs in teachers.items():
            for variant in VARIANTS:
                row = (teacher, variant)
                kds = {c: kd_run(profile, r, teacher if c == SELF else c, runs[variant], seed,
                                 **teacher_setting(r, variant), table_student=c != SELF)
                       for c in table1_columns(profile)}
                # the teacher's accuracy as its students see it (through its transform, in the arithmetic
                # they run it in), measured by the first student of the cell
                first = next(iter(kds.values()))
                cells.append(Cell(row, "teacher_accuracy", seed, first, "shown_teacher"))
                cells += [Cell(row, c, seed, kd, "student") for c, kd in kds.items()]
                if variant == "stingy" and profile.clip_controls is not None and seed in clip_seeds:
                    cells += [Cell((teacher, CLIPPED), c, seed,
                                   kd_run(profile, r, teacher if c == SELF else c, runs[variant], seed,
                                          **teacher_setting(r, variant), table_student=c != SELF,
                                          clip_grad_norm=profile.clip_controls), "student")
                              for c in table1_columns(profile)]
    return cells


def table1_rows(profile: Profile) -> list[tuple[str, str]]:
    """Table 1's rows in order: the baseline, then per teacher its variants (and the clipped-gradient
    controls after the stingy row, when the profile has them)."""
    variants = list(VARIANTS) + ([CLIPPED] if profile.clip_controls is not None else [])
    return [BASELINE_ROW] + [(t, v) for t in profile.teachers for v in variants]


def table1_deltas(mean: pd.DataFrame) -> pd.DataFrame:
    """Table 1's parenthesised deltas, shared by this project's tables and the paper's.

    Args:
        mean: index (teacher, variant) with the baseline row ``("student baseline", "baseline")``;
            columns ``teacher_accuracy``, the students and ``teacher_self``.

    Returns:
        A frame like ``mean``: students minus their baseline; teacher self minus the normal
        teacher's accuracy; the nasty/stingy teacher's accuracy minus the normal teacher's; NaN
        elsewhere (the baseline row, the normal teacher's accuracy).
    """
    if BASELINE_ROW not in mean.index:
        raise ValueError(f"Table 1 needs the baseline row {BASELINE_ROW}; index is {list(mean.index)}")
    students = [c for c in mean.columns if c not in ("teacher_accuracy", SELF)]
    delta = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)
    for row in mean.index:
        if row == BASELINE_ROW:
            continue
        teacher, variant = row
        normal = mean.loc[(teacher, "normal"), "teacher_accuracy"] if (teacher, "normal") in mean.index else np.nan
        for s in students:
            delta.loc[row, s] = mean.loc[row, s] - mean.loc[BASELINE_ROW, s]
        if SELF in mean.columns:
            delta.loc[row, SELF] = mean.loc[row, SELF] - normal
        if variant != "normal" and "teacher_accuracy" in mean.columns:
            delta.loc[row, "teacher_accuracy"] = mean.loc[row, "teacher_accuracy"] - normal
    return delta


def table1_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> ResultTable:
    """Table 1 with the paper's rows (baseline, then teacher × variant) and columns (teacher accuracy,
    the students, teacher self). Deltas: students against their baseline row; teacher self and the
    teacher accuracy against the normal teacher (the teacher architecture's own baseline)."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    mean, std, count, fell = aggregate(cell_values(table1_cells(profile), store, metric))
    columns = ["teacher_accuracy", *table1_columns(profile)]
    order = table1_rows(profile)
    mean, std, count, fell = (named_index(f.reindex(index=order, columns=columns), ["teacher", "variant"])
                        for f in (mean, std, count, fell))
    return ResultTable(mean, std, count, table1_deltas(mean), metric=metric, collapsed=fell)


def table1_comparisons(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """Table 1's comparisons as paired differences over student seeds, with 95 % t intervals
    (:func:`stingylib.stats.paired_difference`).

    Returns:
        One row per (teacher, student, comparison of :data:`COMPARISONS`): ``mean``, ``low``,
        ``high``, ``n`` (seeds in both conditions) and ``excludes_zero``. Teacher self has no
        baseline, so its comparisons against the baseline are left out; so are the clipped-gradient
        controls' when the profile has none.
    """
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = cell_values(table1_cells(profile), store, metric)
    rows = []
    for teacher in profile.teachers:
        for student in table1_columns(profile):
            for name, (a, b) in COMPARISONS.items():
                if (student == SELF and "baseline" in (a, b)) or (CLIPPED in (a, b) and profile.clip_controls is None):
                    continue
                cells = [BASELINE_ROW if v == "baseline" else (teacher, v) for v in (a, b)]
                diff = paired_difference(by_seed(long, cells[0], student), by_seed(long, cells[1], student))
                rows.append({"teacher": teacher, "student": student, "comparison": name, "mean": diff.mean,
                             "low": diff.low, "high": diff.high, "n": diff.n, "excludes_zero": diff.excludes_zero})
    return pd.DataFrame(rows, columns=["teacher", "student", "comparison", "mean", "low", "high", "n",
                                       "excludes_zero"])


def claim_counts(comparisons: pd.DataFrame, reference: pd.DataFrame | None = None, *,
                 reference_name: str = "reference") -> pd.DataFrame:
    """How many cells go the way each comparison of :data:`CLAIMS` is counted.

    Args:
        comparisons: :func:`~stingylib.experiments.table1.table1_comparisons` output.
        reference: optional differences over the same cells from elsewhere (the paper's, by
            :func:`stingylib.paper.mean_differences`), counted beside.
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


def judge(row: pd.Series) -> str:
    """The rule for a claim counted over cells (a row of :func:`claim_counts`), fixed before the
    runs: "holds" (the claimed direction in most cells, most of them beyond seed noise), "partly"
    (the direction in most cells, but not beyond noise), or "does not hold"."""
    cells, way, sure = int(row["cells"]), int(row["in that direction"]), int(row["interval excludes 0"])
    if cells == 0:
        return "no results"
    if way * 2 > cells:
        return "holds" if sure * 2 > cells else "partly (the direction, not beyond seed noise)"
    return "does not hold"


#: How each counted claim reads in the verdicts: its title and what a cell "in that direction" means.
_PHRASES = {"normal KD above the baseline": ("**Normal KD helps** (the premise of the paper's test)",
                                             "normal KD is above the baseline"),
            "stingy below normal KD": ("**A stingy teacher takes KD's gain away**",
                                       "the stingy teacher's student is below the normal-KD student"),
            "stingy below nasty": ("**A stingy teacher harms its students more than a nasty one**",
                                   "the stingy teacher's student is below the nasty teacher's")}


def table1_verdicts(profile: Profile, table: ResultTable, comparisons: pd.DataFrame) -> list[str]:
    """Table 1's claims judged on a profile's numbers (Markdown list items, every number computed):
    a stingy teacher keeps its accuracy; normal KD helps; a stingy teacher takes KD's gain away (or,
    when normal KD gives no gain, whether stingy students end below their baselines); a stingy
    teacher harms more than a nasty one."""
    lines = []
    acc = table.mean["teacher_accuracy"]
    pairs = [(acc.get((t, "stingy")), acc.get((t, "normal"))) for t in profile.teachers]
    same = sum(abs(a - b) <= SAME_ACCURACY for a, b in pairs
               if a is not None and b is not None and not (np.isnan(a) or np.isnan(b)))
    lines.append(f"- **A stingy teacher keeps its accuracy**: {'holds' if same == len(pairs) else 'does not hold'}: "
                 f"measured as their students see them, {same} of {len(pairs)} stingy teachers score within "
                 f"{SAME_ACCURACY:g} points of their normal teacher's test accuracy (the top class is always shown; "
                 "only a tie between top logits can change a prediction).")
    kd = comparisons[(comparisons["comparison"] == "normal KD − baseline") & (comparisons["n"] > 1)]
    if len(kd):
        safe = int((kd["low"] > -HARMLESS).sum())
        lines.append(f"- **Normal KD does no harm** (rule: the lower end of its paired 95 % interval against the "
                     f"baseline above −{HARMLESS:g} point in every cell): "
                     f"{'holds' if safe == len(kd) else 'does not hold'}: {safe} of {len(kd)} cells.")
    counts = claim_counts(comparisons)
    premise = "normal KD above the baseline"
    kd_helps = premise in counts.index and judge(counts.loc[premise]) == "holds"
    for claim, (title, what) in _PHRASES.items():
        if claim not in counts.index:
            continue
        row = counts.loc[claim]
        judged = judge(row)
        if claim == "stingy below normal KD" and not kd_helps:
            judged = "cannot be tested here (normal KD gives no gain to take away)"
        line = (f"- {title}: {judged}: in {int(row['in that direction'])} of {int(row['cells'])} "
                f"cells {what} on average over the seeds, {int(row['interval excludes 0'])} of them "
                "with a 95 % interval excluding 0.")
        if claim == "stingy below nasty" and stingy_temperature(profile.table1) != profile.table1.temperature:
            line += (f" The two are distilled at different temperatures (stingy τ = "
                     f"{stingy_temperature(profile.table1):g}, nasty τ = {profile.table1.temperature:g}), so this "
                     "comparison is confounded by τ.")
        if claim == "stingy below normal KD" and not kd_helps:
            below = comparisons[(comparisons["comparison"] == "stingy − baseline") & (comparisons["n"] > 0)]
            line += (" What this shows instead is harm: the stingy "
                     f"teacher's student ends below its own baseline in {int((below['mean'] < 0).sum())} of "
                     f"{len(below)} cells ({int((below['excludes_zero'] & (below['mean'] < 0)).sum())} "
                     "beyond seed noise).")
        lines.append(line)
    lines.append(collapse_line(table))
    return lines


def collapse_line(table: ResultTable) -> str:
    """How many student seeds of each Table 1 row collapsed (:func:`stingylib.runs.metrics.collapsed`),
    over every cell of the row's kind (a Markdown list item)."""
    students = [c for c in table.mean.columns if c != "teacher_accuracy"]
    parts = []
    for variant in dict.fromkeys(v for _, v in table.mean.index):
        rows = [r for r in table.mean.index if r[1] == variant]
        fell = 0 if table.collapsed is None else int(np.nansum(table.collapsed.loc[rows, students].to_numpy(float)))
        seeds = int(np.nansum(table.count.loc[rows, students].to_numpy(dtype=float)))
        if seeds:
            parts.append(f"{variant}: {fell} of {seeds}")
    return (f"- **Collapsed students** (test accuracy within {COLLAPSE_MARGIN:g} points of chance, or a last-epoch "
            f"training loss over {COLLAPSE_LOSS:g}), seeds per kind of row, over every cell: " + "; ".join(parts)
            + ". The means above include them; each cell gives its own count.")


@register
class Table1(Experiment):
    """Table 1: standard KD from normal, nasty and stingy teachers (see the module's docstring)."""

    name = "table1"
    title = "Table 1: standard KD"
    notebook = "notebooks/table1.ipynb"
    settings = ("table1", "teachers", "students", "seeds", "teacher_self", *COMMON_SETTINGS)

    def cells(self, profile: Profile) -> list[Cell]:
        return table1_cells(profile)

    def runs(self, profile: Profile) -> list[RunConfig]:
        """Every teacher architecture's normal and nasty teacher (also reachable as dependencies)."""
        return [cfg for t in profile.teachers for cfg in teacher_runs(profile, profile.table1, t).values()]

    def table(self, profile: Profile, store: RunStore, metric: str | None = None) -> pd.DataFrame:
        return table1_frame(profile, store, metric).formatted()

    def verdicts(self, profile: Profile, store: RunStore, metric: str | None = None) -> list[str]:
        table, comparisons = table1_frame(profile, store, metric), table1_comparisons(profile, store, metric)
        return table1_verdicts(profile, table, comparisons)
