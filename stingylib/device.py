"""Device selection: one code path for CPU, CUDA and MPS.

The per-device speed settings (precision, memory format) are in :mod:`stingylib.fastpath`.
"""

from __future__ import annotations

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
