"""The figure: KD from stingy-sparse and stingy-smooth teachers swept over N, from a reversed-logits
teacher, from the normal and the nasty teacher, and the student's baseline, for one teacher–student
pair; and the same pair at a second temperature.

The curves, the reversed point and the first normal-KD point are distilled at the recipe's stingy τ
(:func:`~stingylib.experiments.builders.stingy_temperature`: Table 1's one τ, unless the recipe
keeps the authors' CIFAR-10 pair of temperatures), so the curves end on that point at N = K; the
nasty point is Table 1's nasty cell, and, when the stingy τ differs from Table 1's, a second
normal-KD point is Table 1's normal cell (:data:`NORMAL_KD_TEMPERATURE`); the baseline is N = 0.
The recipe's N, the normal and nasty points and the baseline have every student seed; the rest of
the sweep has the profile's sweep seeds. At the recipe's ``second_temperature`` the pair is
distilled from the normal, the nasty and the stingy teacher again (the profile's side seeds), so
that a reader sees how much of each effect is the temperature (:func:`figure_temperatures`). The
student has the model's own width (the paper's pair is the teacher-self one), not the profile's
Table 1 width.
"""

from __future__ import annotations

import pandas as pd

from ..data import DATASETS
from ..profiles import Profile, get_profile
from ..runs import RunStore
from ..stats import PairedDifference, paired_difference, summarize
from .base import COMMON_SETTINGS, Cell, Experiment, register
from .builders import VARIANTS, kd_run, stingy_temperature, supervised_run, teacher_runs, teacher_setting
from .reading import by_seed, cell_values

#: The figure's normal-KD point at Table 1's τ, when the curves' (stingy) τ differs from it.
NORMAL_KD_TEMPERATURE = "normal_kd_temperature"
#: Suffix of the points at the recipe's second temperature (``normal_second``, ``nasty_second``,
#: ``stingy_second``).
SECOND = "_second"


def figure_cells(profile: Profile) -> list[Cell]:
    """Every point of the figure: (curve, N) → student accuracy (see the module's docstring): curves
    ``stingy_sparse`` and ``stingy_smooth`` over N, the points ``reversed``, ``normal``, ``nasty`` and
    (when the stingy τ differs from Table 1's) ``normal_kd_temperature`` (N = K), ``baseline``
    (N = 0), and at the second τ ``normal_second``, ``nasty_second`` (N = K) and ``stingy_second``
    (the recipe's N)."""
    r, s = profile.table1, profile.figure_student
    num_classes = DATASETS[r.dataset].num_classes
    teachers = teacher_runs(profile, r, profile.figure_teacher)
    teacher = teachers["normal"]
    smooth_keeps = profile.figure_keeps if profile.figure_smooth_keeps is None else profile.figure_smooth_keeps
    side = profile.side_seeds or profile.seeds
    tau = stingy_temperature(r)  # the curves' τ
    cells = []
    for seed in sorted(set(profile.seeds) | set(profile.sweep_seeds) | set(side)):
        every = seed in profile.seeds
        for transform, keeps in (("stingy_sparse", profile.figure_keeps), ("stingy_smooth", smooth_keeps)):
            for keep in keeps:
                if seed in profile.sweep_seeds or (every and keep == r.keep):
                    kd = kd_run(profile, r, s, teacher, seed, transform=transform, keep=keep,
                                temperature=tau, table_student=False)
                    cells.append(Cell((transform,), str(keep), seed, kd, "student"))
        if seed in profile.sweep_seeds:
            cells.append(Cell(("reversed",), str(num_classes), seed,
                              kd_run(profile, r, s, teacher, seed, transform="reversed", keep=None,
                                     temperature=tau, table_student=False), "student"))
        if every:
            cells.append(Cell(("normal",), str(num_classes), seed,
                              kd_run(profile, r, s, teacher, seed, transform="normal", keep=None, temperature=tau,
                                     table_student=False), "student"))
            cells.append(Cell(("nasty",), str(num_classes), seed,
                              kd_run(profile, r, s, teachers["nasty"], seed, **teacher_setting(r, "nasty"),
                                     table_student=False), "student"))
            if tau != r.temperature:
                cells.append(Cell((NORMAL_KD_TEMPERATURE,), str(num_classes), seed,
                                  kd_run(profile, r, s, teacher, seed, **teacher_setting(r, "normal"),
                                         table_student=False), "student"))
            cells.append(Cell(("baseline",), "0", seed, supervised_run(profile, r, s, seed), "student"))
        if r.second_temperature is not None and seed in side:
            for variant in VARIANTS:
                shown = teacher_setting(r, variant, r.second_temperature)
                keep = shown["keep"] or num_classes
                cells.append(Cell((variant + SECOND,), str(keep), seed,
                                  kd_run(profile, r, s, teachers[variant], seed, **shown, table_student=False),
                                  "student"))
    return cells


def figure_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's points: one row per (curve, N) with mean, std, count and collapsed count over
    seeds. Curves: ``stingy_sparse`` and ``stingy_smooth`` over N, and the single points
    ``reversed``, ``normal`` and ``nasty`` (N = K), ``baseline`` (no teacher, N = 0) and the second
    τ's points (:data:`SECOND`)."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    long["curve"] = [row[0] for row in long["row"]]
    long["keep"] = long["column"].astype(int)
    grouped = long.groupby(["curve", "keep"], sort=False)
    frame = grouped["value"].agg(["mean", "std", "count"])
    frame["collapsed"] = grouped["collapsed"].sum().astype(int)
    return frame.reset_index()


def figure_comparisons(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's paired comparisons over student seeds (95 % t intervals): the stingy-sparse and
    stingy-smooth students at the recipe's N against the normal-KD student (same τ), the normal-KD,
    nasty and sparse students against the baseline, stingy against nasty (at their Table 1 settings),
    Table 1's normal-KD point when its τ differs, and the same at the second τ."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    k, n = str(profile.table1.keep), str(DATASETS[profile.table1.dataset].num_classes)
    points = {"sparse": (("stingy_sparse",), k), "smooth": (("stingy_smooth",), k), "normal": (("normal",), n),
              "nasty": (("nasty",), n), "baseline": (("baseline",), "0")}
    pairs = [("sparse", "normal"), ("smooth", "normal"), ("sparse", "baseline"), ("normal", "baseline"),
             ("nasty", "baseline"), ("sparse", "nasty")]
    if stingy_temperature(profile.table1) != profile.table1.temperature:
        points["normal (KD τ)"] = ((NORMAL_KD_TEMPERATURE,), n)
        pairs += [("normal (KD τ)", "baseline"), ("normal", "normal (KD τ)")]
    if profile.table1.second_temperature is not None:
        tau2 = f" (τ {profile.table1.second_temperature:g})"
        points.update({"normal" + tau2: (("normal" + SECOND,), n), "nasty" + tau2: (("nasty" + SECOND,), n),
                       "sparse" + tau2: (("stingy" + SECOND,), k)})
        pairs += [("normal" + tau2, "baseline"), ("sparse" + tau2, "normal" + tau2),
                  ("sparse" + tau2, "nasty" + tau2), ("nasty" + tau2, "baseline")]
    rows = []
    for a, b in pairs:
        diff = paired_difference(by_seed(long, *points[a]), by_seed(long, *points[b]))
        rows.append({"comparison": f"{a} − {b}", "mean": diff.mean, "low": diff.low, "high": diff.high,
                     "n": diff.n, "excludes_zero": diff.excludes_zero})
    return pd.DataFrame(rows, columns=["comparison", "mean", "low", "high", "n", "excludes_zero"])


def figure_temperatures(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's pair distilled from each teacher kind at the recipe's τ and at its second τ: one
    row per teacher kind (normal, nasty, stingy), one column per τ, each ``mean ± std (n)``. Empty
    when the recipe has no second τ."""
    profile = get_profile(profile)
    r = profile.table1
    if r.second_temperature is None:
        return pd.DataFrame()
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    k, n = str(r.keep), str(DATASETS[r.dataset].num_classes)
    if stingy_temperature(r) != r.temperature:
        raise ValueError("figure_temperatures needs one τ for every teacher (Recipe.stingy_temperature None)")
    first = {"normal": (("normal",), n), "nasty": (("nasty",), n), "stingy": (("stingy_sparse",), k)}
    out = {}
    for variant in VARIANTS:
        second = ((variant + SECOND,), k if variant == "stingy" else n)
        out[variant] = {f"τ = {tau:g}": str(summarize([v for v in by_seed(long, *where).values() if v == v]))
                        for tau, where in ((r.temperature, first[variant]), (r.second_temperature, second))}
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "teacher"
    return frame


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
