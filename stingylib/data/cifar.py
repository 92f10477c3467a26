"""The ``cifar10`` / ``cifar100`` loader, through torchvision's own CIFAR10/CIFAR100 classes.

The files are read from ``<root>/cifar-10-batches-py`` / ``<root>/cifar-100-python`` (downloaded
there by torchvision when ``download=True`` and the machine has internet). torchvision is imported
when the loader runs, not when this module is imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .registry import DatasetInfo, DatasetNotFoundError, ImageData, register_dataset

__all__ = ["load_cifar"]

_CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}  # name -> folder under root


def _cifar_missing_message(info: DatasetInfo, root: Path, cause: BaseException | None) -> str:
    folder = _CIFAR_FOLDERS[info.name]
    archive = "cifar-10-python.tar.gz" if info.name == "cifar10" else "cifar-100-python.tar.gz"
    detail = f"\n(underlying error: {type(cause).__name__}: {cause})" if cause is not None else ""
    return (
        f"{info.name} not found (or corrupted) in {root / folder}.\n"
        f"To get it, either:\n"
        f"  - run with internet access and download=True: torchvision downloads and extracts it into "
        f"{root} (or run `python -m stingylib.data ensure {info.name}`), or\n"
        f"  - place the extracted `{folder}/` folder (from https://www.cs.toronto.edu/~kriz/{archive}) "
        f"in {root} yourself, or set STINGY_DATA_ROOT to a data root whose datasets/ folder has it."
        f"{detail}"
    )


def load_cifar(info: DatasetInfo, root: Path, download: bool) -> ImageData:
    """CIFAR-10/100 through torchvision's own loaders; (N, 32, 32, 3) → (N, 3, 32, 32)."""
    from torchvision import datasets as tvd

    cls = tvd.CIFAR10 if info.name == "cifar10" else tvd.CIFAR100
    splits = []
    for train in (True, False):
        try:
            ds = cls(root=str(root), train=train, download=download)
        except (RuntimeError, OSError) as exc:  # missing/corrupt files, or download failed (URLError ⊂ OSError)
            raise DatasetNotFoundError(_cifar_missing_message(info, root, exc)) from exc
        x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # (N, 3, 32, 32) uint8
        y = torch.as_tensor(ds.targets, dtype=torch.int64)  # (N,)
        splits.append((x, y))
    (train_x, train_y), (test_x, test_y) = splits
    return ImageData(info, train_x, train_y, test_x, test_y)


_CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR_STD = (0.247, 0.243, 0.261)
for _classes in (10, 100):
    register_dataset(DatasetInfo(f"cifar{_classes}", _classes, 3, 32, _CIFAR_MEAN, _CIFAR_STD, crop_padding=4,
                                 flip=True, train_size=50_000), load_cifar)
