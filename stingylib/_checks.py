"""Input checks shared by transforms and losses.

Every check raises ``ValueError`` naming the offending parameter and what is allowed, so that a
bad call fails at the line that made it rather than as a NaN a thousand steps later.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import operator
from typing import Iterable, Iterator

import torch
from torch import Tensor


# Whether checks that read tensor *values* (NaN scans, label ranges) run. They make the host wait for
# the device, so the engine's batch loop turns them off (:func:`values_trusted`) after checking its
# inputs once at the API boundary; shape and dtype checks (free: Python attributes) always run.
_CHECK_VALUES = contextvars.ContextVar("stingylib_check_values", default=True)


@contextlib.contextmanager
def values_trusted() -> Iterator[None]:
    """Inside this block, checks skip reading tensor values (no host synchronisation per batch)."""
    token = _CHECK_VALUES.set(False)
    try:
        yield
    finally:
        _CHECK_VALUES.reset(token)


def check_logits(logits: Tensor, name: str = "logits") -> None:
    """Require a floating (B, K) tensor with no NaN and no +inf (−inf is a masked class and allowed)."""
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (batch, classes); got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"{name} must be 2-D (batch, classes); got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype (float16/bfloat16/float32/float64); got {logits.dtype}")
    if logits.shape[1] < 1:
        raise ValueError(f"{name} must have at least one class; got shape {tuple(logits.shape)}")
    # One fused reduction: NaN or +inf anywhere is an error; −inf is a legitimate "masked" logit.
    if _CHECK_VALUES.get() and bool(torch.any(torch.isnan(logits) | torch.isposinf(logits))):
        raise ValueError(f"{name} contains NaN or +inf; allowed values are finite numbers or -inf")


def check_keep(n: object, num_classes: int | None, name: str = "n") -> int:
    """Require an integer 1 ≤ n ≤ K (the number of classes a stingy teacher keeps).

    With ``num_classes=None`` (K not known yet) only n ≥ 1 is checked.
    """
    upper = "K" if num_classes is None else num_classes
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)  # int, NumPy integer or 0-d integer tensor; floats are refused
    except TypeError:
        raise ValueError(
            f"{name} must be an integer number of kept classes in [1, {upper}]; got {n!r} "
            f"({type(n).__name__}). Convert a ratio r yourself (n = int(r * K) is the authors' rule)."
        ) from None
    if n < 1 or (num_classes is not None and n > num_classes):
        raise ValueError(f"{name} must be in [1, {upper}] (1 <= n <= number of classes K); got {n}")
    return n


def check_positive(value: float, name: str) -> float:
    """Require a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def check_nonnegative(value: float, name: str) -> float:
    """Require a finite number ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def check_unit_interval(value: float, name: str) -> float:
    """Require a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}")
    return float(value)


def check_same_shape(tensors: Iterable[tuple[str, Tensor]]) -> None:
    """Require that every named tensor has the same shape as the first."""
    items = list(tensors)
    first_name, first = items[0]
    for other_name, other in items[1:]:
        if other.shape != first.shape:
            raise ValueError(
                f"{other_name} must have the same shape as {first_name} {tuple(first.shape)}; "
                f"got {tuple(other.shape)}"
            )


def check_targets(targets: Tensor, logits: Tensor, name: str = "targets") -> None:
    """Require integer class indices of shape (B,) in [0, K) matching (B, K) logits."""
    if not isinstance(targets, Tensor) or targets.dim() != 1:
        shape = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"{name} must be a 1-D tensor of class indices (batch,); got {shape}")
    if targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{name} must have one entry per row of the logits ({logits.shape[0]}); got {targets.shape[0]}"
        )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices (torch.long); got {targets.dtype}")
    if _CHECK_VALUES.get() and targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[1]):
        raise ValueError(f"{name} must be class indices in [0, {logits.shape[1] - 1}]")


def check_logit_pair(first: tuple[str, Tensor], second: tuple[str, Tensor], targets: Tensor | None = None) -> None:
    """Check two named (B, K) logit tensors of one shape and, if given, their (B,) targets."""
    for name, logits in (first, second):
        check_logits(logits, name)
    check_same_shape([first, second])
    if targets is not None:
        check_targets(targets, first[1])
