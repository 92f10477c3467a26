"""The paper's experiments as data: each table and the figure is a graph of runs plus a layout.

``plan(profile, "table1")`` returns every run Table 1 needs, dependencies first (a nasty teacher
after its normal adversary, a student after its teacher). A run shared by several tables — a
normal teacher, a baseline — has one config and so one id, and exists once. The ``*_frame``
functions read the finished runs' records back into the paper's tables as pandas DataFrames.

Table 1 (standard KD): teachers (normal, nasty, stingy) × students (the profile's students and the
teacher's own architecture, "teacher self"), plus the students' baselines. A stingy teacher is the
normal teacher's run seen through ``stingy_sparse`` with the recipe's N: it is never retrained.

Table 2 (data-free KD): a ResNet-34 teacher (normal, nasty, stingy) → a ResNet-18 student by DAFL.

Figure: KD from stingy-sparse and stingy-smooth teachers swept over N, from a reversed-logits
teacher, from the normal teacher, and the student's baseline, for one teacher–student pair.

Attacks (:mod:`stingylib.attack_grid`): students that try to undo the stingy teacher, and the
baselines that define "undistillable", for the figure's pair and one small student.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

import warnings

from .data import DATASETS
from .methods import DAFL, KD, Nasty, Supervised
from .profiles import DaflRecipe, Profile, Recipe, get_profile
from .runs import RecordError, RunConfig, RunStore

TARGETS = ("table1", "table2", "figure", "attacks", "all")
#: The baseline row of Table 1 (students trained on the labels alone).
BASELINE_ROW = ("student baseline", "baseline")
VARIANTS = ("normal", "nasty", "stingy")
SELF = "teacher_self"


# --------------------------------------------------------------------------------------------
# Run builders
# --------------------------------------------------------------------------------------------


def _common(profile: Profile, recipe: Recipe, model: str, seed: int, *, owner: bool = False,
            student: bool = False) -> dict:
    """The fields every run of ``recipe`` shares; ``owner``: a run of the model owner (a teacher), which
    follows the recipe's owner schedule and data when it has one; ``student``: a Table 1 / Table 2
    student (or its baseline), at the profile's student width of ``model``."""
    out = dict(model=model, dataset=recipe.dataset, width=profile.width(model, student=student), seed=seed,
               epochs=recipe.epochs,
               lr=recipe.lr, milestones=recipe.milestones, gamma=recipe.gamma, batch_size=recipe.batch_size,
               train_per_class=recipe.train_per_class, test_per_class=recipe.test_per_class,
               val_per_class=recipe.val_per_class, precision=profile.precision(model))
    if owner and recipe.owner is not None:
        out.update(epochs=recipe.owner.epochs, milestones=recipe.owner.milestones,
                   train_per_class=recipe.owner.train_per_class)
    return out


def supervised_run(profile: Profile, recipe: Recipe, model: str, seed: int, *, owner: bool = False,
                   student: bool = False) -> RunConfig:
    """A network trained on the labels alone: a student's baseline (``student``: at the profile's
    student width) or, with ``owner``, a normal teacher."""
    return RunConfig(method=Supervised(), **_common(profile, recipe, model, seed, owner=owner, student=student))


def nasty_run(profile: Profile, recipe: Recipe, model: str) -> RunConfig:
    """A nasty teacher trained against the normal teacher of the same architecture (the owner's runs)."""
    seed = profile.teacher_seed
    adversary = supervised_run(profile, recipe, model, seed, owner=True)
    nasty = Nasty(adversary=adversary.run_id, temperature=recipe.nasty_temperature, omega=recipe.nasty_omega)
    return RunConfig(method=nasty, **_common(profile, recipe, model, seed, owner=True))


def teacher_runs(profile: Profile, recipe: Recipe, model: str) -> dict[str, RunConfig]:
    """The run behind each teacher variant of ``model`` (the stingy teacher *is* the normal run): one
    model per architecture, of seed ``profile.teacher_seed``, trained by the owner's recipe."""
    normal = supervised_run(profile, recipe, model, profile.teacher_seed, owner=True)
    return {"normal": normal, "nasty": nasty_run(profile, recipe, model), "stingy": normal}


def view(recipe: Recipe, variant: str) -> dict:
    """How a student sees a teacher variant: transform, N and KD temperature."""
    if variant == "stingy":
        return dict(transform="stingy_sparse", keep=recipe.keep, temperature=recipe.stingy_temperature)
    return dict(transform="normal", keep=None, temperature=recipe.kd_temperature)


def kd_run(profile: Profile, recipe: Recipe, student: str, teacher: RunConfig, seed: int, *, transform: str,
           keep: int | None, temperature: float, table_student: bool = True) -> RunConfig:
    """A student distilled from ``teacher`` seen through ``transform`` (``table_student``: at the
    profile's student width; False: at the model's width, as the figure's and teacher-self students)."""
    num_classes = DATASETS[recipe.dataset].num_classes
    if keep == num_classes:  # top-K of K classes is the normal teacher (at the same temperature)
        transform, keep = "normal", None
    kd = KD(teacher=teacher.run_id, transform=transform, keep=keep, temperature=temperature, alpha=recipe.alpha)
    return RunConfig(method=kd, **_common(profile, recipe, student, seed, student=table_student))


def dafl_run(profile: Profile, dafl: DaflRecipe, teacher: RunConfig, variant: str, seed: int) -> RunConfig:
    """A DAFL student of a teacher variant (the stingy view applies to every teacher logit output)."""
    base = _common(profile, dafl.teacher, dafl.student_model, seed, student=True)
    base.update(epochs=dafl.epochs, lr=dafl.lr, milestones=dafl.milestones, gamma=dafl.gamma,
                batch_size=dafl.batch_size)
    shown = view(dafl.teacher, variant)
    method = DAFL(teacher=teacher.run_id, transform=shown["transform"], keep=shown["keep"],
                  latent_dim=dafl.latent_dim, iterations_per_epoch=dafl.iterations_per_epoch,
                  generator_lr=dafl.generator_lr, one_hot=dafl.one_hot, info_entropy=dafl.info_entropy,
                  activation=dafl.activation)
    return RunConfig(method=method, **base)


# --------------------------------------------------------------------------------------------
# Graphs: cells (what a table shows) → runs (what must be trained)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One number of a table: which record, which field of it."""

    row: tuple[str, ...]
    column: str
    seed: int
    run: RunConfig
    field: str  # "student" (the metric asked for), "teacher" (the weights students see), "shown_teacher"


def table1_columns(profile: Profile) -> list[str]:
    """Table 1's student columns: the profile's students, and teacher self when the profile has it."""
    return list(profile.students) + ([SELF] if profile.teacher_self else [])


def table1_cells(profile: Profile) -> list[Cell]:
    """Every number of Table 1: teacher accuracy (the owner's one model per architecture) and student
    accuracy per (teacher, variant), for every student seed."""
    r = profile.table1
    cells = []
    teachers = {t: teacher_runs(profile, r, t) for t in profile.teachers}
    for seed in profile.seeds:
        for student in profile.students:
            cells.append(Cell(BASELINE_ROW, student, seed, supervised_run(profile, r, student, seed, student=True),
                              "student"))
        for teacher, runs in teachers.items():
            for variant in VARIANTS:
                row = (teacher, variant)
                kds = {c: kd_run(profile, r, teacher if c == SELF else c, runs[variant], seed, **view(r, variant),
                                 table_student=c != SELF) for c in table1_columns(profile)}
                if variant == "stingy":  # the stingy teacher's accuracy, measured through its transform
                    first = next(iter(kds.values()))
                    cells.append(Cell(row, "teacher_accuracy", seed, first, "shown_teacher"))
                else:
                    cells.append(Cell(row, "teacher_accuracy", seed, runs[variant], "teacher"))
                cells += [Cell(row, c, seed, kd, "student") for c, kd in kds.items()]
    return cells


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


#: The figure's normal-KD point at the recipe's KD temperature (the curves use the stingy one).
NORMAL_KD_TEMPERATURE = "normal_kd_temperature"


def figure_cells(profile: Profile) -> list[Cell]:
    """Every point of the figure: (curve, N) → student accuracy.

    Curves ``stingy_sparse`` and ``stingy_smooth`` over N and the point ``reversed`` at the stingy
    temperature; ``normal`` (N = K) at that same temperature, so the curves end on it; the normal
    teacher at the recipe's KD temperature (``normal_kd_temperature``, a second reference line) and the
    baseline (N = 0). The recipe's N, both normal points and the baseline have every student seed; the
    rest of the sweep has the profile's sweep seeds. The student has the model's own width (the
    paper's pair is the teacher-self one), not the profile's Table 1 student width.
    """
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
                              kd_run(profile, r, s, teacher, seed, **view(r, "normal"), table_student=False), "student"))
            cells.append(Cell(("baseline",), "0", seed, supervised_run(profile, r, s, seed), "student"))
    return cells


def _attack_cells(profile: Profile) -> list[Cell]:
    from .attack_grid import attack_cells  # imports this module: loaded on first use

    return attack_cells(profile)


CELLS = {"table1": table1_cells, "table2": table2_cells, "figure": figure_cells, "attacks": _attack_cells}


def _with_dependencies(configs: Iterable[RunConfig], profile: Profile) -> dict[str, RunConfig]:
    """Every config plus the configs of the runs it depends on, dependencies first."""
    known = {c.run_id: c for c in _all_configs(profile)}
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


def _all_configs(profile: Profile) -> list[RunConfig]:
    configs = [cell.run for name in CELLS for cell in CELLS[name](profile)]
    # teachers and adversaries are reachable only as dependencies
    for teacher in profile.teachers + (profile.figure_teacher,):
        configs += list(teacher_runs(profile, profile.table1, teacher).values())
    for dafl in profile.table2:
        configs += list(teacher_runs(profile, dafl.teacher, dafl.teacher_model).values())
    return configs


def plan(profile: Profile | str, target: str) -> list[RunConfig]:
    """The runs of ``target`` (``table1``, ``table2``, ``figure``, ``attacks`` or ``all``), dependencies first,
    each exactly once."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}; got {target!r}")
    names = list(CELLS) if target == "all" else [target]
    return list(_with_dependencies((c.run for n in names for c in CELLS[n](profile)), profile).values())


# --------------------------------------------------------------------------------------------
# Reading results back
# --------------------------------------------------------------------------------------------


#: The accuracies a table can show (record fields, defined by ``stingylib.runs.ACCURACY_PROTOCOL``).
METRICS = ("selected_accuracy", "final_accuracy", "best_accuracy")


def check_metric(metric: str) -> str:
    """``metric`` if it is one of :data:`METRICS`, else a ValueError naming the allowed values."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}; got {metric!r}")
    return metric


def teacher_accuracy(record) -> float:
    """A teacher's test accuracy with the weights its students see: those selected on validation
    (``selected_accuracy``) when its run has a validation split, else its final ones."""
    return record.final_accuracy if record.selected_accuracy is None else record.selected_accuracy


def cell_values(cells: list[Cell], store: RunStore, metric: str) -> pd.DataFrame:
    """Long frame: one row per cell and seed (``row``, ``column``, ``seed``, ``value``, ``run_id``),
    with the number or NaN when the run is missing."""
    check_metric(metric)
    rows = []
    cache: dict[str, object] = {}
    for cell in cells:
        rid = cell.run.run_id
        if rid not in cache:
            cache[rid] = _read(store, rid)
        record = cache[rid]
        value = np.nan
        if record is not None:
            value = {"student": getattr(record, metric), "teacher": teacher_accuracy(record),
                     "shown_teacher": record.teacher_accuracy}[cell.field]
            value = np.nan if value is None else value
        rows.append({"row": cell.row, "column": cell.column, "seed": cell.seed, "value": value, "run_id": rid})
    return pd.DataFrame(rows)


def _read(store: RunStore, run_id: str):
    """A run's record; None when it is missing, or invalid (then with a warning naming the file)."""
    try:
        return store.load_record(run_id)
    except FileNotFoundError:
        return None
    except RecordError as err:
        warnings.warn(f"shown as missing: {err}", stacklevel=3)
        return None


def _aggregate(long: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    grouped = long.groupby(["row", "column"], sort=False)["value"]
    mean = grouped.mean().unstack("column")
    std = grouped.std(ddof=1).unstack("column")
    count = grouped.count().unstack("column")
    return mean, std, count


@dataclass
class ResultTable:
    """A results table: means over seeds, their std (NaN for one seed), the number of finished
    seeds, and the change of each cell against its reference (the paper's parenthesised numbers)."""

    mean: pd.DataFrame
    std: pd.DataFrame
    count: pd.DataFrame
    delta: pd.DataFrame
    metric: str

    def formatted(self) -> pd.DataFrame:
        """Strings in the paper's format, ``74.24 (+3.07)``, with ``± std`` when there are seeds."""

        def fmt(value: float, std: float, delta: float) -> str:
            if np.isnan(value):
                return "—"
            text = f"{value:.2f}"
            if not np.isnan(std):
                text += f" ± {std:.2f}"
            if not np.isnan(delta):
                text += f" ({delta:+.2f})"
            return text

        out = self.mean.copy().astype(object)
        for r in self.mean.index:
            for c in self.mean.columns:
                out.loc[r, c] = fmt(self.mean.loc[r, c], self.std.loc[r, c], self.delta.loc[r, c])
        return out


def _index(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=names)
    return frame


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


def table2_deltas(mean: pd.DataFrame) -> pd.DataFrame:
    """Table 2's deltas: every cell of a
    nasty or stingy row minus the same dataset's normal row (NaN on the normal rows)."""
    delta = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)
    for dataset, variant in mean.index:
        if variant != "normal" and (dataset, "normal") in mean.index:
            delta.loc[(dataset, variant)] = (mean.loc[(dataset, variant)] - mean.loc[(dataset, "normal")]).to_numpy()
    return delta


def table1_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> ResultTable:
    """Table 1 with the paper's rows (baseline, then teacher × variant) and columns (teacher accuracy,
    the students, teacher self). Deltas: students against their baseline row; teacher self and the
    teacher accuracy against the normal teacher (the teacher architecture's own baseline)."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    metric = profile.metric if metric is None else metric
    mean, std, count = _aggregate(cell_values(table1_cells(profile), store, metric))
    columns = ["teacher_accuracy", *table1_columns(profile)]
    order = [BASELINE_ROW] + [(t, v) for t in profile.teachers for v in VARIANTS]
    mean, std, count = (_index(f.reindex(index=order, columns=columns), ["teacher", "variant"])
                        for f in (mean, std, count))
    return ResultTable(mean, std, count, table1_deltas(mean), metric=metric)


def table2_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> ResultTable:
    """Table 2: rows (dataset, variant), columns teacher accuracy and DAFL student accuracy; deltas
    against the normal teacher's row."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    metric = profile.metric if metric is None else metric
    mean, std, count = _aggregate(cell_values(table2_cells(profile), store, metric))
    order = [(d.teacher.dataset, v) for d in profile.table2 for v in VARIANTS]
    mean, std, count = (_index(f.reindex(index=order, columns=["teacher_accuracy", "dafl"]), ["dataset", "variant"])
                        for f in (mean, std, count))
    return ResultTable(mean, std, count, table2_deltas(mean), metric=metric)


def figure_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's points: one row per (curve, N) with mean and std over seeds. Curves:
    ``stingy_sparse`` and ``stingy_smooth`` over N, and the single points ``reversed``, ``normal``
    (N = K) and ``baseline`` (no teacher, N = 0)."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    long["curve"] = [row[0] for row in long["row"]]
    long["keep"] = long["column"].astype(int)
    out = long.groupby(["curve", "keep"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return out


#: Table 1's paired comparisons, name → (condition a, condition b), each a Table 1 row's variant or
#: ``"baseline"``; the difference is ``a − b`` per student seed.
COMPARISONS = {
    "normal KD − baseline": ("normal", "baseline"),
    "stingy − normal KD": ("stingy", "normal"),
    "stingy − baseline": ("stingy", "baseline"),
    "stingy − nasty": ("stingy", "nasty"),
    "nasty − baseline": ("nasty", "baseline"),
}


def _by_seed(long: pd.DataFrame, row: tuple, column: str) -> dict[int, float]:
    """seed → value of one cell of a long frame (:func:`cell_values`)."""
    hit = long[(long["row"] == row) & (long["column"] == column)]
    return {int(s): float(v) for s, v in zip(hit["seed"], hit["value"])}


def table1_comparisons(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """Table 1's comparisons as paired differences over student seeds, with 95 % t intervals
    (:func:`stingylib.stats.paired_difference`).

    Returns:
        One row per (teacher, student, comparison of :data:`COMPARISONS`): ``mean``, ``low``,
        ``high``, ``n`` (seeds in both conditions) and ``excludes_zero``. Teacher self has no
        baseline, so its comparisons against the baseline are left out.
    """
    from .stats import paired_difference

    profile = get_profile(profile) if isinstance(profile, str) else profile
    metric = profile.metric if metric is None else metric
    long = cell_values(table1_cells(profile), store, metric)
    rows = []
    for teacher in profile.teachers:
        for student in table1_columns(profile):
            for name, (a, b) in COMPARISONS.items():
                if student == SELF and "baseline" in (a, b):
                    continue
                cells = [BASELINE_ROW if v == "baseline" else (teacher, v) for v in (a, b)]
                diff = paired_difference(_by_seed(long, cells[0], student), _by_seed(long, cells[1], student))
                rows.append({"teacher": teacher, "student": student, "comparison": name, "mean": diff.mean,
                             "low": diff.low, "high": diff.high, "n": diff.n, "excludes_zero": diff.excludes_zero})
    return pd.DataFrame(rows, columns=["teacher", "student", "comparison", "mean", "low", "high", "n",
                                       "excludes_zero"])


def figure_comparisons(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The figure's paired comparisons over student seeds (95 % t intervals): the stingy-sparse and
    stingy-smooth students at the recipe's N against the normal-KD student at the curves' temperature,
    that one against the normal-KD student at the KD temperature, and each against the baseline."""
    from .stats import paired_difference

    profile = get_profile(profile) if isinstance(profile, str) else profile
    metric = profile.metric if metric is None else metric
    long = cell_values(figure_cells(profile), store, metric)
    k, n = str(profile.table1.keep), str(DATASETS[profile.table1.dataset].num_classes)
    points = {"sparse": (("stingy_sparse",), k), "smooth": (("stingy_smooth",), k), "normal": (("normal",), n),
              "normal (KD τ)": ((NORMAL_KD_TEMPERATURE,), n), "baseline": (("baseline",), "0")}
    pairs = [("sparse", "normal"), ("smooth", "normal"), ("sparse", "baseline"), ("normal", "baseline"),
             ("normal (KD τ)", "baseline"), ("normal", "normal (KD τ)")]
    rows = []
    for a, b in pairs:
        diff = paired_difference(_by_seed(long, *points[a]), _by_seed(long, *points[b]))
        rows.append({"comparison": f"{a} − {b}", "mean": diff.mean, "low": diff.low, "high": diff.high,
                     "n": diff.n, "excludes_zero": diff.excludes_zero})
    return pd.DataFrame(rows, columns=["comparison", "mean", "low", "high", "n", "excludes_zero"])


def status_frame(profile: Profile | str, store: RunStore, target: str = "all") -> pd.DataFrame:
    """Every run of ``target`` with its state (:data:`stingylib.runs.store.STATES`: ``done``, ``corrupt``,
    ``running``, ``interrupted`` or ``missing``) and where its final weights are (``yes``: its own,
    ``shipped``, ``no``, or ``corrupt``: not the ones its record vouches for)."""
    rows = []
    for cfg in plan(profile, target):
        rid = cfg.run_id
        rows.append({"run_id": rid, "method": cfg.method.name, "model": cfg.model, "state": store.state(rid),
                     "weights": store.weights_status(rid), "epochs": cfg.epochs})
    return pd.DataFrame(rows, columns=["run_id", "method", "model", "state", "weights", "epochs"])
