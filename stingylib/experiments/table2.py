"""Table 2 (data-free KD): per dataset, a teacher (normal, nasty, stingy) and its DAFL student.

The DAFL recipes of the profile (:class:`~stingylib.profiles.DaflRecipe`): a ResNet-34 teacher of
each dataset → a ResNet-18 student trained on generated images only. The stingy teacher is the
normal one with every logit output it gives the generator and the student seen through
``stingy_sparse``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..profiles import Profile, get_profile
from ..runs import RunConfig, RunStore
from .base import COMMON_SETTINGS, Cell, Experiment, register
from .builders import VARIANTS, dafl_run, teacher_runs
from .reading import ResultTable, aggregate, cell_values, named_index


def table2_cells(profile: Profile) -> list[Cell]:
    """Every number of Table 2: per dataset and teacher variant, teacher and DAFL student accuracy."""
    cells = []
    for seed in profile.table2_seeds:
        for dafl in profile.table2:
            runs = teacher_runs(profile, dafl.teacher, dafl.teacher_model)
            for variant in VARIANTS:
                student = dafl_run(profile, dafl, runs[variant], variant, seed)
                row = (dafl.teacher.dataset, variant)
                if variant == "stingy":
                    cells.append(Cell(row, "teacher_accuracy", seed, student, "shown_teacher"))
                else:
                    cells.append(Cell(row, "teacher_accuracy", seed, runs[variant], "teacher"))
                cells.append(Cell(row, "dafl", seed, student, "student"))
    return cells


def table2_deltas(mean: pd.DataFrame) -> pd.DataFrame:
    """Table 2's deltas: every cell of a
    nasty or stingy row minus the same dataset's normal row (NaN on the normal rows)."""
    delta = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)
    for dataset, variant in mean.index:
        if variant != "normal" and (dataset, "normal") in mean.index:
            delta.loc[(dataset, variant)] = (mean.loc[(dataset, variant)] - mean.loc[(dataset, "normal")]).to_numpy()
    return delta


def table2_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> ResultTable:
    """Table 2: rows (dataset, variant), columns teacher accuracy and DAFL student accuracy; deltas
    against the normal teacher's row."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    mean, std, count, fell = aggregate(cell_values(table2_cells(profile), store, metric))
    order = [(d.teacher.dataset, v) for d in profile.table2 for v in VARIANTS]
    mean, std, count, fell = (named_index(f.reindex(index=order, columns=["teacher_accuracy", "dafl"]),
                                    ["dataset", "variant"]) for f in (mean, std, count, fell))
    return ResultTable(mean, std, count, table2_deltas(mean), metric=metric, collapsed=fell)


def table2_verdicts(profile: Profile, table2: ResultTable) -> list[str]:
    """Per dataset: the DAFL students of the stingy and nasty teachers against the normal teacher's
    (Markdown list items; with one seed, explicitly not a finding)."""
    lines = []
    dafl = table2.mean["dafl"]
    for dataset in dict.fromkeys(d for d, _ in dafl.index):
        normal, nasty, stingy = (dafl.get((dataset, v), np.nan) for v in ("normal", "nasty", "stingy"))
        seeds = len(profile.table2_seeds)
        lines.append(f"- **Data-free KD (DAFL) on {dataset}**: the stingy teacher's student scores "
                     f"{stingy - normal:+.2f} points against the normal teacher's, the nasty teacher's "
                     f"{nasty - normal:+.2f}"
                     + (" — one seed, so not a finding either way." if seeds < 2 else f" (means over {seeds} seeds)."))
    return lines


@register
class Table2(Experiment):
    """Table 2: data-free KD (DAFL) from normal, nasty and stingy teachers."""

    name = "table2"
    title = "Table 2: data-free KD"
    notebook = "notebooks/table2.ipynb"
    settings = ("table2", "table2_seeds", *COMMON_SETTINGS)

    def cells(self, profile: Profile) -> list[Cell]:
        return table2_cells(profile)

    def runs(self, profile: Profile) -> list[RunConfig]:
        """Each dataset's normal and nasty DAFL teacher (also reachable as dependencies)."""
        return [cfg for d in profile.table2 for cfg in teacher_runs(profile, d.teacher, d.teacher_model).values()]

    def table(self, profile: Profile, store: RunStore, metric: str | None = None) -> pd.DataFrame:
        return table2_frame(profile, store, metric).formatted()

    def verdicts(self, profile: Profile, store: RunStore, metric: str | None = None) -> list[str]:
        return table2_verdicts(profile, table2_frame(profile, store, metric))
