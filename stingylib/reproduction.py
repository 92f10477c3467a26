"""Is a profile's recipe good enough to test the paper? Its control targets, and its calibration runs.

A reproduction can only confirm or refute "a stingy teacher takes KD's gain away" when there is a
gain to take: teachers worth stealing, students that train, normal KD that helps. The issue that
set the ``cpu`` recipe fixed these targets for the *controls* (teachers, baselines, normal-KD
students), to be met before any treatment (stingy, nasty, attack) is run:

- every normal teacher ≥ 90 % on the validation split;
- every teacher has more parameters than each student it teaches (teacher self aside);
- no baseline or normal-KD student collapses: every one ≥ 80 %, and MobileNetV2 has no layer under
  8 channels;
- normal KD ≥ the baseline on validation in most Table 1 cells.

:func:`control_targets` measures them on a profile's finished runs (validation accuracies at the
selected epoch; the test split is not read). :func:`calibration_runs` lists the runs a recipe was
calibrated on, kept beside the results in ``<data root>/calibration/<profile>/`` (validated like
any record).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from .data import DATASETS
from .experiments import BASELINE_ROW, table1_cells, teacher_runs
from .models import build_model
from .paths import data_root
from .profiles import Profile, get_profile
from .runs import RunStore
from .runs.store import records

#: The control targets (validation accuracy in %, channels).
TEACHER_MIN = 90.0
STUDENT_MIN = 80.0
MIN_CHANNELS = 8


def calibration_dir(profile: str) -> Path:
    """Where the calibration runs of ``profile`` are kept: ``<data root>/calibration/<profile>/``."""
    return data_root() / "calibration" / profile


def calibration_runs(profile: Profile | str, folder: Path | None = None) -> pd.DataFrame:
    """One row per valid record of the profile's calibration folder: what was tried and what it gave.

    Columns: run, method, model, width, train images per class (``all``: the whole split),
    epochs, milestones, lr, teacher view (transform, τ) or nasty ω, validation and test accuracy at
    the selected epoch, and the date it finished. Empty when there is no such folder.
    """
    name = profile if isinstance(profile, str) else profile.name
    folder = calibration_dir(name) if folder is None else Path(folder)
    rows = []
    if folder.is_dir():
        good, bad = records(folder)
        if bad:
            raise ValueError(f"invalid calibration records: {[str(e) for e in bad]}")
        for r in good:
            c, m = r.config, r.config.method
            view = ""
            if m.name == "kd":
                view = f"{m.transform}" + (f" N={m.keep}" if m.keep else "") + f", τ={m.temperature:g}"
            elif m.name == "nasty":
                view = f"ω={m.omega:g}, τ_A={m.temperature:g}"
            rows.append({"run": r.run_id, "method": m.name, "model": c.model, "width": c.width,
                         "train_per_class": "all" if c.train_per_class is None else str(c.train_per_class),
                         "epochs": c.epochs,
                         "milestones": ",".join(map(str, c.milestones)), "lr": c.lr, "view": view,
                         "val": r.selected_val_accuracy, "test": r.selected_accuracy,
                         "finished": r.provenance.get("finished_at", "")})
    columns = ["run", "method", "model", "width", "train_per_class", "epochs", "milestones", "lr", "view",
               "val", "test", "finished"]
    return pd.DataFrame(rows, columns=columns).sort_values(["finished", "run"]).reset_index(drop=True)


def narrowest_layer(model: nn.Module) -> int:
    """The fewest output channels of any convolution of ``model``."""
    return min(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d))


def _val(store: RunStore, run_id: str) -> float:
    record = store.try_record(run_id)
    if record is None or record.selected_val_accuracy is None:
        return np.nan
    return record.selected_val_accuracy


def control_targets(profile: Profile | str, store: RunStore) -> pd.DataFrame:
    """The control targets measured on ``profile``'s finished runs (validation split only).

    Returns:
        A frame with one row per target and the columns ``target`` (what it asks), ``measured``
        (the numbers, as text) and ``met`` (True, False, or None when runs are missing). Teachers' and students' accuracies
        are validation accuracies at each run's selected epoch (means over seeds per cell for the
        KD comparison).
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    rows = []

    def add(target: str, measured: str, met: bool | None) -> None:
        rows.append({"target": target, "measured": measured, "met": met})

    # teachers
    teachers = {t: teacher_runs(profile, profile.table1, t)["normal"] for t in profile.teachers}
    for dafl in profile.table2:
        teachers[dafl.teacher_model] = teacher_runs(profile, dafl.teacher, dafl.teacher_model)["normal"]
    acc = {t: _val(store, cfg.run_id) for t, cfg in teachers.items()}
    missing = any(np.isnan(v) for v in acc.values())
    add(f"every normal teacher ≥ {TEACHER_MIN:g} % (validation)",
        ", ".join(f"{t} {v:.2f}" for t, v in acc.items()),
        None if missing else bool(all(v >= TEACHER_MIN for v in acc.values())))

    # sizes
    info = DATASETS[profile.table1.dataset]
    cells = table1_cells(profile)
    students = {c.run.model: c.run for c in cells if c.row == BASELINE_ROW}

    def params(cfg) -> int:
        net = build_model(cfg.model, info.num_classes, in_channels=info.channels, width=cfg.width)
        return sum(p.numel() for p in net.parameters())

    sizes = {t: params(cfg) for t, cfg in teachers.items() if t in profile.teachers}
    student_sizes = {s: params(cfg) for s, cfg in students.items()}
    smaller = [f"{t} ({n:,}) ≤ {s} ({m:,})" for t, n in sizes.items() for s, m in student_sizes.items()
               if n <= m and s != t]  # a student of the teacher's own architecture is "teacher self"
    add("every teacher has more parameters than each student it teaches (teacher self aside)",
        "; ".join(f"{k} {v:,}" for k, v in {**sizes, **student_sizes}.items())
        + ("" if not smaller else " — not bigger: " + "; ".join(smaller)), not smaller)

    # collapse
    controls = [c.run for c in cells if c.column != "teacher_accuracy"
                and (c.row == BASELINE_ROW or c.row[1] == "normal")]
    vals = {cfg.run_id: _val(store, cfg.run_id) for cfg in controls}
    done = [v for v in vals.values() if not np.isnan(v)]
    low = [rid for rid, v in vals.items() if v < STUDENT_MIN]
    add(f"every baseline and normal-KD student ≥ {STUDENT_MIN:g} % (validation)",
        f"lowest {min(done):.2f} % of {len(done)} runs" + (f"; below: {', '.join(low)}" if low else "")
        if done else "no runs", None if len(done) < len(vals) else not low)
    if "mobilenetv2" in student_sizes:
        net = build_model("mobilenetv2", info.num_classes, in_channels=info.channels,
                          width=students["mobilenetv2"].width)
        narrow = narrowest_layer(net)
        add(f"MobileNetV2 has no layer under {MIN_CHANNELS} channels", f"narrowest layer {narrow} channels",
            bool(narrow >= MIN_CHANNELS))

    # normal KD vs baseline, per cell, mean over seeds (the controls' validation accuracies above)
    per_cell: dict[tuple[str, str], list[float]] = {}  # (teacher or "student baseline", student) → per seed
    for c in cells:
        if c.run.run_id in vals and c.column in students:
            per_cell.setdefault((c.row[0], c.column), []).append(vals[c.run.run_id])
    wins, total, incomplete = 0, 0, False  # plain ints and bools (not numpy)
    for teacher in profile.teachers:
        for student in students:
            kd = per_cell.get((teacher, student), [])
            base = per_cell.get((BASELINE_ROW[0], student), [])
            if not kd or not base or np.isnan(kd).any() or np.isnan(base).any():
                incomplete = True
                continue
            total += 1
            wins += int(float(np.mean(kd)) >= float(np.mean(base)))
    add("normal KD ≥ baseline on validation in most Table 1 cells (mean over seeds)",
        f"{wins} of {total} cells", None if incomplete else bool(wins > total / 2))
    return pd.DataFrame(rows, columns=["target", "measured", "met"])


def is_control(cfg) -> bool:
    """A control run (what a recipe may be calibrated on): a supervised run (teacher or baseline),
    or a normal-KD student of a supervised (normal) teacher."""
    m = cfg.method
    return m.name == "supervised" or (m.name == "kd" and m.transform == "normal" and m.teacher.startswith("supervised-"))


def _judge(row: pd.Series) -> str:
    """"holds" (the claimed direction in most cells, most of them beyond seed noise), "partly" (the
    direction in most cells, but not beyond noise), or "does not hold"."""
    cells, way, sure = int(row["cells"]), int(row["in that direction"]), int(row["interval excludes 0"])
    if cells == 0:
        return "no results"
    if way * 2 > cells:
        return "holds" if sure * 2 > cells else "partly (the direction, not beyond seed noise)"
    return "does not hold"


def verdicts(profile: Profile, table, counts: pd.DataFrame, figure: pd.DataFrame, table2,
             comparisons: pd.DataFrame | None = None) -> str:
    """The paper's claims judged on a profile's numbers, as a Markdown list (every number computed).

    Args:
        profile: the profile.
        table: its Table 1 (:func:`stingylib.experiments.table1_frame`).
        counts: :func:`stingylib.paper.claim_counts` of its Table 1 comparisons.
        figure: :func:`stingylib.experiments.figure_comparisons`.
        table2: its Table 2 (:func:`stingylib.experiments.table2_frame`).
        comparisons: its Table 1 comparisons (:func:`stingylib.experiments.table1_comparisons`), to
            say whether stingy students end below their baselines when normal KD does not help.
    """
    from .stats import PairedDifference

    lines = []
    acc = table.mean["teacher_accuracy"]
    pairs = [(acc.get((t, "stingy")), acc.get((t, "normal"))) for t in profile.teachers]
    same = sum(a == b for a, b in pairs if a is not None and not np.isnan(a))
    lines.append(f"- **A stingy teacher keeps its accuracy**: {'holds' if same == len(pairs) else 'does not hold'}: "
                 f"measured through the transform, {same} of {len(pairs)} stingy teachers score exactly their "
                 "normal teacher's test accuracy (the top class is always shown).")
    phrases = {"normal KD above the baseline": ("**Normal KD helps** (the premise of the paper's test)",
                                                "normal KD is above the baseline"),
               "stingy below normal KD": ("**A stingy teacher takes KD's gain away**",
                                          "the stingy teacher's student is below the normal-KD student"),
               "stingy below nasty": ("**A stingy teacher harms its students more than a nasty one**",
                                      "the stingy teacher's student is below the nasty teacher's")}
    kd_helps = "normal KD above the baseline" in counts.index and _judge(counts.loc["normal KD above the baseline"]) == "holds"
    for claim, (title, what) in phrases.items():
        if claim in counts.index:
            row = counts.loc[claim]
            judged = _judge(row)
            if claim == "stingy below normal KD" and not kd_helps:
                judged = "cannot be tested here (normal KD gives no gain to take away)"
            line = (f"- {title}: {judged}: in {int(row['in that direction'])} of {int(row['cells'])} "
                    f"cells {what} on average over the seeds, {int(row['interval excludes 0'])} of them "
                    "with a 95 % interval excluding 0.")
            if claim == "stingy below normal KD" and not kd_helps and comparisons is not None:
                below = comparisons[(comparisons["comparison"] == "stingy − baseline") & (comparisons["n"] > 0)]
                line += (" What this shows instead is harm: the stingy "
                         f"teacher's student ends below its own baseline in {int((below['mean'] < 0).sum())} of "
                         f"{len(below)} cells ({int((below['excludes_zero'] & (below['mean'] < 0)).sum())} "
                         "beyond seed noise).")
            lines.append(line)
    rows = figure.set_index("comparison")

    def diff(name: str) -> PairedDifference:
        r = rows.loc[name]
        return PairedDifference(float(r["mean"]), float(r["low"]), float(r["high"]), int(r["n"]))

    if {"sparse − normal", "smooth − normal"} <= set(rows.index):
        sparse, smooth = diff("sparse − normal"), diff("smooth − normal")
        hurt = sparse.excludes_zero and sparse.mean < 0
        harmless = not (smooth.excludes_zero and smooth.mean < 0)
        lines.append(f"- **Sparsity, not the missing ranking, is what hurts** (figure, N = {profile.table1.keep}): "
                     f"{'holds' if hurt and harmless else 'does not hold'}: stingy-sparse minus normal KD {sparse} "
                     f"points, stingy-smooth minus normal KD {smooth} points (same temperature; "
                     "95 % intervals over seeds).")
    dafl = table2.mean["dafl"]
    for dataset in dict.fromkeys(d for d, _ in dafl.index):
        normal, nasty, stingy = (dafl.get((dataset, v), np.nan) for v in ("normal", "nasty", "stingy"))
        seeds = len(profile.table2_seeds)
        lines.append(f"- **Data-free KD (DAFL) on {dataset}**: the stingy teacher's student scores "
                     f"{stingy - normal:+.2f} points against the normal teacher's, the nasty teacher's "
                     f"{nasty - normal:+.2f}"
                     + (" — one seed, so not a finding either way." if seeds < 2 else f" (means over {seeds} seeds)."))
    return "\n".join(lines)


#: An idle gap longer than this between runs splits them into separate training sessions.
SESSION_GAP = pd.Timedelta(hours=1)


def cost_summary(records) -> str:
    """What a set of finished runs cost, as Markdown: the number of runs, the sum of their training
    and evaluation time, and for each training session (runs separated by an idle gap longer than
    :data:`SESSION_GAP`, e.g. a later retraining of some of them) the span from its first run's start
    (its finishing time less its recorded seconds) to its last run's end."""
    records = list(records)
    if not records:
        return "No finished runs."
    ends = [pd.Timestamp(r.provenance["finished_at"]) for r in records]
    runs = sorted((e - pd.Timedelta(seconds=r.wall_seconds), e) for e, r in zip(ends, records))
    sessions: list[list[tuple[pd.Timestamp, pd.Timestamp]]] = []
    for start, end in runs:
        if sessions and start - max(e for _, e in sessions[-1]) <= SESSION_GAP:
            sessions[-1].append((start, end))
        else:
            sessions.append([(start, end)])
    total = sum(r.wall_seconds for r in records)
    machines = sorted({str(r.provenance.get("machine", {}).get("hostname", "?")) for r in records})
    cores = sorted({str(r.provenance.get("machine", {}).get("cpu_count", "?")) for r in records})

    def hm(seconds: float) -> str:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"

    def span(session) -> str:
        first, last = min(s for s, _ in session), max(e for _, e in session)
        return (f"{hm((last - first).total_seconds())} from the first run's start ({first:%Y-%m-%d %H:%M} UTC) to "
                f"the last run's end ({last:%Y-%m-%d %H:%M} UTC)")

    head = (f"{len(records)} runs; {hm(total)} of training and evaluation summed over the runs; "
            f"on {len(machines)} machine(s) with {', '.join(cores)} cores; ")
    if len(sessions) == 1:
        return head + span(sessions[0]) + "."
    return head + f"in {len(sessions)} sessions: " + "; ".join(
        f"{len(session)} runs, {span(session)}" for session in sessions) + "."
