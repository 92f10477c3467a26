"""The skeptical reader's experiment: can a student undo a stingy teacher?

A defence is judged by the best attack against it. The attacks and baselines (each with its
source) are those of :mod:`stingylib.attacks` and :class:`~stingylib.profiles.AttackRecipe`.

``attack_cells(profile)`` lists every number of the attack table: for each student of
:class:`~stingylib.profiles.AttackRecipe` and each of the profile's student seeds, one run per row:

- ``reference``: the student with no teacher (``baseline``), the label-smoothing student with no
  teacher (the bar of recent work on undistillable models), normal KD (the recipe's KD τ), and the
  naive student of the stingy teacher (the recipe's N, stingy τ and α);
- ``defence``: other teacher outputs to compare the stingy teacher with: a label-only teacher (its
  top-1 as a one-hot target), truncated top-N probabilities (not renormalised: the missing mass is
  spread over the other classes), and the stingy-smooth oracle (the true tail mean, which no
  attacker knows);
- ``attack``: students of the stingy teacher that use only what it shows: tail fill (δ), smoothed
  targets (ε), temperature × weight, logit standardisation of the student (τ), clipped targets
  (C), and the Skeptical Student.

The teacher is the figure's normal teacher, so the figure's student (ResNet-18) shares its normal,
stingy, smooth and baseline runs with the figure, and the small student its normal and stingy runs
with Table 1: one config, one id, one run.

``attack_frame`` reads the table back: mean ± std over seeds, the recovered fraction
``(attack − stingy) / (normal KD − stingy)`` and paired 95 % intervals against the stingy student
and the baseline; ``best_attacks`` picks, per student, the attack an attacker would pick, the one
with the best mean *validation* accuracy (``family_picks``: the same within each attack family),
and ``attack_verdicts`` applies the rule fixed beforehand (:data:`RECOVERY_BAR`). ``attack_diagnostics``
and ``mechanism_table`` return the per-epoch diagnostics (:mod:`stingylib.diagnostics`) of the KD
runs, for the mechanism figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..data import DATASETS
from ..diagnostics import diagnostic_keys
from ..methods import KD, Skeptical
from ..profiles import Profile, get_profile
from ..runs import DIAG_PREFIX, RunConfig, RunStore
from ..stats import paired_difference, summarize
from .base import COMMON_SETTINGS, Cell, Experiment, register
from .builders import common_fields, kd_run, stingy_temperature, supervised_run, teacher_runs
from .reading import by_seed, cell_values, read_record

#: The per-epoch diagnostics of a KD student, as the columns of :func:`attack_diagnostics`.
DIAG_KEYS = diagnostic_keys(KD)

GROUPS = ("reference", "defence", "attack")
#: The rows every comparison refers to, each as (group, name, setting).
BASELINE = ("reference", "no teacher", "baseline")
NORMAL = ("reference", "normal KD", "")
STINGY = ("reference", "stingy, naive student", "")


@dataclass(frozen=True)
class Row:
    """One row of the attack table: its key ``(group, name, setting)`` and how to build its run for a
    student and seed."""

    key: tuple[str, str, str]
    build: Callable[[str, int], RunConfig]
    family: str  # rows of one family are one attack swept over its parameter (the figure shows each family)


def _fmt(value: float) -> str:
    return f"{value:g}"


def attack_rows(profile: Profile) -> list[Row]:
    """The rows of the attack table, in order (see the module's docstring)."""
    r, a = profile.table1, profile.attacks
    teacher = teacher_runs(profile, r, profile.figure_teacher)["normal"]
    k = r.keep

    def table_student(student: str) -> bool:  # the figure's student at the model's width, as in the figure
        return student != profile.figure_student

    def kd(transform: str, keep: int | None, temperature: float, **options):
        def build(student: str, seed: int) -> RunConfig:
            return kd_run(profile, r, student, teacher, seed, transform=transform, keep=keep,
                          temperature=temperature, table_student=table_student(student), **options)
        return build

    def supervised(label_smoothing: float = 0.0):
        def build(student: str, seed: int) -> RunConfig:
            return supervised_run(profile, r, student, seed, student=table_student(student),
                                  label_smoothing=label_smoothing)
        return build

    def skeptical(student: str, seed: int) -> RunConfig:
        exits = dict(a.skeptical_exits)
        if student not in exits:
            raise ValueError(f"AttackRecipe.skeptical_exits has no exit for student {student!r}; it has {sorted(exits)}")
        method = Skeptical(teacher=teacher.run_id, transform="stingy_sparse", keep=k,
                           temperature=stingy_temperature(r), alpha=r.alpha, exit=exits[student],
                           delay=a.skeptical_delay)
        return RunConfig(method=method, **common_fields(profile, r, student, seed, student=table_student(student)))

    sparse = dict(transform="stingy_sparse", keep=k)
    tau_s = stingy_temperature(r)
    rows = [
        Row(BASELINE, supervised(), "baseline"),
        Row(("reference", "no teacher", f"label smoothing ε={_fmt(a.label_smoothing)}"), supervised(a.label_smoothing),
            "label smoothing"),
        Row(NORMAL, kd("normal", None, r.temperature), "normal"),
        Row(STINGY, kd(temperature=tau_s, **sparse), "stingy"),
        Row(("defence", "label-only teacher", f"τ={_fmt(a.label_only_temperature)}"),
            kd("stingy_sparse", 1, a.label_only_temperature), "label-only"),
        Row(("defence", "truncated top-N probabilities", ""), kd("truncated_topn", k, tau_s), "truncated"),
        Row(("defence", "stingy-smooth (oracle tail)", ""), kd("stingy_smooth", k, tau_s), "oracle"),
    ]
    rows += [Row(("attack", "tail fill", f"δ={_fmt(d)}"), kd(temperature=tau_s, attack="tail_fill", attack_value=d,
                                                              **sparse), "tail fill") for d in a.tail_deltas]
    rows += [Row(("attack", "smoothed target", f"ε={_fmt(e)}"), kd(temperature=tau_s, attack="smooth", attack_value=e,
                                                                    **sparse), "smoothed target") for e in a.smoothing]
    rows += [Row(("attack", "temperature × weight", f"τ={_fmt(t)}, α={_fmt(al)}"), kd(temperature=t, alpha=al, **sparse),
                 "temperature × weight")
             for t in a.temperatures for al in a.alphas if (t, al) != (tau_s, r.alpha)]  # that one is the naive student
    rows += [Row(("attack", "logit standardisation", f"τ={_fmt(t)}"), kd(temperature=t, standardize=True, **sparse),
                 "logit standardisation") for t in a.standardize_temperatures]
    rows += [Row(("attack", "clipped target", f"C={_fmt(c)}"), kd(temperature=tau_s, attack="clip", attack_value=c,
                                                                   **sparse), "clipped target") for c in a.clips]
    rows.append(Row(("attack", "skeptical student", f"delay {a.skeptical_delay}"), skeptical, "skeptical student"))
    num_classes = DATASETS[r.dataset].num_classes
    if k == num_classes:
        raise ValueError(f"the attack experiment needs a stingy teacher that hides something: keep={k} = K")
    return rows


def attack_cells(profile: Profile) -> list[Cell]:
    """Every number of the attack table: one :class:`~stingylib.experiments.base.Cell` per row, student and
    seed (column = the student)."""
    cells = []
    for row in attack_rows(profile):
        for student in profile.attacks.students:
            for seed in profile.seeds:
                cells.append(Cell(row.key, student, seed, row.build(student, seed), "student"))
    return cells


# --------------------------------------------------------------------------------------------
# Reading results back
# --------------------------------------------------------------------------------------------


def _long(profile: Profile, store: RunStore, metric: str) -> pd.DataFrame:
    return cell_values(attack_cells(profile), store, metric)


def attack_frame(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """The attack table in long form: one row per (table row, student) with ``mean``, ``std``, ``n``
    (finished seeds), ``recovered`` (the recovered fraction, on means), and the paired 95 % intervals
    of ``− stingy`` and ``− baseline`` (``vs_stingy``, ``vs_stingy_low``, ``vs_stingy_high``, and the
    same for the baseline; NaN where a row is its own reference)."""
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = _long(profile, store, metric)
    out = []
    references = {(student, ref): summarize(list(by_seed(long, ref, student).values())).mean
                  for student in profile.attacks.students for ref in (STINGY, NORMAL)}
    for row in attack_rows(profile):
        for student in profile.attacks.students:
            values = by_seed(long, row.key, student)
            s = summarize(list(values.values()))
            stingy, normal = references[(student, STINGY)], references[(student, NORMAL)]
            entry = {"group": row.key[0], "name": row.key[1], "setting": row.key[2], "family": row.family,
                     "student": student, "mean": s.mean, "std": s.std, "n": s.n,
                     "recovered": (s.mean - stingy) / (normal - stingy) if normal != stingy else np.nan}
            for ref_name, ref in (("stingy", STINGY), ("baseline", BASELINE)):
                diff = paired_difference(values, by_seed(long, ref, student)) if row.key != ref else None
                entry[f"vs_{ref_name}"] = np.nan if diff is None else diff.mean
                entry[f"vs_{ref_name}_low"] = np.nan if diff is None else diff.low
                entry[f"vs_{ref_name}_high"] = np.nan if diff is None else diff.high
            out.append(entry)
    return pd.DataFrame(out)


def validation_scores(profile: Profile | str, store: RunStore) -> dict[tuple[str, tuple], float]:
    """(student, row key) → mean validation accuracy at the selected epochs over the finished seeds:
    what an attacker may compare attacks by (never the test split). Needs a validation split."""
    profile = get_profile(profile)
    if profile.table1.val_per_class is None:
        raise ValueError(f"profile {profile.name!r} has no validation split: an attacker could pick an attack "
                         "only on the test split")
    scores: dict[tuple[str, tuple], list[float]] = {}
    for cell in attack_cells(profile):
        record = read_record(store, cell.run.run_id)
        if record is not None and record.selected_val_accuracy is not None:
            scores.setdefault((cell.column, cell.row), []).append(record.selected_val_accuracy)
    return {key: float(np.mean(v)) for key, v in scores.items()}


def family_picks(profile: Profile | str, store: RunStore) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(student, family) → the row of that family with the best mean validation accuracy (each
    attack's own best setting, chosen as an attacker would)."""
    profile = get_profile(profile)
    scores = validation_scores(profile, store)
    picks: dict[tuple[str, str], tuple[str, str, str]] = {}
    for row in attack_rows(profile):
        for student in profile.attacks.students:
            key = (student, row.family)
            score = scores.get((student, row.key))
            if score is not None and (key not in picks or score > scores[(student, picks[key])]):
                picks[key] = row.key
    return picks


def best_attacks(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """Per student, the attack with the best mean validation accuracy (what an attacker can choose
    without the test split) and its row of :func:`attack_frame`, with ``val_mean``. Needs a
    validation split."""
    profile = get_profile(profile)
    scores = validation_scores(profile, store)
    frame = attack_frame(profile, store, metric)
    chosen = []
    for student in profile.attacks.students:
        mine = {row: v for (s, row), v in scores.items() if s == student and row[0] == "attack"}
        if not mine:
            continue
        key = max(mine, key=mine.get)
        hit = frame[(frame["student"] == student) & (frame["group"] == key[0]) & (frame["name"] == key[1])
                    & (frame["setting"] == key[2])].iloc[0].to_dict()
        hit["val_mean"] = mine[key]
        chosen.append(hit)
    return pd.DataFrame(chosen)


def formatted_attack_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`attack_frame` as the book shows it: one row per table row, per student the accuracy
    (``mean ± std``), the recovered fraction and the paired difference against the stingy student."""

    def acc(r) -> str:
        if r["n"] == 0:
            return "—"
        return f"{r['mean']:.2f}" + ("" if np.isnan(r["std"]) else f" ± {r['std']:.2f}")

    def interval(r, ref: str) -> str:
        if np.isnan(r[f"vs_{ref}"]):
            return ""
        if np.isnan(r[f"vs_{ref}_low"]):
            return f"{r[f'vs_{ref}']:+.2f}"
        return f"{r[f'vs_{ref}']:+.2f} [{r[f'vs_{ref}_low']:+.2f}, {r[f'vs_{ref}_high']:+.2f}]"

    rows = {}
    for _, r in frame.iterrows():
        key = (r["group"], r["name"], r["setting"])
        entry = rows.setdefault(key, {})
        entry[(r["student"], "accuracy")] = acc(r)
        entry[(r["student"], "recovered")] = "" if np.isnan(r["recovered"]) else f"{r['recovered']:.2f}"
        entry[(r["student"], "− stingy [95 % CI]")] = interval(r, "stingy")
        entry[(r["student"], "− baseline [95 % CI]")] = interval(r, "baseline")
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["group", "what", "setting"])
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["student", ""])
    return out


def attack_diagnostics(profile: Profile | str, store: RunStore, families: tuple[str, ...] | None = None,
                       ) -> pd.DataFrame:
    """Per-epoch diagnostics of the KD runs of the attack table: one row per (row, student, seed,
    epoch) with the :data:`DIAG_KEYS` present in its record (runs trained
    before the diagnostics existed have none and are left out). ``families``: only those rows."""
    profile = get_profile(profile)
    rows = {row.key: row.family for row in attack_rows(profile)}
    out = []
    for cell in attack_cells(profile):
        family = rows[cell.row]
        if families is not None and family not in families:
            continue
        record = read_record(store, cell.run.run_id)
        if record is None:
            continue
        for h in record.history:
            diag = {DIAG_PREFIX + k: v for k, v in h.diagnostics.items() if DIAG_PREFIX + k in DIAG_KEYS}
            if diag:
                out.append({"group": cell.row[0], "name": cell.row[1], "setting": cell.row[2], "family": family,
                            "student": cell.column, "seed": cell.seed, "epoch": h.epoch,
                            "train_kd": h.train.get("kd", np.nan), "train_ce": h.train.get("ce", np.nan), **diag})
    return pd.DataFrame(out)


#: The rule fixed before the attack runs. The defence does not hold against an attack that recovers
#: at least this fraction of normal KD's accuracy over the naive stingy student ("most of normal KD").
RECOVERY_BAR = 0.5
LABEL_SMOOTHING_ROW = "label smoothing"  # the family of the no-teacher label-smoothing student


def attack_verdicts(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """Per student: the attack an attacker picks on validation (:func:`best_attacks`), what it recovers,
    and the verdicts, each from the numbers:

    - ``defence``: ``does not hold`` when the picked attack recovers at least :data:`RECOVERY_BAR` of
      normal KD over the naive stingy student, else ``holds``;
    - ``vs label smoothing``: the picked attack's student against the label-smoothing student with no
      teacher (the "undistillable" bar): ``below``, ``above`` or ``indistinguishable`` (its paired 95 %
      interval excludes 0 below, above, or not at all);
    - the same against the baseline, and the naive stingy student against both.
    """
    profile = get_profile(profile)
    metric = profile.metric if metric is None else metric
    long = _long(profile, store, metric)
    rows = {row.family: row.key for row in attack_rows(profile)}
    out = []
    for _, best in best_attacks(profile, store, metric).iterrows():
        student = best["student"]
        key = (best["group"], best["name"], best["setting"])
        values = by_seed(long, key, student)
        stingy = by_seed(long, STINGY, student)
        entry = {"student": student, "attack": f"{best['name']} ({best['setting']})" if best["setting"] else best["name"],
                 "accuracy": str(summarize(list(values.values()))), "recovered": best["recovered"],
                 "defence": "does not hold" if best["recovered"] >= RECOVERY_BAR else "holds"}
        for ref_name, ref in (("label smoothing", rows[LABEL_SMOOTHING_ROW]), ("baseline", BASELINE),
                              ("normal KD", NORMAL)):
            ref_values = by_seed(long, ref, student)
            diff = paired_difference(values, ref_values)
            entry[f"attack − {ref_name}"] = str(diff)
            entry[f"attack vs {ref_name}"] = _side(diff)
            naive = paired_difference(stingy, ref_values)
            entry[f"stingy − {ref_name}"] = str(naive)
            entry[f"stingy vs {ref_name}"] = _side(naive)
        out.append(entry)
    return pd.DataFrame(out)


def _side(diff) -> str:
    if diff.n < 2:
        return "no interval"
    if diff.high < 0:
        return "below"
    if diff.low > 0:
        return "above"
    return "indistinguishable"


def mechanism_table(profile: Profile | str, store: RunStore, metric: str | None = None) -> pd.DataFrame:
    """One row per (table row, student) with a KD student: the last epoch's diagnostics (mean over
    seeds) beside the student's accuracy (mean over seeds), for the chapter's mechanism analysis."""
    profile = get_profile(profile)
    diag = attack_diagnostics(profile, store)
    if diag.empty:
        return pd.DataFrame()
    last = diag[diag["epoch"] == diag.groupby(["name", "setting", "student", "seed"])["epoch"].transform("max")]
    keys = ["group", "name", "setting", "family", "student"]
    table = last.groupby(keys, sort=False)[[*DIAG_KEYS, "train_kd", "train_ce"]].mean().reset_index()
    acc = attack_frame(profile, store, metric)[keys + ["mean", "recovered"]].rename(columns={"mean": "accuracy"})
    return table.merge(acc, on=keys, how="left")


@register
class Attacks(Experiment):
    """The attack experiment: students that try to undo the stingy teacher, and the baselines that
    define "undistillable" (see the module's docstring). Its verdicts are a table of their own
    (:func:`attack_verdicts`), shown on its page."""

    name = "attacks"
    title = "Can a student undo a stingy teacher?"
    notebook = "notebooks/attacks.ipynb"
    settings = ("table1", "attacks", "figure_teacher", "figure_student", "seeds", *COMMON_SETTINGS)

    def cells(self, profile: Profile) -> list[Cell]:
        return attack_cells(profile)

    def table(self, profile: Profile, store: RunStore, metric: str | None = None) -> pd.DataFrame:
        return formatted_attack_table(attack_frame(profile, store, metric))
