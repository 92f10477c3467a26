"""Where datasets, checkpoints and results live.

Everything goes under one *data root*, chosen by the first rule that applies:

1. ``$STINGY_DATA_ROOT``, when that environment variable is set (and not empty);
2. ``<checkout>/data`` when stingylib runs from a source checkout, i.e. the folder holding the
   ``stingylib`` package also holds a ``pyproject.toml`` whose ``[project]`` name is
   ``stingylib`` (a clone, or an editable install of one): see :func:`checkout_root`;
3. else, after a normal ``pip install``, a per-user folder,
   ``platformdirs.user_data_dir("stingy-book")``: ``~/.local/share/stingy-book`` on Linux (or
   ``$XDG_DATA_HOME/stingy-book``), ``~/Library/Application Support/stingy-book`` on macOS,
   ``%LOCALAPPDATA%\\stingy-book\\stingy-book`` on Windows. See :func:`user_data_root`.

Never a path relative to the current working directory. Nothing here creates a folder: the data
root and its subfolders are made by whoever writes into them. The paper's own numbers are not
under the data root: they ship inside the package (:mod:`stingylib.paper`).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

ENV_VAR = "STINGY_DATA_ROOT"
#: The name of the per-user data folder (rule 3), as given to ``platformdirs.user_data_dir``.
APP_NAME = "stingy-book"
#: The folder holding the ``stingylib`` package: the project checkout when run from source,
#: ``site-packages`` after a normal install (see :func:`checkout_root`).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def is_checkout(folder: Path | str) -> bool:
    """Whether ``folder`` is a stingylib source checkout: it holds a ``pyproject.toml`` whose
    ``[project]`` name is ``stingylib`` (an unreadable or malformed file counts as no)."""
    try:
        text = (Path(folder) / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # Python 3.10: the one key needed, without a TOML parser
        table = re.search(r"^\[project\][ \t]*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        name = table and re.search(r"""^name\s*=\s*["']([^"']*)["']""", table.group(1), re.M)
        return bool(name) and name.group(1) == "stingylib"
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return False
    return isinstance(project, dict) and project.get("name") == "stingylib"


@functools.lru_cache(maxsize=None)
def checkout_root() -> Path | None:
    """The source checkout stingylib runs from (:data:`PROJECT_ROOT` when :func:`is_checkout`),
    or ``None`` for an installed package."""
    return PROJECT_ROOT if is_checkout(PROJECT_ROOT) else None


def user_data_root() -> Path:
    """The per-user data root of an installed stingylib: ``platformdirs.user_data_dir("stingy-book")``
    (not created here)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def data_root() -> Path:
    """The data root: ``$STINGY_DATA_ROOT`` if set, else ``<checkout>/data`` when running from a
    source checkout, else :func:`user_data_root` (see the module's description)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    checkout = checkout_root()
    return checkout / "data" if checkout is not None else user_data_root()


def datasets_dir() -> Path:
    """Downloaded or copied datasets, one folder per dataset (torchvision's layouts)."""
    return data_root() / "datasets"


def results_dir(profile: str) -> Path:
    """One JSON record per finished run of ``profile``."""
    return data_root() / "results" / profile


def checkpoints_dir(profile: str) -> Path:
    """Per-run checkpoints of ``profile`` (large; never committed)."""
    return data_root() / "checkpoints" / profile


def shipped_weights_dir(profile: str) -> Path:
    """Final weights of ``profile``'s runs that others build on (teachers, adversaries), committed
    beside the records so that a checkout needs no retraining to add a student (read-only here)."""
    return data_root() / "weights" / profile
