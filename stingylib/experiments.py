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

TARGETS = ("table1", "table2", "figure", "all")
#: The baseline row of Table 1 (students trained on the labels alone).
BASELINE_ROW = ("student baseline", "baseline")
VARIANTS = ("normal", "nasty", "stingy")
SELF = "teacher_self"


# --------------------------------------------------------------------------------------------
# Run builders
# --------------------------------------------------------------------------------------------


def _common(profile: Profile, recipe: Recipe, model: str, seed: int) -> dict:
    return dict(model=model, dataset=recipe.dataset, width=profile.width(model), seed=seed, epochs=recipe.epochs,
                lr=recipe.lr, milestones=recipe.milestones, gamma=recipe.gamma, batch_size=recipe.batch_size,
                train_per_class=recipe.train_per_class, test_per_class=recipe.test_per_class,
                precision=profile.precision(model))


def supervised_run(profile: Profile, recipe: Recipe, model: str, seed: int) -> RunConfig:
    """A network trained on the labels alone: a normal teacher, or a student's baseline."""
    return RunConfig(method=Supervised(), **_common(profile, recipe, model, seed))


def nasty_run(profile: Profile, recipe: Recipe, model: str, seed: int) -> RunConfig:
    """A nasty teacher trained against the normal network of the same architecture."""
    adversary = supervised_run(profile, recipe, model, seed)
    nasty = Nasty(adversary=adversary.run_id, temperature=recipe.nasty_temperature, omega=recipe.nasty_omega)
    return RunConfig(method=nasty, **_common(profile, recipe, model, seed))


def teacher_runs(profile: Profile, recipe: Recipe, model: str, seed: int) -> dict[str, RunConfig]:
    """The run behind each teacher variant (the stingy teacher *is* the normal run)."""
    normal = supervised_run(profile, recipe, model, seed)
    return {"normal": normal, "nasty": nasty_run(profile, recipe, model, seed), "stingy": normal}


def view(recipe: Recipe, variant: str) -> dict:
    """How a student sees a teacher variant: transform, N and KD temperature."""
    if variant == "stingy":
        return dict(transform="stingy_sparse", keep=recipe.keep, temperature=recipe.stingy_temperature)
    return dict(transform="normal", keep=None, temperature=recipe.kd_temperature)


def kd_run(profile: Profile, recipe: Recipe, student: str, teacher: RunConfig, seed: int, *, transform: str,
           keep: int | None, temperature: float) -> RunConfig:
    """A student distilled from ``teacher`` seen through ``transform``."""
    num_classes = DATASETS[recipe.dataset].num_classes
    if keep == num_classes:  # top-K of K classes is the normal teacher: share that run
        transform, keep, temperature = "normal", None, recipe.kd_temperature
    kd = KD(teacher=teacher.run_id, transform=transform, keep=keep, temperature=temperature, alpha=recipe.alpha)
    return RunConfig(method=kd, **_common(profile, recipe, student, seed))


def dafl_run(profile: Profile, dafl: DaflRecipe, teacher: RunConfig, variant: str, seed: int) -> RunConfig:
    """A DAFL student of a teacher variant (the stingy view applies to every teacher logit output)."""
    base = _common(profile, dafl.teacher, dafl.student_model, seed)
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
    field: str  # "student" (the profile's accuracy metric), "teacher" (final weights), "shown_teacher"


def table1_cells(profile: Profile) -> list[Cell]:
    """Every number of Table 1: teacher accuracy and student accuracy per (teacher, variant)."""
    r = profile.table1
    cells = []
    for seed in profile.seeds:
        for student in profile.students:
            cells.append(Cell(("student baseline", "baseline"), student, seed,
                              supervised_run(profile, r, student, seed), "student"))
        for teacher in profile.teachers:
            runs = teacher_runs(profile, r, teacher, seed)
            for variant in VARIANTS:
                row = (teacher, variant)
                columns = [s for s in profile.students] + [SELF]
                kds = {c: kd_run(profile, r, teacher if c == SELF else c, runs[variant], seed, **view(r, variant))
                       for c in columns}
                if variant == "stingy":  # the stingy teacher's accuracy, measured through its transform
                    cells.append(Cell(row, "teacher_accuracy", seed, kds[SELF], "shown_teacher"))
                else:
                    cells.append(Cell(row, "teacher_accuracy", seed, runs[variant], "teacher"))
                cells += [Cell(row, c, seed, kd, "student") for c, kd in kds.items()]
    return cells


def table2_cells(profile: Profile) -> list[Cell]:
    """Every number of Table 2: per dataset and teacher variant, teacher and DAFL student accuracy."""
    cells = []
    for seed in profile.seeds:
        for dafl in profile.table2:
            runs = teacher_runs(profile, dafl.teacher, dafl.teacher_model, seed)
            for variant in VARIANTS:
                student = dafl_run(profile, dafl, runs[variant], variant, seed)
                row = (dafl.teacher.dataset, variant)
                if variant == "stingy":
                    cells.append(Cell(row, "teacher_accuracy", seed, student, "shown_teacher"))
                else:
                    cells.append(Cell(row, "teacher_accuracy", seed, runs[variant], "teacher"))
                cells.append(Cell(row, "dafl", seed, student, "student"))
    return cells


def figure_cells(profile: Profile) -> list[Cell]:
    """Every point of the figure: (curve, N) → student accuracy."""
    r, t, s = profile.table1, profile.figure_teacher, profile.figure_student
    num_classes = DATASETS[r.dataset].num_classes
    cells = []
    for seed in profile.seeds:
        teacher = supervised_run(profile, r, t, seed)
        for transform in ("stingy_sparse", "stingy_smooth"):
            for keep in profile.figure_keeps:
                kd = kd_run(profile, r, s, teacher, seed, transform=transform, keep=keep,
                            temperature=r.stingy_temperature)
                cells.append(Cell((transform,), str(keep), seed, kd, "student"))
        cells.append(Cell(("reversed",), str(num_classes), seed,
                          kd_run(profile, r, s, teacher, seed, transform="reversed", keep=None,
                                 temperature=r.stingy_temperature), "student"))
        cells.append(Cell(("normal",), str(num_classes), seed,
                          kd_run(profile, r, s, teacher, seed, **view(r, "normal")), "student"))
        cells.append(Cell(("baseline",), "0", seed, supervised_run(profile, r, s, seed), "student"))
    return cells


CELLS = {"table1": table1_cells, "table2": table2_cells, "figure": figure_cells}


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
    for seed in profile.seeds:  # teachers and adversaries are reachable only as dependencies
        for teacher in profile.teachers + (profile.figure_teacher,):
            configs += list(teacher_runs(profile, profile.table1, teacher, seed).values())
        for dafl in profile.table2:
            configs += list(teacher_runs(profile, dafl.teacher, dafl.teacher_model, seed).values())
    return configs


def plan(profile: Profile | str, target: str) -> list[RunConfig]:
    """The runs of ``target`` (``table1``, ``table2``, ``figure`` or ``all``), dependencies first,
    each exactly once."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}; got {target!r}")
    names = list(CELLS) if target == "all" else [target]
    return list(_with_dependencies((c.run for n in names for c in CELLS[n](profile)), profile).values())


# --------------------------------------------------------------------------------------------
# Reading results back
# --------------------------------------------------------------------------------------------


def _cell_values(cells: list[Cell], store: RunStore, metric: str) -> pd.DataFrame:
    """Long frame: one row per cell and seed, with the number or NaN when the run is missing."""
    if metric not in ("best_accuracy", "final_accuracy"):
        raise ValueError(f"metric must be 'best_accuracy' or 'final_accuracy'; got {metric!r}")
    rows = []
    cache: dict[str, object] = {}
    for cell in cells:
        rid = cell.run.run_id
        if rid not in cache:
            cache[rid] = _read(store, rid)
        record = cache[rid]
        value = np.nan
        if record is not None:
            value = {"student": getattr(record, metric), "teacher": record.final_accuracy,
                     "shown_teacher": record.teacher_accuracy}[cell.field]
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


def table1_frame(profile: Profile | str, store: RunStore, metric: str = "best_accuracy") -> ResultTable:
    """Table 1 with the paper's rows (baseline, then teacher × variant) and columns (teacher accuracy,
    the students, teacher self). Deltas: students against their baseline row; teacher self and the
    teacher accuracy against the normal teacher (the teacher architecture's own baseline)."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    mean, std, count = _aggregate(_cell_values(table1_cells(profile), store, metric))
    columns = ["teacher_accuracy", *profile.students, SELF]
    order = [BASELINE_ROW] + [(t, v) for t in profile.teachers for v in VARIANTS]
    mean, std, count = (_index(f.reindex(index=order, columns=columns), ["teacher", "variant"])
                        for f in (mean, std, count))
    return ResultTable(mean, std, count, table1_deltas(mean), metric=metric)


def table2_frame(profile: Profile | str, store: RunStore, metric: str = "best_accuracy") -> ResultTable:
    """Table 2: rows (dataset, variant), columns teacher accuracy and DAFL student accuracy; deltas
    against the normal teacher's row."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    mean, std, count = _aggregate(_cell_values(table2_cells(profile), store, metric))
    order = [(d.teacher.dataset, v) for d in profile.table2 for v in VARIANTS]
    mean, std, count = (_index(f.reindex(index=order, columns=["teacher_accuracy", "dafl"]), ["dataset", "variant"])
                        for f in (mean, std, count))
    return ResultTable(mean, std, count, table2_deltas(mean), metric=metric)


def figure_frame(profile: Profile | str, store: RunStore, metric: str = "best_accuracy") -> pd.DataFrame:
    """The figure's points: one row per (curve, N) with mean and std over seeds. Curves:
    ``stingy_sparse`` and ``stingy_smooth`` over N, and the single points ``reversed``, ``normal``
    (N = K) and ``baseline`` (no teacher, N = 0)."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    long = _cell_values(figure_cells(profile), store, metric)
    long["curve"] = [row[0] for row in long["row"]]
    long["keep"] = long["column"].astype(int)
    out = long.groupby(["curve", "keep"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return out


def status_frame(profile: Profile | str, store: RunStore, target: str = "all") -> pd.DataFrame:
    """Every run of ``target`` with its state (:data:`stingylib.runs.store.STATES`: ``done``, ``corrupt``,
    ``running``, ``interrupted`` or ``missing``) and whether its final weights exist."""
    rows = []
    for cfg in plan(profile, target):
        rid = cfg.run_id
        rows.append({"run_id": rid, "method": cfg.method.name, "model": cfg.model, "state": store.state(rid),
                     "weights": "yes" if store.has_weights(rid) else "no", "epochs": cfg.epochs})
    return pd.DataFrame(rows, columns=["run_id", "method", "model", "state", "weights", "epochs"])
