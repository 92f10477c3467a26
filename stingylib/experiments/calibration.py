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
from typing import Mapping

import numpy as np
import pandas as pd
from torch import nn

from ..data import DATASETS
from ..models import build_model
from ..paths import data_root
from ..profiles import Profile, get_profile
from ..runs import RunConfig, RunStore, records
from .builders import teacher_runs
from .table1 import BASELINE_ROW, table1_cells

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
            rows.append({"run": r.run_id, "method": m.name, "model": c.model, "width": c.width,
                         "train_per_class": "all" if c.train_per_class is None else str(c.train_per_class),
                         "epochs": c.epochs,
                         "milestones": ",".join(map(str, c.milestones)), "lr": c.lr, "view": m.describe(),
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
    profile = get_profile(profile)
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


def is_control(cfg: RunConfig, known: Mapping[str, RunConfig]) -> bool:
    """Whether ``cfg`` is a control run, what a recipe may be calibrated on: its method makes a control
    (:meth:`stingylib.runs.method.MethodSpec.control`: a network trained on the labels, or a student
    shown its teacher unchanged) and every run it depends on is a control too (a normal teacher).

    Args:
        cfg: the run.
        known: run id → config of the runs it may depend on (e.g. a profile's planned runs).

    Raises:
        ValueError: a dependency that ``known`` does not hold.
    """
    if not cfg.method.control():
        return False
    for dep in cfg.dependencies():
        if dep not in known:
            raise ValueError(f"run {cfg.run_id} depends on {dep}, which is not among the known runs")
        if not is_control(known[dep], known):
            return False
    return True
