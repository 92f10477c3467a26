"""Getting datasets onto the machine: download, or apt-get install, then load once to check.

:func:`ensure_dataset` makes one dataset available offline; :func:`main` is the command line
``python -m stingylib.data ensure NAME [--root DIR]`` (run by ``stingylib/data/__main__.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from .cifar import _CIFAR_FOLDERS
from .fashion import DEBIAN_FASHION_MNIST_PACKAGE
from .registry import DATASETS, DatasetNotFoundError, _check_name, load_dataset

__all__ = ["ensure_dataset", "main"]


def _run(cmd: Sequence[str]) -> int:
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(list(cmd), check=False).returncode


def ensure_dataset(name: str, *, root: Path | None = None) -> None:
    """Make dataset ``name`` available offline, if possible, and load it once to check.

    - ``digits``: nothing to do (bundled with scikit-learn).
    - ``fashion-mnist``: if not loadable already, install the Debian package
      ``dataset-fashion-mnist`` with ``apt-get`` when ``apt-get`` exists and we run as root (with an
      ``apt-get update`` and a retry if the first install fails), else let torchvision download it.
    - ``cifar10`` / ``cifar100``: torchvision downloads it into ``root`` (no-op when present).

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: every way failed; the message says what to do by hand.
    """
    _check_name(name)
    if name == "digits":
        return
    if name in _CIFAR_FOLDERS:
        load_dataset(name, root=root, download=True)
        return
    try:
        load_dataset(name, root=root, download=False)
        return
    except DatasetNotFoundError:
        pass
    can_apt = shutil.which("apt-get") is not None and hasattr(os, "geteuid") and os.geteuid() == 0
    if can_apt:
        print(f"fashion-mnist not found; installing the Debian package {DEBIAN_FASHION_MNIST_PACKAGE}")
        install = ["apt-get", "install", "-y", DEBIAN_FASHION_MNIST_PACKAGE]
        if _run(install) != 0 and _run(["apt-get", "update"]) == 0:
            _run(install)
        try:
            load_dataset(name, root=root, download=False)
            return
        except DatasetNotFoundError:
            print("the Debian package did not provide it; trying torchvision's download")
    else:
        print("fashion-mnist not found; trying torchvision's download (apt-get needs root)")
    load_dataset(name, root=root, download=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stingylib.data ensure NAME [--root DIR]``: make a dataset available offline."""
    parser = argparse.ArgumentParser(prog="python -m stingylib.data",
                                     description="Make a dataset available offline and check that it loads.")
    sub = parser.add_subparsers(dest="command", required=True)
    ens = sub.add_parser("ensure", help="make a dataset available offline (download or apt-get install)")
    ens.add_argument("name", choices=sorted(DATASETS))
    ens.add_argument("--root", type=Path, default=None, help="datasets folder (default: <data root>/datasets)")
    args = parser.parse_args(argv)
    try:
        ensure_dataset(args.name, root=args.root)
        data = load_dataset(args.name, root=args.root, download=False)
    except DatasetNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.name}: train {tuple(data.train_x.shape)}, test {tuple(data.test_x.shape)}, "
        f"{data.info.num_classes} classes — available offline"
    )
    return 0
