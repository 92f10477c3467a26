"""Device selection and the per-device speed settings, one code path for CPU, CUDA and MPS.

On CUDA the engine trains under bf16 autocast with channels-last tensors; on MPS and CPU in fp32.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` picks CUDA if present, else MPS, else CPU; a named device must be available."""
    if preference not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}; got {preference!r}")
    mps = getattr(torch.backends, "mps", None)
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps and mps.is_available()),
    }
    if preference == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available[preference]:
        raise ValueError(f"device {preference!r} is not available here; available: "
                         f"{[d for d, ok in available.items() if ok]}")
    return torch.device(preference)


def autocast(device: torch.device) -> ContextManager:
    """bf16 autocast on CUDA, a no-op elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (faster convolutions with tensor cores), contiguous elsewhere."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format
