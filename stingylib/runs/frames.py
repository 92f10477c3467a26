"""Finished runs as pandas tables, read from a results folder (only validated records are used)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from .store import records

SUMMARY_COLUMNS = ["run_id", "method", "model", "width", "dataset", "seed", "teacher", "transform", "keep",
                   "adversary", "epochs", "selected_accuracy", "selected_epoch", "selected_val_accuracy",
                   "final_accuracy", "best_accuracy", "best_epoch",
                   "teacher_accuracy", "wall_seconds", "images_per_s", "device", "git_commit"]


def _valid_records(results: Path | str):
    good, bad = records(results)
    for err in bad:
        warnings.warn(f"skipping an invalid record: {err}", stacklevel=3)
    return good


def load_runs(results: Path | str) -> pd.DataFrame:
    """One row per valid record in ``results``, with the config's fields and parameters flattened.

    Accuracies are in percent: ``selected_accuracy`` at the epoch chosen on the validation split
    (runs with one), ``final_accuracy`` the last epoch's and ``best_accuracy`` the best test accuracy
    over all epochs (the paper's protocol, optimistic). Invalid files are skipped with a
    warning that names them.
    """
    frame = pd.DataFrame([r.summary() for r in _valid_records(results)])
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    ordered = [c for c in SUMMARY_COLUMNS if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]].reset_index(drop=True)


def epoch_metrics(results: Path | str) -> pd.DataFrame:
    """Long table of the per-epoch metrics of every valid record: one row per (run_id, epoch)."""
    return pd.DataFrame([{"run_id": r.run_id, **h.to_json()} for r in _valid_records(results) for h in r.history])
