"""Evaluation: accuracy over the test (or validation) split, test logits, and the sample logits every record keeps."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from . import data as datamod
from .fastpath import precision_context

#: How many test images every record keeps, as raw logits and pixels (for the book's figures).
SAMPLE_IMAGES = 8
#: Images per evaluation batch. Measured on this project's CPU models with BatchNorm folded and in
#: their inference memory format (channels-last): 512 was the fastest per image of 128-1,000 (at
#: 2,000, fp32 contiguous networks ran up to 2x slower per image than at 256).
EVAL_BATCH = 512

@torch.inference_mode()
def eval_logits(model: Callable[[Tensor], Tensor], data: datamod.ImageData, device: torch.device,
                batch_size: int = EVAL_BATCH, *, precision: str = "fp32",
                memory_format: torch.memory_format = torch.contiguous_format, split: str = "test") -> Tensor:
    """float32 logits (M, K) of the whole test split (or ``split="val"``), on ``device``, in ``precision``.

    ``model`` maps a batch of images to (B, K) logits: a network (put in eval mode here) or any
    callable (e.g. a :class:`~stingylib.training.FrozenNet`'s logits).
    """
    if isinstance(model, nn.Module):
        model.eval()
    out = []
    for x, _ in datamod.test_batches(data, batch_size=batch_size, device=device, split=split):
        with precision_context(device, precision):
            out.append(model(x.contiguous(memory_format=memory_format)).float())  # (B, K)
    return torch.cat(out)  # (M, K)


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy in percent of (M, K) logits against (M,) labels (one host sync)."""
    return 100.0 * int((logits.argmax(dim=1) == labels).sum()) / labels.numel()


def evaluate(model: Callable[[Tensor], Tensor], data: datamod.ImageData, device: torch.device,
             batch_size: int = EVAL_BATCH, *, precision: str = "fp32",
             memory_format: torch.memory_format = torch.contiguous_format, split: str = "test") -> float:
    """Top-1 accuracy in percent, counted per sample over the whole test split (or ``split="val"``,
    the validation split).

    ``model`` maps a batch of images to (B, K) logits: a network (put in eval mode here) or, e.g.,
    a frozen teacher's view. It runs in ``precision`` on inputs in ``memory_format``.
    """
    logits = eval_logits(model, data, device, batch_size, precision=precision, memory_format=memory_format,
                         split=split)
    return accuracy(logits, datamod.resident(data, device).labels(split))


@torch.inference_mode()
def sample_logits(model: nn.Module, data: datamod.ImageData, device: torch.device, *, precision: str = "fp32",
                  memory_format: torch.memory_format = torch.contiguous_format) -> list[list[float]]:
    """Raw logits of the first :data:`SAMPLE_IMAGES` test images, for records and figures."""
    model.eval()
    x = datamod.normalize(data.test_x[:SAMPLE_IMAGES].to(device), data.info)
    with precision_context(device, precision):
        logits = model(x.contiguous(memory_format=memory_format))
    return logits.float().cpu().tolist()
