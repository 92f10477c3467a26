"""The ``digits`` loader: scikit-learn's bundled 8×8 digits, always offline.

scikit-learn is imported when the loader runs, not when this module is imported.
"""

from __future__ import annotations

import numpy as np
import torch

from .registry import DatasetInfo, ImageData, register_dataset

__all__ = ["DIGITS", "load_digits"]


def load_digits(info: DatasetInfo, root: object = None, download: bool = False) -> ImageData:
    """scikit-learn's 8×8 digits (``root`` and ``download`` unused: bundled), values 0..16 scaled to 0..255, stratified 3/4 : 1/4 split (seed 0)."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
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


# Mean and (population) std of train_x / 255 over the 1347-image train split made by load_digits,
# i.e. `(x.double() / 255).mean()` and `.std(unbiased=False)` → 0.30528, 0.37584, rounded to 4
# decimals (tests/test_data.py recomputes and checks them).
DIGITS = register_dataset(
    DatasetInfo("digits", 10, 1, 8, (0.3053,), (0.3758,), crop_padding=1, flip=False, train_size=1347),
    load_digits, uses_root=False)
