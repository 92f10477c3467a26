"""Datasets held whole in memory as uint8 tensors, with batched on-device augmentation.

One module per job, every public name re-exported here:

- ``registry``: the datasets by name (:data:`DATASETS`, :class:`DatasetInfo`), their in-memory form
  (:class:`ImageData`), :class:`DatasetNotFoundError`, :func:`register_dataset` and
  :func:`load_dataset` with its cache, which calls the registered loader;
- ``digits``, ``cifar``, ``fashion``: one loader each, which registers its datasets when imported
  (``digits``; ``cifar10`` / ``cifar100``; ``fashion-mnist``, including the Debian package's files
  in :data:`DEBIAN_FASHION_MNIST_DIR`). This package imports them, so every dataset is registered
  as soon as any part of ``stingylib.data`` is imported.
- ``batches``: the validation split, class-balanced subsets, augmentation, normalisation, the dataset on the device
  (:func:`resident`) and the batches of an epoch (:func:`train_batches`, :func:`test_batches`).
- ``fetch``: :func:`ensure_dataset` and the command line ``python -m stingylib.data ensure NAME``
  (:func:`main`), which makes a dataset available offline.

Module-level settings are read where they are used: to patch one (e.g. in tests), patch that
module (``stingylib.data.fashion.DEBIAN_FASHION_MNIST_DIR``, ``stingylib.data.registry._CACHE``),
not this package.

Importing this package only registers the built-in datasets' names: nothing is read, downloaded or
cached until a function is called, and torchvision / scikit-learn are imported only by the loaders.
"""

from __future__ import annotations

from . import cifar as _cifar  # noqa: F401 - each loader module registers its datasets
from . import digits as _digits  # noqa: F401
from . import fashion as _fashion
from .batches import (
    VALIDATION_SEED,
    augment,
    class_balanced_subset,
    normalize,
    resident,
    split_validation,
    test_batches,
    train_batches,
)
from .fetch import ensure_dataset, main
from .registry import DATASETS, DatasetInfo, DatasetNotFoundError, ImageData, load_dataset, register_dataset

__all__ = [
    "DatasetInfo",
    "DATASETS",
    "ImageData",
    "DatasetNotFoundError",
    "DEBIAN_FASHION_MNIST_DIR",
    "load_dataset",
    "register_dataset",
    "split_validation",
    "VALIDATION_SEED",
    "class_balanced_subset",
    "augment",
    "normalize",
    "resident",
    "train_batches",
    "test_batches",
    "ensure_dataset",
    "main",
]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` puts the original idx ``.gz`` files
#: (a copy of ``stingylib.data.fashion.DEBIAN_FASHION_MNIST_DIR``, which the loader reads).
DEBIAN_FASHION_MNIST_DIR = _fashion.DEBIAN_FASHION_MNIST_DIR
