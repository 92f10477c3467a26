"""Datasets held whole in memory as uint8 tensors, with batched on-device augmentation.

Four datasets, by name (:data:`DATASETS`):

- ``cifar10`` / ``cifar100``: read by torchvision's own CIFAR10/CIFAR100 classes from
  ``<datasets_dir>/cifar-10-batches-py`` / ``cifar-100-python`` (downloaded by torchvision when
  ``download=True`` and the machine has internet).
- ``fashion-mnist``: torchvision's layout ``<datasets_dir>/FashionMNIST/raw`` first, else the idx
  ``.gz`` files of the Debian/Ubuntu package ``dataset-fashion-mnist``
  (:data:`DEBIAN_FASHION_MNIST_DIR`), else a torchvision download.
- ``digits``: scikit-learn's bundled 8×8 digits (always offline), split 3/4 train, 1/4 test.

Training batches are a pure function of ``(data, batch_size, epoch, seed)``: the shuffle and the
augmentation of one epoch come from one CPU generator seeded from ``(seed, epoch)``, so a run
resumed at an epoch boundary sees exactly the batches it would have seen. Augmentation (random
crop with zero padding + horizontal flip) runs as batched tensor ops on the batch's device.

Importing this module has no side effects: nothing is read, downloaded or cached until a function
is called. ``python -m stingylib.data ensure NAME`` makes a dataset available offline.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from .paths import datasets_dir

__all__ = [
    "DatasetInfo",
    "DATASETS",
    "ImageData",
    "DatasetNotFoundError",
    "DEBIAN_FASHION_MNIST_DIR",
    "load_dataset",
    "class_balanced_subset",
    "augment",
    "normalize",
    "train_batches",
    "test_batches",
    "ensure_dataset",
    "main",
]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` puts the original idx ``.gz`` files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
_FASHION_FILES = {  # split -> (images file, labels file), the original names without ".gz"
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


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


_CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR_STD = (0.247, 0.243, 0.261)

DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, _CIFAR_MEAN, _CIFAR_STD, crop_padding=4, flip=True),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, _CIFAR_MEAN, _CIFAR_STD, crop_padding=4, flip=True),
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 1, 28, (0.2860,), (0.3530,), crop_padding=2, flip=True),
    # Digits: mean and (population) std of train_x / 255 over the 1347-image train split made by
    # load_dataset("digits"), i.e. `(x.double() / 255).mean()` and `.std(unbiased=False)` → 0.30528,
    # 0.37584, rounded to 4 decimals (tests/test_data.py recomputes and checks them).
    "digits": DatasetInfo("digits", 10, 1, 8, (0.3053,), (0.3758,), crop_padding=1, flip=False),
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says exactly how to get it."""


@dataclass(frozen=True)
class ImageData:
    """A whole dataset in memory: uint8 images (N, C, H, W) and int64 labels (N,), train and test.

    The tensors of a dataset returned by :func:`load_dataset` are shared through its cache: do not
    modify them in place.
    """

    info: DatasetInfo
    train_x: Tensor  # uint8 (N, C, H, W)
    train_y: Tensor  # int64 (N,)
    test_x: Tensor  # uint8 (M, C, H, W)
    test_y: Tensor  # int64 (M,)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
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


# ---------------------------------------------------------------------------------------------
# Input checks
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
    if name == "digits":
        key: tuple[str, Path | None] = (name, None)
    else:
        root = Path(root).expanduser().resolve() if root is not None else datasets_dir()
        key = (name, root)
    if key in _CACHE:
        return _CACHE[key]
    if name == "digits":
        data = _load_digits(info)
    elif name in _CIFAR_FOLDERS:
        data = _load_cifar(info, root, download)
    else:
        data = _load_fashion_mnist(info, root, download)
    _CACHE[key] = data
    return data


def _load_digits(info: DatasetInfo) -> ImageData:
    """scikit-learn's 8×8 digits, values 0..16 scaled to 0..255, stratified 3/4 : 1/4 split (seed 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8), 16 → 255
    labels = bunch.target.astype(np.int64)  # (1797,)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=0
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)  # keep the original order
    x = torch.from_numpy(images).unsqueeze(1)  # (1797, 1, 8, 8)
    y = torch.from_numpy(labels)
    return ImageData(
        info,
        train_x=x[torch.from_numpy(train_idx)].contiguous(),
        train_y=y[torch.from_numpy(train_idx)].contiguous(),
        test_x=x[torch.from_numpy(test_idx)].contiguous(),
        test_y=y[torch.from_numpy(test_idx)].contiguous(),
    )


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


def _load_cifar(info: DatasetInfo, root: Path, download: bool) -> ImageData:
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


_IDX_DTYPES = {  # idx type code -> big-endian NumPy dtype
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file (plain or ``.gz``): 2 zero bytes, type code, ndim, ndim big-endian uint32 sizes, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: idx header says {dims} × {dtype.itemsize} bytes, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _fashion_from_arrays(info: DatasetInfo, arrays: dict[str, tuple[Tensor, Tensor]]) -> ImageData:
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["test"]
    return ImageData(
        info,
        train_x=train_x.to(torch.uint8).unsqueeze(1).contiguous(),  # (N, 28, 28) → (N, 1, 28, 28)
        train_y=train_y.to(torch.int64).contiguous(),
        test_x=test_x.to(torch.uint8).unsqueeze(1).contiguous(),
        test_y=test_y.to(torch.int64).contiguous(),
    )


def _fashion_torchvision(info: DatasetInfo, root: Path, download: bool) -> ImageData:
    from torchvision import datasets as tvd

    arrays = {}
    for split in ("train", "test"):
        ds = tvd.FashionMNIST(root=str(root), train=split == "train", download=download)
        arrays[split] = (ds.data, ds.targets)  # uint8 (N, 28, 28), int64 (N,)
    return _fashion_from_arrays(info, arrays)


def _fashion_debian_available() -> bool:
    return all((DEBIAN_FASHION_MNIST_DIR / f"{f}.gz").is_file() for pair in _FASHION_FILES.values() for f in pair)


def _fashion_debian(info: DatasetInfo) -> ImageData:
    arrays = {}
    for split, (images_file, labels_file) in _FASHION_FILES.items():
        images = _read_idx(DEBIAN_FASHION_MNIST_DIR / f"{images_file}.gz")  # (N, 28, 28) uint8
        labels = _read_idx(DEBIAN_FASHION_MNIST_DIR / f"{labels_file}.gz")  # (N,) uint8
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{DEBIAN_FASHION_MNIST_DIR}: {split} images {images.shape} and labels {labels.shape} do not match"
            )
        arrays[split] = (torch.from_numpy(images), torch.from_numpy(labels))
    return _fashion_from_arrays(info, arrays)


def _fashion_missing_message(root: Path, cause: BaseException | None) -> str:
    detail = f"\n(underlying error: {type(cause).__name__}: {cause})" if cause is not None else ""
    return (
        f"fashion-mnist not found. Looked in {root / 'FashionMNIST' / 'raw'} (torchvision's layout) and "
        f"{DEBIAN_FASHION_MNIST_DIR} (Debian package).\n"
        f"To get it, either:\n"
        f"  - on Debian/Ubuntu: `sudo apt-get install {DEBIAN_FASHION_MNIST_PACKAGE}` "
        f"(puts the idx .gz files in {DEBIAN_FASHION_MNIST_DIR}), or\n"
        f"  - run with internet access and download=True so torchvision downloads it into "
        f"{root / 'FashionMNIST' / 'raw'} (or run `python -m stingylib.data ensure fashion-mnist`)."
        f"{detail}"
    )


def _load_fashion_mnist(info: DatasetInfo, root: Path, download: bool) -> ImageData:
    """torchvision layout under ``root``, else the Debian package's files, else a torchvision download."""
    try:
        return _fashion_torchvision(info, root, download=False)
    except RuntimeError:  # "Dataset not found": fall through to the next source
        pass
    if _fashion_debian_available():
        return _fashion_debian(info)
    cause: BaseException | None = None
    if download:
        try:
            return _fashion_torchvision(info, root, download=True)
        except (RuntimeError, OSError) as exc:
            cause = exc
    raise DatasetNotFoundError(_fashion_missing_message(root, cause)) from cause


# ---------------------------------------------------------------------------------------------
# Subsets
# ---------------------------------------------------------------------------------------------


def _balanced_indices(y: Tensor, per_class: int, num_classes: int, generator: torch.Generator, split: str) -> Tensor:
    """Sorted indices of exactly ``per_class`` samples of each class, drawn with ``generator``."""
    chosen = []
    for c in range(num_classes):
        idx = torch.nonzero(y == c).flatten()  # (count_c,), ascending
        if idx.numel() < per_class:
            raise ValueError(
                f"{split}_per_class={per_class} but class {c} has only {idx.numel()} {split} samples"
            )
        pick = torch.randperm(idx.numel(), generator=generator)[:per_class]  # (per_class,)
        chosen.append(idx[pick])
    return torch.cat(chosen).sort().values  # (num_classes * per_class,), original order kept


def class_balanced_subset(
    data: ImageData, *, train_per_class: int | None, test_per_class: int | None, seed: int = 0
) -> ImageData:
    """A seeded subset with exactly ``k`` samples of every class per split, in the original order.

    Args:
        data: the full dataset.
        train_per_class: samples kept per class from the train split; ``None`` keeps the whole split.
        test_per_class: likewise for the test split.
        seed: the subset is a pure function of ``(data, train_per_class, test_per_class, seed)``.

    Raises:
        ValueError: a count is not an integer ≥ 1, or some class has fewer samples than asked for.
    """
    seed = _check_int(seed, "seed", 0)
    generator = torch.Generator().manual_seed(seed)
    parts = {}
    for split, k in (("train", train_per_class), ("test", test_per_class)):
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        if k is None:
            parts[split] = (x, y)
            continue
        k = _check_int(k, f"{split}_per_class", 1)
        idx = _balanced_indices(y.cpu(), k, data.info.num_classes, generator, split).to(y.device)
        parts[split] = (x[idx], y[idx])
    return ImageData(data.info, *parts["train"], *parts["test"])


# ---------------------------------------------------------------------------------------------
# Augmentation, normalisation, batches
# ---------------------------------------------------------------------------------------------


def augment(x: Tensor, *, crop_padding: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random crop (after zero padding) and random horizontal flip of every image of a batch.

    Batched tensor ops, no Python loop over images. Random draws, in this order, all from the CPU
    ``generator`` and then moved to ``x.device``: if ``crop_padding > 0``, row offsets then column
    offsets, each ``torch.randint(0, 2 * crop_padding + 1, (B,))``; if ``flip``, flip flags
    ``torch.rand(B) < 0.5``. Image ``i`` is the ``H × W`` window at ``(dy[i], dx[i])`` of the image
    zero-padded by ``crop_padding`` on every side, mirrored left–right where its flag is set.

    Args:
        x: (B, C, H, W) images, uint8 or float (padding is value 0 of that dtype).
        crop_padding: padding ≥ 0 (0: no crop).
        flip: whether to flip half the images (on average).
        generator: a CPU ``torch.Generator``.

    Returns:
        (B, C, H, W) augmented images, same dtype and device as ``x`` (``x`` itself when there is
        nothing to do).
    """
    _check_images(x)
    crop_padding = _check_int(crop_padding, "crop_padding", 0)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator; got {generator!r}")
    if crop_padding == 0 and not flip:
        return x
    b, c, h, w = x.shape
    p = crop_padding
    if p > 0:
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)  # (B,)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)  # (B,)
        padded = x.new_zeros((b, c, h + 2 * p, w + 2 * p))  # (B, C, H+2p, W+2p)
        padded[:, :, p : p + h, p : p + w] = x
    else:
        dy = dx = torch.zeros(b, dtype=torch.int64, device=x.device)
        padded = x
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H) source rows in padded
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W) source columns in padded
    if flip:
        flags = (torch.rand(b, generator=generator) < 0.5).to(x.device)  # (B,) bool
        cols = torch.where(flags[:, None], cols.flip(1), cols)  # reversed columns = mirrored crop
    batch_idx = torch.arange(b, device=x.device)[:, None, None, None]  # (B, 1, 1, 1)
    chan_idx = torch.arange(c, device=x.device)[None, :, None, None]  # (1, C, 1, 1)
    return padded[batch_idx, chan_idx, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def normalize(x: Tensor, info: DatasetInfo) -> Tensor:
    """uint8 (B, C, H, W) images → float32 ``(x / 255 - mean) / std`` per channel, on ``x``'s device."""
    _check_images(x)
    if x.dtype != torch.uint8:
        raise ValueError(f"x must be uint8 images (0..255) to normalize; got {x.dtype}")
    if x.shape[1] != len(info.mean):
        raise ValueError(f"x must have {len(info.mean)} channel(s) for {info.name!r}; got shape {tuple(x.shape)}")
    mean = torch.tensor(info.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)  # (1, C, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)  # (1, C, 1, 1)
    return (x.to(torch.float32) / 255.0 - mean) / std  # (B, C, H, W) float32


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator of one epoch: seeded with ``seed * 1_000_003 + epoch``."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (1 << 63))


def train_batches(
    data: ImageData,
    *,
    batch_size: int,
    epoch: int,
    seed: int,
    device: torch.device | str = "cpu",
    augment_data: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of shuffled, augmented, normalised training batches on ``device``.

    A pure function of ``(data, batch_size, epoch, seed)`` (and the flags): the permutation and the
    augmentation draws come from one CPU generator seeded with ``seed * 1_000_003 + epoch``, so the
    batches do not depend on the device or on anything run before. The uint8 train split is moved
    to ``device`` once per call; batches are indexed, augmented (``data.info.crop_padding`` and
    ``data.info.flip``) and normalised there.

    Args:
        data: the dataset (its train split is used).
        batch_size: images per batch, ≥ 1 (the last batch is smaller unless ``drop_last``).
        epoch: epoch number, ≥ 0.
        seed: run seed, ≥ 0.
        device: where the batches live.
        augment_data: apply the default augmentation (False: only shuffle and normalise).
        drop_last: skip a final batch smaller than ``batch_size``.

    Yields:
        (float32 (B, C, H, W) normalised images, int64 (B,) labels), both on ``device``.
    """
    batch_size = _check_int(batch_size, "batch_size", 1)
    epoch = _check_int(epoch, "epoch", 0)
    seed = _check_int(seed, "seed", 0)
    device = torch.device(device)
    return _train_iter(data, batch_size, epoch, seed, device, augment_data, drop_last)


def _train_iter(
    data: ImageData, batch_size: int, epoch: int, seed: int, device: torch.device, augment_data: bool, drop_last: bool
) -> Iterator[tuple[Tensor, Tensor]]:
    generator = _epoch_generator(seed, epoch)
    n = data.train_x.shape[0]
    perm = torch.randperm(n, generator=generator)  # (N,) on the CPU
    x_all = data.train_x.to(device)  # (N, C, H, W) uint8, one transfer per call
    y_all = data.train_y.to(device)  # (N,)
    perm = perm.to(device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]  # (B,)
        xb = x_all[idx]  # (B, C, H, W) uint8
        if augment_data:
            xb = augment(xb, crop_padding=data.info.crop_padding, flip=data.info.flip, generator=generator)
        yield normalize(xb, data.info), y_all[idx]


def test_batches(
    data: ImageData, *, batch_size: int, device: torch.device | str = "cpu"
) -> Iterator[tuple[Tensor, Tensor]]:
    """The test split in order, normalised, without augmentation, in batches on ``device``.

    Yields:
        (float32 (B, C, H, W) normalised images, int64 (B,) labels); the last batch may be smaller.
    """
    batch_size = _check_int(batch_size, "batch_size", 1)
    device = torch.device(device)
    return _test_iter(data, batch_size, device)


def _test_iter(data: ImageData, batch_size: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    x_all = data.test_x.to(device)  # (M, C, H, W) uint8
    y_all = data.test_y.to(device)  # (M,)
    for start in range(0, x_all.shape[0], batch_size):
        yield normalize(x_all[start : start + batch_size], data.info), y_all[start : start + batch_size]


# ---------------------------------------------------------------------------------------------
# Getting datasets onto the machine
# ---------------------------------------------------------------------------------------------


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
    parser = argparse.ArgumentParser(prog="python -m stingylib.data", description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    sys.exit(main())
