"""The ``fashion-mnist`` loader: torchvision's layout, else the Debian package's files, else a download.

Sources, in order: torchvision's layout ``<root>/FashionMNIST/raw``; the idx ``.gz`` files of the
Debian/Ubuntu package ``dataset-fashion-mnist`` in :data:`DEBIAN_FASHION_MNIST_DIR` (read by
:func:`_read_idx`, no torchvision needed); a torchvision download into ``root``. torchvision is
imported when a loader runs, not when this module is imported.

The loaders read :data:`DEBIAN_FASHION_MNIST_DIR` from this module at call time: to point them
elsewhere (tests), patch ``stingylib.data.fashion.DEBIAN_FASHION_MNIST_DIR``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .registry import DatasetInfo, DatasetNotFoundError, ImageData, register_dataset

__all__ = ["DEBIAN_FASHION_MNIST_DIR", "DEBIAN_FASHION_MNIST_PACKAGE", "load_fashion_mnist"]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` puts the original idx ``.gz`` files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
_FASHION_FILES = {  # split -> (images file, labels file), the original names without ".gz"
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

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


def load_fashion_mnist(info: DatasetInfo, root: Path, download: bool) -> ImageData:
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


register_dataset(DatasetInfo("fashion-mnist", 10, 1, 28, (0.2860,), (0.3530,), crop_padding=2, flip=True,
                             train_size=60_000), load_fashion_mnist)
