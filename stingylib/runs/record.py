"""The result record of a finished run: a typed schema, validated whenever it is read.

A record is one JSON object per run (``results/<run_id>.json``). :class:`RunRecord` is its schema;
:func:`parse_record` checks that a file's content is a record of this schema version, that every
field has its type, that the numbers are consistent (the best and final accuracies are those of the
history, one history entry per epoch), that its config rebuilds, and that its ``run_id`` is its
config's id and its file's name. Any failure is a :class:`RecordError` naming the file and the
problem, so that a truncated, empty, edited or misplaced file is never used silently.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import platform
import re
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import RunConfig
from .metrics import EpochMetrics, best_epoch, collapsed, selected_epoch

#: The version of the record layout (version 1, with flat provenance and v1 configs, is migrated by
#: ``scripts/migrate_records.py``).
RECORD_SCHEMA = 2

ACCURACY_PROTOCOL = {
    "selected_accuracy": "test accuracy at the epoch with the best validation accuracy (selection never reads "
                         "the test split); null without a validation split",
    "final_accuracy": "test accuracy after the last epoch",
    "best_accuracy": "best test accuracy over all epochs (the paper's protocol; optimistic: the epoch is chosen "
                     "on the test split); null when the run evaluated the test split only where it reports "
                     "(test_every_epoch false)",
}


class RecordError(ValueError):
    """A record file that cannot be trusted; the message names the file and what is wrong."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


@dataclasses.dataclass(frozen=True)
class SampleImages:
    """The first test images of a run (uint8, (B, C, H, W)), kept so figures need no dataset."""

    shape: tuple[int, ...]
    data: bytes  # B·C·H·W uint8 values, row-major

    @classmethod
    def from_tensor(cls, images) -> "SampleImages":
        """From a uint8 tensor (B, C, H, W)."""
        return cls(tuple(images.shape), images.contiguous().numpy().tobytes())

    def tensor(self):
        """The images as a uint8 tensor (B, C, H, W)."""
        import numpy as np
        import torch

        return torch.from_numpy(np.frombuffer(self.data, dtype=np.uint8).copy().reshape(self.shape))

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "uint8_base64": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_json(cls, value: Any) -> "SampleImages":
        shape, blob = value["shape"], base64.b64decode(value["uint8_base64"], validate=True)
        if math.prod(shape) != len(blob):
            raise ValueError(f"sample_images: shape {shape} needs {math.prod(shape)} bytes, found {len(blob)}")
        return cls(tuple(int(s) for s in shape), blob)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """Everything a finished run reports. Accuracies are test accuracies in percent."""

    run_id: str
    config: RunConfig
    final_accuracy: float  # after the last epoch
    best_accuracy: float | None  # best over all epochs (the paper's protocol); None: not every epoch tested
    best_epoch: int | None  # 1-based epoch of best_accuracy (the first one on ties)
    teacher_accuracy: float | None  # the teacher as the student sees it (None without a teacher role)
    num_params: int
    wall_seconds: float
    images_per_s: float  # mean over epochs of training images per second
    history: tuple[EpochMetrics, ...]  # one per epoch
    sample_logits: tuple[tuple[float, ...], ...]  # raw logits of the first test images
    sample_labels: tuple[int, ...]
    sample_images: SampleImages | None
    provenance: dict[str, Any]  # git commit, versions, device, machine, finished_at
    # With a validation split (config.val_per_class): the epoch with the best validation accuracy (the
    # first on ties), the test and validation accuracy there; the weights file holds that epoch's network.
    selected_epoch: int | None = None
    selected_accuracy: float | None = None
    selected_val_accuracy: float | None = None
    # SHA-256 (hex) of the run's weights file as written when it finished: whoever loads the weights
    # (a student loading its teacher, shipped weights in a checkout) checks the file against it.
    # None in records written before it existed (their weights cannot be checked).
    weights_sha256: str | None = None
    accuracy_protocol: dict[str, str] = dataclasses.field(default_factory=lambda: dict(ACCURACY_PROTOCOL))
    migrated: dict[str, Any] | None = None  # set by scripts/migrate_records.py: from where, when, what added
    schema: int = RECORD_SCHEMA

    @property
    def reported_accuracy(self) -> float:
        """The test accuracy that a table reports by default, at the epoch selected on validation when
        the run has a validation split, else after the last epoch."""
        return self.final_accuracy if self.selected_accuracy is None else self.selected_accuracy

    @property
    def collapsed(self) -> bool:
        """Whether the run ended collapsed (:func:`stingylib.runs.metrics.collapsed`: near chance, or
        a last-epoch loss over the bound). Derived from the record, and written into its JSON."""
        from ..data import DATASETS

        return collapsed(self.history, DATASETS[self.config.dataset].num_classes, self.reported_accuracy)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk (with the derived ``collapsed`` flag)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["collapsed"] = self.collapsed
        out["config"] = self.config.to_dict()
        out["history"] = [h.to_json() for h in self.history]
        out["sample_logits"] = [list(row) for row in self.sample_logits]
        out["sample_labels"] = list(self.sample_labels)
        out["sample_images"] = None if self.sample_images is None else self.sample_images.to_json()
        for key in ("migrated", "weights_sha256"):  # optional: absent rather than null
            if out[key] is None:
                del out[key]
        return {"schema": out.pop("schema"), **out}

    def summary(self) -> dict[str, Any]:
        """One flat row: the config's fields and parameters, the scalar results, device and commit."""
        cfg = self.config.to_dict()
        params = cfg.pop("params")
        row = {"run_id": self.run_id, **cfg, **params}
        row.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if isinstance(getattr(self, f.name), (int, float, str)) or getattr(self, f.name) is None})
        row.update(collapsed=self.collapsed, device=self.provenance.get("device"),
                   git_commit=self.provenance.get("git_commit"))
        row.pop("migrated", None)
        row.pop("weights_sha256", None)
        row.pop("sample_images", None)
        return row


# --- reading ---------------------------------------------------------------------------------------

_NUMBER = (int, float)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _require(cond: bool, path: Path, problem: str) -> None:
    if not cond:
        raise RecordError(path, problem)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool) and math.isfinite(value)


def _is_percent(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 100.0


def parse_record(data: Any, path: Path | str, expected_run_id: str | None = None) -> RunRecord:
    """Validate a record's JSON content (already parsed) read from ``path``.

    Args:
        data: the parsed JSON.
        path: the file it came from (for messages).
        expected_run_id: the id the file must hold (default: the file name without ``.json``).

    Raises:
        RecordError: naming ``path`` and the first problem found.
    """
    path = Path(path)
    expected = path.stem if expected_run_id is None else expected_run_id
    _require(isinstance(data, dict), path, f"a record must be a JSON object; got {type(data).__name__}")
    schema = data.get("schema")
    _require(schema == RECORD_SCHEMA, path,
             f"record schema {schema!r}, but this stingylib reads schema {RECORD_SCHEMA} "
             "(records of schema 1 are migrated by scripts/migrate_records.py)")
    names = {f.name for f in dataclasses.fields(RunRecord)} | {"collapsed"}
    required = {f.name for f in dataclasses.fields(RunRecord)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing, unknown = sorted(required - set(data)), sorted(set(data) - names)
    _require(not missing, path, f"missing field(s) {missing}")
    _require(not unknown, path, f"unknown field(s) {unknown}; a record has {sorted(names)}")
    try:
        config = RunConfig.from_dict(data["config"])
    except (ValueError, TypeError) as err:
        raise RecordError(path, f"invalid config: {err}") from None
    _require(data["run_id"] == expected, path, f"run_id {data['run_id']!r} does not match the file name "
                                                f"(expected {expected!r}): a record of another run")
    _require(config.run_id == data["run_id"], path,
             f"run_id {data['run_id']!r} is not its config's id {config.run_id!r}: the config was edited "
             "or written by another identity rule")
    _require(_is_percent(data["final_accuracy"]), path,
             f"final_accuracy must be a number in [0, 100]; got {data['final_accuracy']!r}")
    _require(data["best_accuracy"] is None or _is_percent(data["best_accuracy"]), path,
             f"best_accuracy must be null or a number in [0, 100]; got {data['best_accuracy']!r}")
    _require(data["teacher_accuracy"] is None or _is_percent(data["teacher_accuracy"]), path,
             f"teacher_accuracy must be null or a number in [0, 100]; got {data['teacher_accuracy']!r}")
    for key in ("wall_seconds", "images_per_s"):
        _require(_is_number(data[key]) and data[key] >= 0, path, f"{key} must be a number >= 0")
    for key in ("best_epoch", "num_params"):
        _require((key == "best_epoch" and data[key] is None)
                 or (isinstance(data[key], int) and not isinstance(data[key], bool) and data[key] >= 0), path,
                 f"{key} must be an integer >= 0; got {data[key]!r}")

    raw = data["history"]
    _require(isinstance(raw, list) and len(raw) == config.epochs, path,
             f"history must list one entry per epoch ({config.epochs}); got "
             f"{len(raw) if isinstance(raw, list) else type(raw).__name__}")
    try:
        history = tuple(EpochMetrics.from_json(entry, epoch=i, terms=config.method.terms)
                        for i, entry in enumerate(raw, 1))
    except ValueError as err:
        raise RecordError(path, str(err)) from None
    accuracies = [h.test_accuracy for h in history]
    tested = [i for i, a in enumerate(accuracies, 1) if a is not None]
    if config.test_every_epoch:
        _require(len(tested) == len(accuracies), path, "every history entry needs a test_accuracy in [0, 100] "
                 "(the run evaluated the test split every epoch: test_every_epoch)")
        _require(data["best_accuracy"] == max(accuracies), path, "best_accuracy is not the best epoch's accuracy")
        _require(data["best_epoch"] == best_epoch(history), path,
                 "best_epoch is not the (first) epoch of the best accuracy")
    else:
        _require(tested == [len(accuracies)], path, "only the last history entry may have a test_accuracy: the run "
                 "evaluated the test split only after its last epoch (test_every_epoch false)")
        _require(data["best_accuracy"] is None and data["best_epoch"] is None, path,
                 "best_accuracy and best_epoch must be null: the run did not evaluate the test split every epoch")
    _require(data["final_accuracy"] == accuracies[-1], path, "final_accuracy is not the last epoch's accuracy")
    selected = (data.get("selected_epoch"), data.get("selected_accuracy"), data.get("selected_val_accuracy"))
    if config.val_per_class is None:
        _require(selected == (None, None, None) and all(h.val_accuracy is None for h in history), path,
                 "selected_epoch/selected_accuracy/selected_val_accuracy and every val_accuracy must be null: the "
                 "run has no validation split")
    else:
        _require(all(h.val_accuracy is not None for h in history), path,
                 "every history entry of a run with a validation split needs a val_accuracy in [0, 100]")
        chosen = selected_epoch(history)
        tested_there = accuracies[chosen - 1]
        if tested_there is None:  # tested once, on the selected weights, when the run finished
            _require(_is_percent(selected[1]), path,
                     f"selected_accuracy must be a number in [0, 100]; got {selected[1]!r}")
            tested_there = selected[1]
        expected = (chosen, tested_there, history[chosen - 1].val_accuracy)
        _require(selected == expected, path,
                 f"selected_epoch/selected_accuracy/selected_val_accuracy must be {list(expected)} (the first epoch of "
                 f"the best validation accuracy); got {list(selected)}")

    logits, labels = data["sample_logits"], data["sample_labels"]
    _require(isinstance(logits, list) and all(isinstance(r, list) and all(_is_number(v) for v in r) for r in logits),
             path, "sample_logits must be a list of lists of finite numbers")
    _require(isinstance(labels, list) and len(labels) == len(logits) and all(isinstance(v, int) for v in labels),
             path, "sample_labels must be one integer per row of sample_logits")
    images = None
    if data["sample_images"] is not None:
        try:
            images = SampleImages.from_json(data["sample_images"])
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(path, f"invalid sample_images: {err}") from None
    for key in ("provenance", "accuracy_protocol"):
        _require(isinstance(data.get(key, {}), dict), path, f"{key} must be an object")
    _require(data.get("migrated") is None or isinstance(data["migrated"], dict), path, "migrated must be an object")
    digest = data.get("weights_sha256")
    _require(digest is None or (isinstance(digest, str) and _SHA256.fullmatch(digest) is not None), path,
             f"weights_sha256 must be 64 lowercase hex digits; got {digest!r}")

    record = RunRecord(
        run_id=data["run_id"], config=config, final_accuracy=float(data["final_accuracy"]),
        best_accuracy=None if data["best_accuracy"] is None else float(data["best_accuracy"]),
        best_epoch=data["best_epoch"],
        teacher_accuracy=None if data["teacher_accuracy"] is None else float(data["teacher_accuracy"]),
        num_params=data["num_params"], wall_seconds=float(data["wall_seconds"]),
        images_per_s=float(data["images_per_s"]), history=history,
        sample_logits=tuple(tuple(float(v) for v in row) for row in logits), sample_labels=tuple(labels),
        sample_images=images, provenance=data["provenance"], selected_epoch=selected[0],
        selected_accuracy=None if selected[1] is None else float(selected[1]),
        selected_val_accuracy=None if selected[2] is None else float(selected[2]),
        weights_sha256=digest,
        accuracy_protocol=data.get("accuracy_protocol", dict(ACCURACY_PROTOCOL)), migrated=data.get("migrated"),
    )
    # written by this version; derived again here (a record written before the flag existed has none)
    _require(data.get("collapsed", record.collapsed) == record.collapsed, path,
             f"collapsed is {data.get('collapsed')!r}, but the record's accuracy and losses say "
             f"{record.collapsed} (stingylib.runs.metrics.collapsed)")
    return record


# --- provenance --------------------------------------------------------------------------------------


def git_commit() -> str | None:
    """The source checkout's commit (with ``-dirty`` when it has uncommitted changes), or None
    (e.g. when installed from a wheel)."""
    from ..paths import checkout_root

    root = checkout_root()
    if root is None:
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance(device: str) -> dict[str, Any]:
    """Code version, package versions and machine of the current process."""
    import numpy
    import torch
    import torchvision

    from .._version import __version__

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
