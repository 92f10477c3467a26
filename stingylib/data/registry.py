"""The dataset registry: datasets by name, their in-memory form, the shared input checks, :func:`load_dataset`.

A dataset is held whole in memory as uint8 tensors (:class:`ImageData`). Each loader module
registers its datasets here with :func:`register_dataset` (their static facts, a
:class:`DatasetInfo`, and the function that reads them); this module knows no dataset by name.
Registered by the package's loader modules:

- ``cifar10`` / ``cifar100`` (:mod:`stingylib.data.cifar`): read by torchvision's own
  CIFAR10/CIFAR100 classes from ``<datasets_dir>/cifar-10-batches-py`` / ``cifar-100-python``
  (downloaded by torchvision when ``download=True`` and the machine has internet).
- ``fashion-mnist`` (:mod:`stingylib.data.fashion`): torchvision's layout
  ``<datasets_dir>/FashionMNIST/raw`` first, else the idx ``.gz`` files of the Debian/Ubuntu
  package ``dataset-fashion-mnist``, else a torchvision download.
- ``digits`` (:mod:`stingylib.data.digits`): scikit-learn's bundled 8×8 digits (always offline),
  split 3/4 train, 1/4 test.

Adding a dataset is one loader module that calls :func:`register_dataset`, imported by the
package (``stingylib/data/__init__.py``). Importing this module has no side effects: nothing is
read, downloaded or cached until a function is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..paths import datasets_dir


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset: shape, class count, normalisation and default augmentation."""

    name: str
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]  # per channel, of pixel values scaled to [0, 1]
    std: tuple[float, ...]
    crop_padding: int  # default training augmentation: random crop after zero padding by this much
    flip: bool  # default training augmentation: random horizontal flip
    train_size: int  # images in the whole training split (before a validation split is held out)


#: The registered datasets by name (filled by the loader modules through :func:`register_dataset`).
DATASETS: dict[str, DatasetInfo] = {}

#: name → (loader, whether it reads files under a datasets folder): a loader is called as
#: ``loader(info, root, download)`` and returns the whole dataset (:class:`ImageData`).
Loader = Callable[[DatasetInfo, "Path | None", bool], "ImageData"]
_LOADERS: dict[str, tuple[Loader, bool]] = {}


def register_dataset(info: DatasetInfo, loader: Loader, *, uses_root: bool = True) -> DatasetInfo:
    """Make a dataset available by ``info.name`` (:data:`DATASETS`, :func:`load_dataset`).

    Args:
        info: its static facts.
        loader: ``loader(info, root, download)`` reads it whole (``root``: the datasets folder, or
            None when ``uses_root`` is False).
        uses_root: whether it reads files under the datasets folder (False: bundled data, cached once).

    Raises:
        ValueError: another dataset of that name is registered already.
    """
    if info.name in DATASETS and DATASETS[info.name] != info:
        raise ValueError(f"a dataset named {info.name!r} is registered already")
    DATASETS[info.name] = info
    _LOADERS[info.name] = (loader, uses_root)
    return info


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says exactly how to get it."""


@dataclass(frozen=True)
class ImageData:
    """A whole dataset in memory: uint8 images (N, C, H, W) and int64 labels (N,), train and test,
    and optionally a validation split held out of the training split (:func:`~stingylib.data.split_validation`).

    The tensors of a dataset returned by :func:`load_dataset` are shared through its cache: do not
    modify them in place.
    """

    info: DatasetInfo
    train_x: Tensor  # uint8 (N, C, H, W)
    train_y: Tensor  # int64 (N,)
    test_x: Tensor  # uint8 (M, C, H, W)
    test_y: Tensor  # int64 (M,)
    val_x: Tensor | None = None  # uint8 (V, C, H, W): held out of train; None without a validation split
    val_y: Tensor | None = None  # int64 (V,)

    def __post_init__(self) -> None:
        if (self.val_x is None) != (self.val_y is None):
            raise ValueError("val_x and val_y must both be tensors or both be None")
        for split in self.splits:
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if not isinstance(x, Tensor) or x.dtype != torch.uint8 or x.dim() != 4:
                desc = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"{split}_x must be a uint8 tensor (N, C, H, W); got {desc}")
            if x.shape[1] != self.info.channels:
                raise ValueError(
                    f"{split}_x must have {self.info.channels} channel(s) for {self.info.name!r}; "
                    f"got shape {tuple(x.shape)}"
                )
            if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.dim() != 1 or y.shape[0] != x.shape[0]:
                desc = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
                raise ValueError(f"{split}_y must be an int64 tensor ({x.shape[0]},) matching {split}_x; got {desc}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.info.num_classes):
                raise ValueError(f"{split}_y must hold class indices in [0, {self.info.num_classes - 1}]")

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this dataset has, ``("train", "test")`` plus ``"val"`` with a validation split."""
        return ("train", "test") if self.val_x is None else ("train", "test", "val")

    def tensors(self) -> tuple[Tensor | None, ...]:
        """The six tensors in field order (train_x, train_y, test_x, test_y, val_x, val_y)."""
        return (self.train_x, self.train_y, self.test_x, self.test_y, self.val_x, self.val_y)

    def labels(self, split: str) -> Tensor:
        """The (N,) labels of ``split`` (``"test"`` or ``"val"``)."""
        if split not in ("test", "val") or (split == "val" and self.val_y is None):
            raise ValueError(f"split must be 'test' or 'val' (a dataset with a validation split); got {split!r}")
        return self.test_y if split == "test" else self.val_y


# ---------------------------------------------------------------------------------------------
# Input checks (shared by the other modules of stingylib.data)
# ---------------------------------------------------------------------------------------------


def _check_name(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"dataset name must be one of {sorted(DATASETS)}; got {name!r}")
    return DATASETS[name]


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_images(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        desc = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 4-D tensor (B, C, H, W); got {desc}")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_CACHE: dict[tuple[str, Path | None], ImageData] = {}


def load_dataset(name: str, *, root: Path | None = None, download: bool = True) -> ImageData:
    """Load dataset ``name`` whole into memory (once per (name, root); later calls hit a cache).

    Args:
        name: one of :data:`DATASETS` (``cifar10``, ``cifar100``, ``fashion-mnist``, ``digits``).
        root: the datasets folder holding torchvision's layouts (``cifar-10-batches-py/``,
            ``FashionMNIST/raw/``, ...); default :func:`stingylib.paths.datasets_dir`.
        download: let torchvision download a missing dataset (needs internet). ``digits`` never
            downloads; ``fashion-mnist`` tries the Debian package's files before downloading.

    Returns:
        :class:`ImageData` with uint8 (N, C, H, W) images and int64 labels.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: the dataset is not on disk and could not be downloaded; the message
            says where it was expected and how to get it.
    """
    info = _check_name(name)
    loader, uses_root = _LOADERS[name]
    if uses_root:
        root = Path(root).expanduser().resolve() if root is not None else datasets_dir()
    else:
        root = None
    key = (name, root)
    if key not in _CACHE:
        _CACHE[key] = loader(info, root, download)
    return _CACHE[key]
