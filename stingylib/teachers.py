"""The model owner's API: wrap a deployed classifier so that its outputs no longer teach.

``StingyTeacher(model, n)`` answers every query with the top-``n`` logits of ``model`` and ``-inf``
elsewhere. Its predictions (argmax) are those of ``model``, so its accuracy is unchanged, but a
student distilled from it learns far less (the paper's claim). ``TransformedTeacher`` does the same
for any transform of :mod:`stingylib.transforms`.

The wrapped model is always run in eval mode without gradient, whatever mode the wrapper is put in.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .transforms import Transform, get_transform


class TransformedTeacher(nn.Module):
    """A classifier whose logits pass through a transform before anyone sees them.

    Args:
        model: any module mapping inputs to (B, K) logits.
        transform: a registered transform name (``"stingy_sparse"``, ``"reversed"``, …) or a callable
            on (B, K) logits.
        n: the kept-class count, when ``transform`` is the name of a top-n transform.
    """

    def __init__(self, model: nn.Module, transform: str | Transform, n: int | None = None) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if isinstance(transform, str):
            self.transform_name = transform if n is None else f"{transform}(n={n})"
            transform = get_transform(transform, n)
        elif callable(transform):
            if n is not None:
                raise ValueError("n must be None when transform is a callable (bind n into the callable)")
            self.transform_name = getattr(transform, "__name__", repr(transform))
        else:
            raise ValueError(f"transform must be a registered name or a callable; got {transform!r}")
        self.model = model
        self.transform = transform
        self.model.eval()

    def train(self, mode: bool = True) -> "TransformedTeacher":
        """Set the wrapper's flag only: the wrapped model stays in eval mode."""
        self.training = mode
        self.model.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """(B, …) inputs → (B, K) transformed logits, computed without gradient."""
        self.model.eval()  # a caller may have flipped the inner model back to train mode
        with torch.inference_mode():
            logits = self.transform(self.model(x))
        # A plain (non-inference) tensor, usable as a loss target outside inference mode.
        return logits.clone()

    def extra_repr(self) -> str:
        return f"transform={self.transform_name}"


class StingyTeacher(TransformedTeacher):
    """A teacher that shows only its top-``n`` logits (``-inf`` elsewhere): the paper's stingy teacher."""

    def __init__(self, model: nn.Module, n: int) -> None:
        super().__init__(model, "stingy_sparse", n=n)
