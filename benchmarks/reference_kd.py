"""A reference-style KD training epoch, written as the original authors' code would write it.

The yardstick our engine is compared against (``benchmarks/bench_train.py`` imports it; a script run
as ``python benchmarks/<script>.py`` has ``benchmarks/`` on ``sys.path``, so
``from reference_kd import reference_kd_epoch`` works there). It is the usual PyTorch recipe of
knowledge-distillation repositories, with nothing of ours but the models and the loss:

- a ``torch.utils.data.Dataset`` that hands out one PIL image at a time, made from the uint8 array;
- torchvision transforms ``RandomCrop(size, padding=crop_padding)`` + ``RandomHorizontalFlip()`` +
  ``ToTensor()`` + ``Normalize(mean, std)``, with the dataset's padding, mean and std
  (``stingylib.data.DATASETS``; Fashion-MNIST: padding 2);
- a ``DataLoader(batch_size=128, shuffle=True, num_workers=0)``;
- fp32, contiguous tensors; the teacher in eval mode under ``torch.no_grad()``, the student in train
  mode; ``stingylib.losses.kd_loss``; SGD with momentum 0.9 and weight decay 5e-4.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from stingylib.data import DATASETS
from stingylib.losses import kd_loss

__all__ = ["PILImages", "reference_kd_epoch", "reference_transform"]


class PILImages(Dataset):
    """uint8 images (N, C, H, W) and labels (N,) → (transformed PIL image, int label), one at a time."""

    def __init__(self, x: Tensor, y: Tensor, transform: T.Compose) -> None:
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"x must be uint8 (N, 1|3, H, W); got {x.dtype} {tuple(x.shape)}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},); got {tuple(y.shape)}")
        self.images = x.permute(0, 2, 3, 1).numpy()  # (N, H, W, C), as the datasets store them
        self.labels = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        img = self.images[i]
        img = Image.fromarray(np.ascontiguousarray(img[:, :, 0] if img.shape[2] == 1 else img))
        return self.transform(img), self.labels[i]


def reference_transform(dataset: str = "fashion-mnist") -> T.Compose:
    """The training transforms of the reference code for ``dataset`` (crop, flip, to tensor, normalise)."""
    info = DATASETS[dataset]
    steps: list = [T.RandomCrop(info.image_size, padding=info.crop_padding)]
    if info.flip:
        steps.append(T.RandomHorizontalFlip())
    return T.Compose([*steps, T.ToTensor(), T.Normalize(info.mean, info.std)])


def reference_kd_epoch(
    teacher: nn.Module,
    student: nn.Module,
    train_x: Tensor,
    train_y: Tensor,
    *,
    temperature: float = 4.0,
    alpha: float = 0.9,
    lr: float = 0.1,
    batch_size: int = 128,
    seed: int = 0,
    dataset: str = "fashion-mnist",
) -> float:
    """Train ``student`` for one KD epoch from ``teacher`` the reference way; return images per second.

    Args:
        teacher: the frozen teacher (put in eval mode; its weights are not changed).
        student: the student, trained in place (its weights and BatchNorm statistics change).
        train_x: uint8 images (N, C, H, W), e.g. (N, 1, 28, 28) for Fashion-MNIST.
        train_y: int64 labels (N,).
        temperature: τ of :func:`stingylib.losses.kd_loss`.
        alpha: weight of its KD term.
        lr: SGD learning rate (momentum 0.9, weight decay 5e-4).
        batch_size: the DataLoader's batch size (the last batch may be smaller).
        seed: seeds the shuffle and the augmentation, inside ``torch.random.fork_rng`` (the global
            random state is left as it was).
        dataset: whose padding, flip, mean and std the transforms use.

    Returns:
        N / seconds of the whole epoch (data loading and transforms, teacher forward, student forward,
        loss, backward, SGD step; no evaluation). Tensors stay on the models' device (the student's).
    """
    device = next(student.parameters()).device
    loader = DataLoader(PILImages(train_x, train_y, reference_transform(dataset)), batch_size=batch_size,
                        shuffle=True, num_workers=0, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    teacher.eval()
    student.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the transforms draw from torch's global generator
        start = time.perf_counter()
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            with torch.no_grad():
                teacher_logits = teacher(images)
            student_logits = student(images)
            loss = kd_loss(student_logits, teacher_logits, labels, temperature=temperature, alpha=alpha)["total"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        elapsed = time.perf_counter() - start
    return len(train_y) / elapsed
