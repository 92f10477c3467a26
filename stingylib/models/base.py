"""Shared pieces of the model zoo: the ``Classifier`` base class, argument checks and width scaling.

Every classifier in the zoo is an ``embed`` network (image → pooled penultimate features) followed by
one linear head ``self.fc``. ``forward(x, return_features=True)`` returns both, which is what DAFL's
activation loss needs; every other caller just takes the logits.
"""

from __future__ import annotations

import math
import operator
from typing import Sequence

import torch
from torch import Tensor, nn


class Classifier(nn.Module):
    """Base class: ``embed(x) -> (B, D)`` features, then the linear head ``fc: D -> K``.

    Subclasses build their body, call ``super().__init__(feature_dim, num_classes)`` first, and
    implement ``embed``.
    """

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.fc = nn.Linear(feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Map images (B, C, H, W) to pooled penultimate features (B, feature_dim)."""
        raise NotImplementedError

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Return logits (B, K), or ``(logits, features)`` with features (B, D) if asked."""
        features = self.embed(x)  # (B, D)
        logits = self.fc(features)  # (B, K)
        return (logits, features) if return_features else logits

    def forward_taps(self, x: Tensor, taps: Sequence[str]) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits (B, K) and the outputs of the named taps in one forward pass.

        A tap is ``"features"`` (the pooled penultimate features, (B, D)) or the dotted name of any
        submodule, as listed by ``named_modules()`` (e.g. ``"stages.1"`` of a ResNet: that stage's
        output feature map). Submodule outputs are captured with forward hooks that are removed
        before returning, so the network is left as it was.
        """
        modules = dict(self.named_modules())
        unknown = [t for t in taps if t != "features" and t not in modules]
        if unknown:
            raise ValueError(f"taps {unknown} are not submodules of {type(self).__name__}; allowed: 'features' "
                             f"or one of {[n for n in modules if n][:12]}…")
        found: dict[str, Tensor] = {}
        handles = [modules[t].register_forward_hook(lambda _m, _i, out, t=t: found.__setitem__(t, out))
                   for t in taps if t != "features"]
        try:
            features = self.embed(x)  # (B, D)
            logits = self.fc(features)  # (B, K)
        finally:
            for handle in handles:
                handle.remove()
        if "features" in taps:
            found["features"] = features
        return logits, found


def check_int(value: object, name: str, minimum: int) -> int:
    """Require an integer ``>= minimum`` (bools and floats refused); return it as ``int``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # int or NumPy integer; floats are refused
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return number


def check_width(width: object) -> float:
    """Require a finite width multiplier > 0; return it as ``float``."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a finite number > 0 (1.0 = the reference model); got {width!r}")
    return float(width)


def check_model_args(num_classes: object, in_channels: object, width: object) -> tuple[int, int, float]:
    """Validate the three arguments every model constructor takes."""
    return check_int(num_classes, "num_classes", 2), check_int(in_channels, "in_channels", 1), check_width(width)


def scale(channels: int, width: float, multiple: int = 1) -> int:
    """Scale a channel count by ``width``, rounded to a multiple of ``multiple`` and at least ``multiple``."""
    return max(multiple, int(round(channels * width / multiple)) * multiple)


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1, relu: bool = True,
            bias: bool = False, padding: int | None = None, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Conv (padding ``kernel // 2`` unless given) + BatchNorm (+ ``act``, ReLU by default).

    ``bias=True`` reproduces reference definitions that keep a (redundant) conv bias before BN.
    """
    padding = kernel // 2 if padding is None else padding
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=bias),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def pool(x: Tensor) -> Tensor:
    """Global average pool and flatten: (B, C, H, W) -> (B, C). Works for any input size."""
    return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
