"""Where runs keep their results and checkpoints, and how records are read back.

A :class:`RunStore` is two folders: ``results/`` with one JSON record per finished run (small,
committable) and ``checkpoints/`` with one folder per run (large, never committed). Every file is
written atomically (a temporary file in the same folder, then ``os.replace``), so an interrupted
write never leaves half a file behind. Records carry their config, the code version and the
machine that produced them.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .config import RunConfig
from .paths import PROJECT_ROOT, checkpoints_dir, results_dir


def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = False) -> None:
    """Write a file through ``write(handle)`` into a temporary sibling, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda f: json.dump(data, f, indent=1, sort_keys=False))


@dataclass(frozen=True)
class RunStore:
    """Result records and checkpoints of a set of runs (usually one profile's)."""

    results: Path
    checkpoints: Path

    @classmethod
    def for_profile(cls, profile: str) -> "RunStore":
        """The data root's folders for ``profile``."""
        return cls(results_dir(profile), checkpoints_dir(profile))

    def record_path(self, run_id: str) -> Path:
        return self.results / f"{run_id}.json"

    def checkpoint_path(self, run_id: str) -> Path:
        """The resumable per-epoch checkpoint (model, optimizers, schedules, RNG, config, history)."""
        return self.checkpoints / run_id / "checkpoint.pt"

    def weights_path(self, run_id: str) -> Path:
        """The finished run's final weights with the config that built them (what students load)."""
        return self.checkpoints / run_id / "final.pt"

    def is_done(self, run_id: str) -> bool:
        return self.record_path(run_id).exists()

    def load_record(self, run_id: str) -> dict[str, Any]:
        return json.loads(self.record_path(run_id).read_text())

    def write_record(self, record: dict[str, Any]) -> Path:
        path = self.record_path(record["run_id"])
        atomic_write_json(path, record)
        return path


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or None."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance(device: str) -> dict[str, Any]:
    """Code version, package versions and machine of the current process."""
    import numpy
    import torch
    import torchvision

    from . import __version__

    return {
        "git_commit": git_commit(),
        "stingylib": __version__,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": numpy.__version__,
        },
        "device": device,
        "machine": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


SUMMARY_COLUMNS = ["run_id", "method", "model", "width", "dataset", "seed", "teacher", "transform", "keep",
                   "adversary", "epochs", "final_accuracy", "best_accuracy", "best_epoch",
                   "teacher_accuracy", "wall_seconds", "images_per_s", "device", "git_commit"]


def load_runs(results: Path | str) -> pd.DataFrame:
    """One row per record in ``results`` (a folder of JSON records), with config fields flattened.

    Accuracies are in percent; ``best_accuracy`` is the best test accuracy over all epochs (the
    paper's protocol) and ``final_accuracy`` the last epoch's.
    """
    rows = []
    for path in sorted(Path(results).glob("*.json")):
        record = json.loads(path.read_text())
        row = {**record["config"], **{k: v for k, v in record.items() if not isinstance(v, (dict, list))}}
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    ordered = [c for c in SUMMARY_COLUMNS if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]].reset_index(drop=True)


def epoch_metrics(results: Path | str) -> pd.DataFrame:
    """Long table of the per-epoch metrics of every record: one row per (run_id, epoch)."""
    rows = []
    for path in sorted(Path(results).glob("*.json")):
        record = json.loads(path.read_text())
        rows += [{"run_id": record["run_id"], **m} for m in record["history"]]
    return pd.DataFrame(rows)
