"""Where datasets, checkpoints and results live.

Everything goes under one *data root*: the ``STINGY_DATA_ROOT`` environment variable when set,
else the ``data/`` folder of the project checkout (next to ``pyproject.toml``), never a path
relative to the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "STINGY_DATA_ROOT"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The data root: ``$STINGY_DATA_ROOT`` if set, else ``<project>/data``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "data"


def datasets_dir() -> Path:
    """Downloaded or copied datasets, one folder per dataset (torchvision's layouts)."""
    return data_root() / "datasets"


def results_dir(profile: str) -> Path:
    """One JSON record per finished run of ``profile``."""
    return data_root() / "results" / profile


def checkpoints_dir(profile: str) -> Path:
    """Per-run checkpoints of ``profile`` (large; never committed)."""
    return data_root() / "checkpoints" / profile


def paper_dir() -> Path:
    """The paper's published numbers, typed in from the poster (committed CSV files)."""
    return PROJECT_ROOT / "data" / "paper"
