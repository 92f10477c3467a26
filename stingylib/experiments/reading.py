"""Reading an experiment's numbers back from the records of its runs.

:func:`cell_values` reads every cell of an experiment into a long frame (one row per cell and
seed; NaN where the run is missing or its record invalid, with a warning naming the file);
:func:`by_seed` picks one cell's values per seed (what paired comparisons pair on);
:func:`aggregate` and :class:`ResultTable` make the mean ± std tables of the paper's layout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..runs import RecordError, RunRecord, RunStore
from .base import Cell

#: The accuracies a table can show (record fields, defined by ``stingylib.runs.ACCURACY_PROTOCOL``).
METRICS = ("selected_accuracy", "final_accuracy", "best_accuracy")


def check_metric(metric: str) -> str:
    """``metric`` if it is one of :data:`METRICS`, else a ValueError naming the allowed values."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}; got {metric!r}")
    return metric


def teacher_accuracy(record: RunRecord) -> float:
    """A teacher's test accuracy with the weights its students see: those selected on validation
    (``selected_accuracy``) when its run has a validation split, else its final ones."""
    return record.reported_accuracy


def read_record(store: RunStore, run_id: str) -> RunRecord | None:
    """A run's record; None when it is missing, or invalid (then with a warning naming the file)."""
    try:
        return store.load_record(run_id)
    except FileNotFoundError:
        return None
    except RecordError as err:
        warnings.warn(f"shown as missing: {err}", stacklevel=3)
        return None


def cell_values(cells: list[Cell], store: RunStore, metric: str) -> pd.DataFrame:
    """Long frame: one row per cell and seed (``row``, ``column``, ``seed``, ``value``, ``run_id``,
    ``collapsed``), with the number or NaN when the run is missing; ``collapsed`` is the student's
    record's flag (:attr:`stingylib.runs.record.RunRecord.collapsed`; False for teacher cells and missing runs).

    Raises:
        ValueError: an unknown ``metric``, or a data root that cannot be read (one message, instead of
            one warning per run).
    """
    check_metric(metric)
    store.check_readable()
    rows = []
    cache: dict[str, RunRecord | None] = {}
    for cell in cells:
        rid = cell.run.run_id
        if rid not in cache:
            cache[rid] = read_record(store, rid)
        record = cache[rid]
        value, fell = np.nan, False
        if record is not None:
            value = {"student": getattr(record, metric), "teacher": teacher_accuracy(record),
                     "shown_teacher": record.teacher_accuracy}[cell.field]
            if value is None and cell.field == "student" and not record.config.test_every_epoch:
                raise ValueError(f"metric {metric!r} was not measured for run {rid}: it evaluated the test split "
                                 "only where it reports (test_every_epoch=False); use 'selected_accuracy' or "
                                 "'final_accuracy'")
            value = np.nan if value is None else value
            fell = cell.field == "student" and record.collapsed
        rows.append({"row": cell.row, "column": cell.column, "seed": cell.seed, "value": value, "run_id": rid,
                     "collapsed": fell})
    return pd.DataFrame(rows, columns=["row", "column", "seed", "value", "run_id", "collapsed"])


def by_seed(long: pd.DataFrame, row: tuple, column: str) -> dict[int, float]:
    """seed → value of one cell of a long frame (:func:`cell_values`)."""
    hit = long[(long["row"] == row) & (long["column"] == column)]
    return {int(s): float(v) for s, v in zip(hit["seed"], hit["value"])}


def aggregate(long: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Mean, std (ddof 1), count of finished seeds and count of collapsed ones per (row, column) of a
    long frame, each as a frame indexed by row with one column per column. The mean and std are over
    every finished seed, collapsed or not (the collapse count says how many of them collapsed)."""
    grouped = long.groupby(["row", "column"], sort=False)
    mean = grouped["value"].mean().unstack("column")
    std = grouped["value"].std(ddof=1).unstack("column")
    count = grouped["value"].count().unstack("column")
    fell = grouped["collapsed"].sum().astype(int).unstack("column")
    return mean, std, count, fell


def named_index(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``frame`` with its tuple index made a MultiIndex with ``names``."""
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=names)
    return frame


@dataclass
class ResultTable:
    """A results table: means over seeds, their std (NaN for one seed), the number of finished
    seeds, the change of each cell against its reference (the paper's parenthesised numbers), and,
    when known, the number of collapsed seeds of each cell."""

    mean: pd.DataFrame
    std: pd.DataFrame
    count: pd.DataFrame
    delta: pd.DataFrame
    metric: str
    collapsed: pd.DataFrame | None = None

    def formatted(self) -> pd.DataFrame:
        """Strings in the paper's format, ``74.24 (+3.07)``, with ``± std`` when there are seeds and
        ``[2/5 collapsed]`` when some of a cell's seeds collapsed."""

        def fmt(value: float, std: float, delta: float, fell: int, n: int) -> str:
            if np.isnan(value):
                return "—"
            text = f"{value:.2f}"
            if not np.isnan(std):
                text += f" ± {std:.2f}"
            if not np.isnan(delta):
                text += f" ({delta:+.2f})"
            if fell:
                text += f" [{fell}/{n} collapsed]"
            return text

        out = self.mean.copy().astype(object)
        for r in self.mean.index:
            for c in self.mean.columns:
                fell = 0 if self.collapsed is None else self.collapsed.loc[r, c]
                fell = 0 if pd.isna(fell) else int(fell)
                out.loc[r, c] = fmt(self.mean.loc[r, c], self.std.loc[r, c], self.delta.loc[r, c], fell,
                                    int(self.count.loc[r, c]) if pd.notna(self.count.loc[r, c]) else 0)
        return out
