"""The poster's Table 1 and Table 2 as :class:`~stingylib.experiments.reading.ResultTable` objects.

The numbers are ``table1.csv`` and ``table2.csv`` next to this module (package data, documented in
the ``README.md`` beside them), read with :mod:`importlib.resources`, so they are found in a
checkout, an editable install and a plain ``pip install`` alike. The poster's parenthesised deltas
are not stored: they are recomputed by the rules of :mod:`stingylib.experiments`. Nothing is read
at import.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..experiments import BASELINE_ROW, SELF, VARIANTS, ResultTable, table1_deltas, table2_deltas

#: Table 1's columns, in the paper's order.
TABLE1_COLUMNS = ["teacher_accuracy", "shufflenetv2", "mobilenetv2", "resnet18", SELF]
TABLE1_STUDENTS = ["shufflenetv2", "mobilenetv2", "resnet18"]
#: Table 2's columns.
TABLE2_COLUMNS = ["teacher_accuracy", "dafl"]


def _read_csv(name: str, root: Path | None) -> pd.DataFrame:
    if root is not None:  # an explicit folder
        path = Path(root) / name
        if not path.is_file():
            raise FileNotFoundError(f"the paper's numbers are missing: {path} (expected a {name} as in "
                                    "stingylib/paper/README.md)")
        return pd.read_csv(path)
    resource = resources.files(__package__).joinpath(name)  # shipped with the package
    if not resource.is_file():
        raise FileNotFoundError(f"the paper's numbers are missing from the installed package: {name} "
                                f"(package data of {__package__}; see stingylib/paper/README.md)")
    return pd.read_csv(io.StringIO(resource.read_text(encoding="utf-8")))


def _check_columns(frame: pd.DataFrame, needed: list[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def _result_table(mean: pd.DataFrame, delta: pd.DataFrame) -> ResultTable:
    std = pd.DataFrame(np.nan, index=mean.index, columns=mean.columns, dtype=float)  # one number each
    count = mean.notna().astype(int)
    return ResultTable(mean=mean, std=std, count=count, delta=delta, metric="best_accuracy")


def paper_table1(root: Path | str | None = None) -> ResultTable:
    """The paper's Table 1 (CIFAR-100, standard KD) with the index and columns of
    :func:`stingylib.experiments.table1.table1_frame`: index (teacher, variant), baseline row first, then
    ResNet-18, ResNet-50, ResNeXt-29 × (normal, nasty, stingy); columns ``teacher_accuracy``,
    ``shufflenetv2``, ``mobilenetv2``, ``resnet18``, ``teacher_self``. Accuracies in percent
    (best epoch, the paper's protocol); std NaN (one run each); deltas recomputed.

    Args:
        root: folder holding a ``table1.csv`` (default: the one shipped in the package).
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
    :func:`stingylib.experiments.table2.table2_frame`: index (dataset, variant) for CIFAR-10 and
    CIFAR-100 × (normal, nasty, stingy); columns ``teacher_accuracy`` and ``dafl``.

    Args:
        root: folder holding a ``table2.csv`` (default: the one shipped in the package).
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
