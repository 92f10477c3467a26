"""Subsets, augmentation, normalisation and the batches of an epoch, on any device.

Training batches are a pure function of ``(data, batch_size, epoch, seed)`` and the device type,
so a run resumed at an epoch boundary sees exactly the batches it would have seen. The dataset
goes to the device once (:func:`resident`); augmentation runs as batched tensor ops there, and the
per-batch path never waits for the device: inputs are checked once per call, before the loop.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from .registry import DatasetInfo, ImageData, _check_images, _check_int

__all__ = ["split_validation", "class_balanced_subset", "augment", "normalize", "resident", "train_batches", "test_batches"]


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


#: Seed of the validation split: fixed, so every run of a dataset (teacher or student, any run
#: seed) holds out the same images.
VALIDATION_SEED = 12345


def split_validation(data: ImageData, val_per_class: int | None) -> ImageData:
    """Hold ``val_per_class`` images of every class out of the training split as a validation split.

    The held-out images are drawn with the fixed ``VALIDATION_SEED`` (not the run's seed), so
    every run of a dataset validates on the same images and none of them trains on them. The
    remaining training images keep their order; the test split is untouched.

    Args:
        data: a dataset without a validation split.
        val_per_class: images per class to hold out; ``None`` returns ``data`` (no validation split).

    Raises:
        ValueError: the count is not an integer ≥ 1, a class has too few training images, or
            ``data`` already has a validation split.
    """
    if val_per_class is None:
        return data
    if data.val_x is not None:
        raise ValueError("data already has a validation split")
    k = _check_int(val_per_class, "val_per_class", 1)
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    y = data.train_y.cpu()
    val_idx = _balanced_indices(y, k, data.info.num_classes, generator, "val").to(data.train_y.device)  # (K·k,)
    keep = torch.ones(y.numel(), dtype=torch.bool, device=data.train_y.device)
    keep[val_idx] = False  # (N,) True for the images that stay in training
    return ImageData(data.info, data.train_x[keep], data.train_y[keep], data.test_x, data.test_y,
                     data.train_x[val_idx], data.train_y[val_idx])


#: Added to the seed of the test subset's generator (the train subset's uses the seed itself).
TEST_SUBSET_OFFSET = 1_000_003


def class_balanced_subset(
    data: ImageData, *, train_per_class: int | None, test_per_class: int | None, seed: int = 0,
    test_seed: int | None = None,
) -> ImageData:
    """A seeded subset with exactly ``k`` samples of every class per split, in the original order.

    A validation split, if any, is kept whole (take the subset after :func:`split_validation`, so
    the training subset is drawn from the images the validation split left).

    Args:
        data: the full dataset.
        train_per_class: samples kept per class from the train split; ``None`` keeps the whole split.
        test_per_class: likewise for the test split.
        seed: the subset is a pure function of ``(data, train_per_class, test_per_class, seed,
            test_seed)``; each split's subset depends only on its own count and its seed.
        test_seed: the test subset's seed (``None``: ``seed``), so that runs with different training
            subsets can be scored on the same test images.

    Raises:
        ValueError: a count is not an integer ≥ 1, or some class has fewer samples than asked for.
    """
    seed = _check_int(seed, "seed", 0)
    test_seed = seed if test_seed is None else _check_int(test_seed, "test_seed", 0)
    parts = {}
    for split, k in (("train", train_per_class), ("test", test_per_class)):
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        if k is None:
            parts[split] = (x, y)
            continue
        k = _check_int(k, f"{split}_per_class", 1)
        # one generator per split: the test subset must not depend on whether the train split is
        # subset too (a teacher on the whole split and its students see the same test images)
        generator = torch.Generator().manual_seed(test_seed + TEST_SUBSET_OFFSET if split == "test" else seed)
        idx = _balanced_indices(y.cpu(), k, data.info.num_classes, generator, split).to(y.device)
        parts[split] = (x[idx], y[idx])
    return ImageData(data.info, *parts["train"], *parts["test"], data.val_x, data.val_y)


# ---------------------------------------------------------------------------------------------
# Augmentation and normalisation
# ---------------------------------------------------------------------------------------------


def augment(x: Tensor, *, crop_padding: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Random crop (after zero padding) and random horizontal flip of every image of a batch.

    Batched tensor ops, no Python loop over images. Random draws, in this order, all from
    ``generator`` (on its device, then moved to ``x.device`` if that differs): if
    ``crop_padding > 0``, row offsets then column offsets, each ``torch.randint(0, 2 * crop_padding
    + 1, (B,))``; if ``flip``, flip flags ``torch.rand(B) < 0.5``. Image ``i`` is the ``H × W``
    window at ``(dy[i], dx[i])`` of the image zero-padded by ``crop_padding`` on every side,
    mirrored left–right where its flag is set.

    Args:
        x: (B, C, H, W) images, uint8 or float (padding is value 0 of that dtype).
        crop_padding: padding ≥ 0 (0: no crop).
        flip: whether to flip half the images (on average).
        generator: a ``torch.Generator`` on the CPU or on ``x.device``.

    Returns:
        (B, C, H, W) augmented images, same dtype and device as ``x`` (``x`` itself when there is
        nothing to do).
    """
    _check_images(x)
    crop_padding = _check_int(crop_padding, "crop_padding", 0)
    if not isinstance(generator, torch.Generator) or generator.device.type not in ("cpu", x.device.type):
        where = f" on {generator.device}" if isinstance(generator, torch.Generator) else ""
        raise ValueError(f"generator must be a torch.Generator on the CPU or on x's device ({x.device}); "
                         f"got {generator!r}{where}")
    return _augment(x, crop_padding, flip, generator)


def _augment(x: Tensor, p: int, flip: bool, generator: torch.Generator) -> Tensor:
    """:func:`augment` without the input checks (the per-batch path: no host synchronisation)."""
    if p == 0 and not flip:
        return x
    b, c, h, w = x.shape
    if p > 0:
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=generator.device).to(x.device)  # (B,)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=generator.device).to(x.device)  # (B,)
        padded = x.new_zeros((b, c, h + 2 * p, w + 2 * p))  # (B, C, H+2p, W+2p)
        padded[:, :, p : p + h, p : p + w] = x
    else:
        dy = dx = torch.zeros(b, dtype=torch.int64, device=x.device)
        padded = x
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H) source rows in padded
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W) source columns in padded
    if flip:
        flags = (torch.rand(b, generator=generator, device=generator.device) < 0.5).to(x.device)  # (B,) bool
        cols = torch.where(flags[:, None], cols.flip(1), cols)  # reversed columns = mirrored crop
    batch_idx = torch.arange(b, device=x.device)[:, None, None, None]  # (B, 1, 1, 1)
    chan_idx = torch.arange(c, device=x.device)[None, :, None, None]  # (1, C, 1, 1)
    return padded[batch_idx, chan_idx, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


_NORM: dict[tuple[DatasetInfo, torch.device], tuple[Tensor, Tensor]] = {}  # (info, device) -> (mean, std)


def normalize(x: Tensor, info: DatasetInfo) -> Tensor:
    """uint8 (B, C, H, W) images → float32 ``(x / 255 - mean) / std`` per channel, on ``x``'s device.

    The (1, C, 1, 1) mean and std tensors are made once per (dataset, device) and cached, so a
    batch on CUDA costs no host→device copy of them.
    """
    _check_images(x)
    if x.dtype != torch.uint8:
        raise ValueError(f"x must be uint8 images (0..255) to normalize; got {x.dtype}")
    if x.shape[1] != len(info.mean):
        raise ValueError(f"x must have {len(info.mean)} channel(s) for {info.name!r}; got shape {tuple(x.shape)}")
    return _normalize(x, info)


def _normalize(x: Tensor, info: DatasetInfo) -> Tensor:
    """:func:`normalize` without the input checks (the per-batch path: no host synchronisation)."""
    key = (info, x.device)
    if key not in _NORM:
        _NORM[key] = (
            torch.tensor(info.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1),  # (1, C, 1, 1)
            torch.tensor(info.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1),  # (1, C, 1, 1)
        )
    mean, std = _NORM[key]
    return (x.to(torch.float32) / 255.0 - mean) / std  # (B, C, H, W) float32


# ---------------------------------------------------------------------------------------------
# The dataset on the device, and the batches of an epoch
# ---------------------------------------------------------------------------------------------

_RESIDENT: dict[tuple[int, str], tuple[ImageData, ImageData]] = {}  # (id(data), device) -> (data, on device)


def resident(data: ImageData, device: torch.device | str) -> ImageData:
    """The dataset with its four tensors on ``device``, moved once and cached (do not modify them).

    The engine calls it once per fit (:func:`train_batches` and :func:`test_batches` call it, then
    hit the cache), so the splits are not uploaded again every epoch. On the CPU it returns ``data``
    itself. The cache, keyed by ``(id(data), device)``, keeps a reference to ``data`` (so the id
    stays valid) and one dataset per device: moving another one there drops the previous one.
    """
    device = torch.device(device)
    tensors = data.tensors()
    if device.type == "cpu" and all(t is None or t.device.type == "cpu" for t in tensors):
        return data
    key = (id(data), str(device))
    if key not in _RESIDENT:
        moved = ImageData(data.info, *(None if t is None else t.to(device) for t in tensors))  # checks sync once
        for old in [k for k in _RESIDENT if k[1] == key[1]]:  # one dataset per device
            del _RESIDENT[old]
        _RESIDENT[key] = (data, moved)
        _RESIDENT[(id(moved), key[1])] = (moved, moved)
    return _RESIDENT[key][1]


def _epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator of one epoch, on ``device``: seeded with ``seed * 1_000_003 + epoch``."""
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + epoch) % (1 << 63))


def train_batches(
    data: ImageData, *, batch_size: int, epoch: int, seed: int, device: torch.device | str = "cpu",
    augment_data: bool = True, drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of shuffled, augmented, normalised training batches on ``device``.

    A pure function of ``(data, batch_size, epoch, seed)`` (and the flags) and the device type: the
    permutation, then per batch the augmentation draws (row offsets, column offsets, flip flags),
    come from one generator seeded with ``seed * 1_000_003 + epoch``. On the CPU it is a CPU
    generator: CPU batches, and so CPU resume, are bit-exact. On CUDA (any non-CPU device) the
    generator lives on the device, so no random numbers are copied to it per batch: CUDA batches
    differ from CPU batches (same distribution). The uint8 train split is on ``device`` once
    (:func:`resident`); batches are indexed, augmented (``data.info.crop_padding`` and
    ``data.info.flip``) and normalised there, without host synchronisation.

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
    if augment_data:
        _check_int(data.info.crop_padding, "crop_padding", 0)
    device = torch.device(device)
    return _train_iter(data, batch_size, epoch, seed, device, augment_data, drop_last)


def _train_iter(
    data: ImageData, batch_size: int, epoch: int, seed: int, device: torch.device, augment_data: bool, drop_last: bool
) -> Iterator[tuple[Tensor, Tensor]]:
    generator = _epoch_generator(seed, epoch, device)  # CPU: exactly the CPU generator
    info, data = data.info, resident(data, device)
    n = data.train_x.shape[0]
    perm = torch.randperm(n, generator=generator, device=device)  # (N,), drawn on the generator's device
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]  # (B,)
        xb = data.train_x[idx]  # (B, C, H, W) uint8
        if augment_data:
            xb = _augment(xb, info.crop_padding, info.flip, generator)
        yield _normalize(xb, info), data.train_y[idx]


def test_batches(
    data: ImageData, *, batch_size: int, device: torch.device | str = "cpu", split: str = "test"
) -> Iterator[tuple[Tensor, Tensor]]:
    """The test (or validation) split in order, normalised, without augmentation, in batches on ``device``.

    The split is on ``device`` once (:func:`resident`), not uploaded again per call.

    Args:
        split: ``"test"``, or ``"val"`` for a dataset with a validation split.

    Yields:
        (float32 (B, C, H, W) normalised images, int64 (B,) labels); the last batch may be smaller.
    """
    batch_size = _check_int(batch_size, "batch_size", 1)
    data.labels(split)  # checks the split
    device = torch.device(device)
    return _test_iter(data, batch_size, device, split)


def _test_iter(data: ImageData, batch_size: int, device: torch.device, split: str) -> Iterator[tuple[Tensor, Tensor]]:
    info, data = data.info, resident(data, device)
    x_all, y_all = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")  # (M, C, H, W) uint8, (M,)
    for start in range(0, x_all.shape[0], batch_size):
        yield _normalize(x_all[start : start + batch_size], info), y_all[start : start + batch_size]
