"""Shared pieces of the model zoo: the ``Classifier`` base class, argument checks and width scaling.

Every classifier in the zoo is an ``embed`` network (image → pooled penultimate features) followed by
one linear head ``self.fc``. ``forward(x, return_features=True)`` returns both, which is what DAFL's
activation loss needs; every other caller just takes the logits.
"""

from __future__ import annotations

import copy
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


def _conv_bn_pairs(model: nn.Module) -> list[tuple[str, int]]:
    """(name of an ``nn.Sequential``, index i) of every Conv2d at i followed by a BatchNorm2d at i + 1."""
    pairs = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                    pairs.append((name, i))
    return pairs


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with every BatchNorm folded into the convolution before it.

    In eval mode BatchNorm is an affine map per channel, so ``conv → bn`` equals one convolution with
    scaled weights and a bias (equal up to float rounding, ~1e-8). The copy is in eval mode and runs
    faster (1.1-2x measured on this project's CPU models); ``model`` is not changed. Folds the
    ``conv_bn`` blocks every classifier of the zoo is built from (a Conv2d followed by a BatchNorm2d
    inside an ``nn.Sequential``).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for name, i in _conv_bn_pairs(folded):
        seq = folded.get_submodule(name)
        seq[i], seq[i + 1] = fuse_conv_bn_eval(seq[i], seq[i + 1]), nn.Identity()
    return folded


class FoldedCopy:
    """A network's BatchNorm-folded inference copy (:func:`fold_batchnorm`), kept and refreshed from
    the network's current weights in place: no model is rebuilt per evaluation."""

    def __init__(self, model: nn.Module, memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.network = fold_batchnorm(model).to(memory_format=memory_format)
        self._fused = []  # (source conv, source bn, folded conv)
        skip = set()
        for name, i in _conv_bn_pairs(model):
            prefix = f"{name}.{i}" if name else str(i)
            source = model.get_submodule(name)
            self._fused.append((source[i], source[i + 1], self.network.get_submodule(prefix)))
            skip |= {f"{prefix}.weight", f"{prefix}.bias"}
        state = dict(model.named_parameters()) | dict(model.named_buffers())
        mine = dict(self.network.named_parameters()) | dict(self.network.named_buffers())
        self._copied = [(state[k], t) for k, t in mine.items() if k not in skip]  # everything else, as is

    @torch.no_grad()
    def refresh(self) -> nn.Module:
        """The copy, holding the folded form of the network's weights of now."""
        from torch.nn.utils.fusion import fuse_conv_bn_weights

        for conv, bn, out in self._fused:
            weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                                bn.weight, bn.bias)
            out.weight.copy_(weight)
            out.bias.copy_(bias)
        for source, target in self._copied:
            target.copy_(source)
        return self.network.eval()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def pool(x: Tensor) -> Tensor:
    """Global average pool and flatten: (B, C, H, W) -> (B, C). Works for any input size."""
    return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
