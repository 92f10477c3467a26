"""The figure: KD from stingy-sparse and stingy-smooth teachers swept over N, from a reversed-logits
teacher, from the normal teacher, and the student's baseline, for one teacher–student pair.

Every curve point and the first normal-KD point are distilled at the recipe's stingy τ (so the
curves end on that point at N = K); a second normal-KD point is at the recipe's KD τ (the one
Table 1 uses), and the baseline is N = 0. The recipe's N, both normal points and the baseline have
every student seed; the rest of the sweep has the profile's sweep seeds. The student has the
model's own width (the paper's pair is the teacher-self one), not the profile's Table 1 width.
"""

from __future__ import annotations

import pandas as pd

from ..data import DATASETS
from ..profiles import Profile, get_profile
from ..runs import RunStore
from ..stats import PairedDifference, paired_difference
from .base import COMMON_SETTINGS, Cell, Experiment, register
from .builders import kd_run, supervised_run, teacher_runs, teacher_setting
from .reading import by_seed, cell_values

#: The figure's normal-KD point at the recipe's KD temperature (the curves use the stingy one).
NORMAL_KD_TEMPERATURE = "normal_kd_temperature"


def figure_cells(profile: Profile) -> list[Cell]:
    """Every point of the figure: (curve, N) → student accuracy (see the module's docstring): curves
    ``stingy_sparse`` and ``stingy_smooth`` over N, the points ``reversed`` and ``normal`` (N = K) at
    the stingy τ, ``normal_kd_temperature`` (N = K) at the KD τ, and ``baseline`` (N = 0)."""
    r, s = profile.table1, profile.figure_student
    num_classes = DATASETS[r.dataset].num_classes
    teacher = teacher_runs(profile, r, profile.figure_teacher)["normal"]
    cells = []
    for seed in sorted(set(profile.seeds) | set(profile.sweep_seeds)):
        every = seed in profile.seeds
        for transform in ("stingy_sparse", "stingy_smooth"):
            for keep in profile.figure_keeps:
                if seed in profile.sweep_seeds or (every and keep == r.keep):
                    kd = kd_run(profile, r, s, teacher, seed, transform=transform, keep=keep,
                                temperature=r.stingy_temperature, table_student=False)
                    cells.append(Cell((transform,), str(keep), seed, kd, "student"))
        if seed in profile.sweep_seeds:
            cells.append(Cell(("reversed",), str(num_classes), seed,
                              kd_run(profile, r, s, teacher, seed, transform="reversed", keep=None,
                                     temperature=r.stingy_temperature, table_student=False), "student"))
        if every:
            cells.append(Cell(("normal",), str(num_classes), seed,
                              kd_run(profile, r, s, teacher, seed, transform="normal", keep=None,
                                     temperature=r.stingy_temperature, table_student=False), "student"))
            cells.append(Cell((NORMAL_KD_TEMPERATURE,), str(num_classes), seed,
                              kd_run(profile, r, s, teacher, seed, **teacher_setting(r, "normal"),
                                     table_student=False), "student"))
            cells.append(Cell(("baseline",), "0", seed, supervised_run(profile, r, s, seed), "student"))
    return cells


def figure_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's points: one row per (curve, N) with mean and std over seeds. Curves:
    ``stingy_sparse`` and ``stingy_smooth`` over N, and the single points ``reversed``, ``normal``
    (N = K) and ``baseline`` (no teacher, N = 0)."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    long["curve"] = [row[0] for row in long["row"]]
    long["keep"] = long["column"].astype(int)
    return long.groupby(["curve", "keep"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()


def figure_comparisons(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's paired comparisons over student seeds (95 % t intervals): the stingy-sparse and
    stingy-smooth students at the recipe's N against the normal-KD student at the curves' temperature,
    that one against the normal-KD student at the KD temperature, and each against the baseline."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    k, n = str(profile.table1.keep), str(DATASETS[profile.table1.dataset].num_classes)
    points = {"sparse": (("stingy_sparse",), k), "smooth": (("stingy_smooth",), k), "normal": (("normal",), n),
              "normal (KD τ)": ((NORMAL_KD_TEMPERATURE,), n), "baseline": (("baseline",), "0")}
    pairs = [("sparse", "normal"), ("smooth", "normal"), ("sparse", "baseline"), ("normal", "baseline"),
             ("normal (KD τ)", "baseline"), ("normal", "normal (KD τ)")]
    rows = []
    for a, b in pairs:
        diff = paired_difference(by_seed(long, *points[a]), by_seed(long, *points[b]))
        rows.append({"comparison": f"{a} − {b}", "mean": diff.mean, "low": diff.low, "high": diff.high,
                     "n": diff.n, "excludes_zero": diff.excludes_zero})
    return pd.DataFrame(rows, columns=["comparison", "mean", "low", "high", "n", "excludes_zero"])


def figure_verdicts(profile: Profile, comparisons: pd.DataFrame) -> list[str]:
    """"Sparsity, not the missing ranking, is what hurts", judged on the figure's comparisons at the
    recipe's N: it holds when the sparse student is below normal KD beyond seed noise and the smooth
    one is not (Markdown list items)."""
    rows = comparisons.set_index("comparison")
    if not {"sparse − normal", "smooth − normal"} <= set(rows.index):
        return []

    def diff(name: str) -> PairedDifference:
        r = rows.loc[name]
        return PairedDifference(float(r["mean"]), float(r["low"]), float(r["high"]), int(r["n"]))

    sparse, smooth = diff("sparse − normal"), diff("smooth − normal")
    hurt = sparse.excludes_zero and sparse.mean < 0
    harmless = not (smooth.excludes_zero and smooth.mean < 0)
    return [f"- **Sparsity, not the missing ranking, is what hurts** (figure, N = {profile.table1.keep}): "
            f"{'holds' if hurt and harmless else 'does not hold'}: stingy-sparse minus normal KD {sparse} "
            f"points, stingy-smooth minus normal KD {smooth} points (same temperature; "
            "95 % intervals over seeds)."]


@register
class Figure(Experiment):
    """The sparse/smooth/reversed figure (see the module's docstring)."""

    name = "figure"
    title = "Sparse, smooth and reversed logits"
    notebook = "notebooks/figure.ipynb"
    settings = ("table1", "figure_teacher", "figure_student", "figure_keeps", "seeds", "sweep_seeds",
                *COMMON_SETTINGS)

    def cells(self, profile: Profile) -> list[Cell]:
        return figure_cells(profile)

    def table(self, profile: Profile, store: RunStore, metric: str | None = None) -> pd.DataFrame:
        return figure_frame(profile, store, metric)

    def verdicts(self, profile: Profile, store: RunStore, metric: str | None = None) -> list[str]:
        return figure_verdicts(profile, figure_comparisons(profile, store, metric))
