"""The paper's published numbers as tables shaped like this project's results.

:func:`paper_table1` and :func:`paper_table2` read ``data/paper/table1.csv`` and ``table2.csv``
(typed in from the poster, see ``data/paper/README.md``) into :class:`~stingylib.experiments.ResultTable`
objects with exactly the index and columns of :func:`stingylib.experiments.table1_frame` /
:func:`~stingylib.experiments.table2_frame`, so a run and the paper can be formatted, compared and
subtracted cell by cell. The poster's parenthesised deltas are not stored: they are recomputed here
by the rules of :mod:`stingylib.experiments` (students against the baseline row; a teacher's
accuracy and its "teacher self" student against the normal teacher; Table 2 against the normal
teacher's row).

Two printed deltas of the poster disagree with its own numbers, and the recomputed value is used:
Table 1, ResNet-50 (normal) → teacher self, 80.02 printed "(+1.96)" where 80.02 − 78.12 = +1.90;
Table 2, CIFAR-100 nasty teacher, 76.12 printed "(−0.79)" where 76.12 − 76.97 = −0.85.

:func:`display_table` turns any of these frames (run or paper) into the paper's look: row labels
such as ``ResNet-18 (stingy)`` and ``Student baseline``, column labels such as ``MobileNetV2``.
Nothing is read at import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .experiments import SELF, VARIANTS, ResultTable
from .paths import paper_dir

#: The baseline row of Table 1 (students trained on the labels alone).
BASELINE_ROW = ("student baseline", "baseline")
#: Table 1's columns, in the paper's order.
TABLE1_COLUMNS = ["teacher_accuracy", "shufflenetv2", "mobilenetv2", "resnet18", SELF]
TABLE1_STUDENTS = ["shufflenetv2", "mobilenetv2", "resnet18"]
#: Table 2's columns.
TABLE2_COLUMNS = ["teacher_accuracy", "dafl"]

#: How the paper writes model, dataset and column names.
LABELS: dict[str, str] = {
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "resnext29": "ResNeXt-29",
    "mobilenetv2": "MobileNetV2",
    "shufflenetv2": "ShuffleNetV2",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "fashion-mnist": "Fashion-MNIST",
    "digits": "digits",
    "teacher_accuracy": "Teacher accuracy",
    SELF: "Teacher self",
    "dafl": "DAFL student",
    "student baseline": "Student baseline",
}


def label(name: str) -> str:
    """The paper's spelling of a model, dataset or column name (the name itself when unknown)."""
    return LABELS.get(name, name)


def _read_csv(name: str, root: Path | None) -> pd.DataFrame:
    path = (paper_dir() if root is None else Path(root)) / name
    if not path.is_file():
        raise FileNotFoundError(f"the paper's numbers are missing: {path} (see data/paper/README.md)")
    return pd.read_csv(path)


def _check_columns(frame: pd.DataFrame, needed: list[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def table1_deltas(mean: pd.DataFrame) -> pd.DataFrame:
    """Table 1's parenthesised deltas, by the rules of :func:`stingylib.experiments.table1_frame`.

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
    """Table 2's deltas, by the rules of :func:`stingylib.experiments.table2_frame`: every cell of a
    nasty or stingy row minus the same dataset's normal row (NaN on the normal rows)."""
    delta = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)
    for dataset, variant in mean.index:
        if variant != "normal" and (dataset, "normal") in mean.index:
            delta.loc[(dataset, variant)] = (mean.loc[(dataset, variant)] - mean.loc[(dataset, "normal")]).to_numpy()
    return delta


def _result_table(mean: pd.DataFrame, delta: pd.DataFrame) -> ResultTable:
    std = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)  # one number each
    count = mean.notna().astype(int)
    return ResultTable(mean=mean, std=std, count=count, delta=delta, metric="best_accuracy")


def paper_table1(root: Path | str | None = None) -> ResultTable:
    """The paper's Table 1 (CIFAR-100, standard KD) with the index and columns of
    :func:`stingylib.experiments.table1_frame`: index (teacher, variant), baseline row first, then
    ResNet-18, ResNet-50, ResNeXt-29 × (normal, nasty, stingy); columns ``teacher_accuracy``,
    ``shufflenetv2``, ``mobilenetv2``, ``resnet18``, ``teacher_self``. Accuracies in percent
    (best epoch, the paper's protocol); std NaN (one run each); deltas recomputed.

    Args:
        root: folder holding ``table1.csv`` (default :func:`stingylib.paths.paper_dir`).
    """
    raw = _read_csv("table1.csv", None if root is None else Path(root))
    _check_columns(raw, ["teacher", "variant", *TABLE1_COLUMNS], "table1.csv")
    mean = raw.set_index(["teacher", "variant"])[TABLE1_COLUMNS].astype(float)
    teachers = list(dict.fromkeys(t for t, v in mean.index if (t, v) != BASELINE_ROW))
    order = [BASELINE_ROW] + [(t, v) for t in teachers for v in VARIANTS]
    mean = mean.reindex(pd.MultiIndex.from_tuples(order, names=["teacher", "variant"]))
    mean.columns.name = "column"  # as in experiments.table*_frame
    return _result_table(mean, table1_deltas(mean))


def paper_table2(root: Path | str | None = None) -> ResultTable:
    """The paper's Table 2 (DAFL, ResNet-34 → ResNet-18) with the index and columns of
    :func:`stingylib.experiments.table2_frame`: index (dataset, variant) for CIFAR-10 and
    CIFAR-100 × (normal, nasty, stingy); columns ``teacher_accuracy`` and ``dafl``.

    Args:
        root: folder holding ``table2.csv`` (default :func:`stingylib.paths.paper_dir`).
    """
    raw = _read_csv("table2.csv", None if root is None else Path(root))
    _check_columns(raw, ["dataset", "variant", "teacher_accuracy", "dafl_student_accuracy"], "table2.csv")
    mean = (raw.rename(columns={"dafl_student_accuracy": "dafl"})
            .set_index(["dataset", "variant"])[TABLE2_COLUMNS].astype(float))
    datasets = list(dict.fromkeys(d for d, _ in mean.index))
    order = [(d, v) for d in datasets for v in VARIANTS]
    mean = mean.reindex(pd.MultiIndex.from_tuples(order, names=["dataset", "variant"]))
    mean.columns.name = "column"  # as in experiments.table*_frame
    return _result_table(mean, table2_deltas(mean))


def display_table(table: ResultTable | pd.DataFrame, *, dafl_teacher: str = "resnet34") -> pd.DataFrame:
    """A Table 1 or Table 2 frame with the paper's row and column labels.

    Args:
        table: a :class:`~stingylib.experiments.ResultTable` (formatted as ``acc (+delta)`` by its
            :meth:`~stingylib.experiments.ResultTable.formatted`) or any frame indexed by
            (teacher, variant) or (dataset, variant).
        dafl_teacher: the teacher architecture named in Table 2's row labels.

    Returns:
        The same cells with rows ``Student baseline`` / ``ResNet-18 (stingy)`` (Table 1) or
        ``CIFAR-10: ResNet-34 (stingy)`` (Table 2), and columns such as ``Teacher accuracy``.
    """
    frame = table.formatted() if isinstance(table, ResultTable) else table.copy()
    if frame.index.nlevels != 2:
        raise ValueError(f"expected a two-level (teacher or dataset, variant) index; got {frame.index.names}")
    is_table2 = frame.index.names[0] == "dataset"
    rows = []
    for first, variant in frame.index:
        if (first, variant) == BASELINE_ROW:
            rows.append(label(first))
        elif is_table2:
            rows.append(f"{label(first)}: {label(dafl_teacher)} ({variant})")
        else:
            rows.append(f"{label(first)} ({variant})")
    frame.index = pd.Index(rows, name="Dataset: teacher" if is_table2 else "Teacher network")
    frame.columns = [label(c) for c in frame.columns]
    return frame


def formatted_paper_table1(root: Path | str | None = None) -> pd.DataFrame:
    """The paper's Table 1 as printed: ``74.24 (+3.07)`` cells with the paper's labels."""
    return display_table(paper_table1(root))


def formatted_paper_table2(root: Path | str | None = None) -> pd.DataFrame:
    """The paper's Table 2 as printed: ``90.26 (-2.23)`` cells with the paper's labels."""
    return display_table(paper_table2(root))
