"""CIFAR ShuffleNetV2 (1×), following the CIFAR-100 variant of Ma et al. (2018) used by the Nasty Teacher code (weiaicunzai/pytorch-cifar100).

Structure: 3×3 stride-1 stem conv (24 ch) + BN (no ReLU, as in the reference); three stages with
116/232/464 output channels of 4/8/4 units, the first unit of *every* stage downsampling with
stride 2 (32×32 → 16 → 8 → 4); a 1×1 conv to 1024 + BN + ReLU; pool; linear.
A downsampling unit feeds the whole input to two branches (dw 3×3 → 1×1, and 1×1 → dw 3×3 → 1×1),
each producing half the output channels; a basic unit splits the channels in half, transforms one
half (1×1 → dw 3×3 → 1×1) and keeps the other. Outputs are concatenated and shuffled (2 groups).
As in the reference every conv keeps its bias; the parameter count (1.36M for 100 classes, 1.27M
for 10) confirms this variant. ``width`` scales every channel count, rounded to even numbers so the
halves and the shuffle stay exact.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Classifier, check_model_args, conv_bn, pool, scale


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave channel groups: (B, g·c, H, W) -> (B, c·g, H, W)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: basic (stride 1, split in half) or downsampling (stride 2, two branches)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        half = c_out // 2
        self.split = stride == 1 and c_in == c_out
        c = c_in // 2 if self.split else c_in  # channels entering the transformed branch
        self.branch = nn.Sequential(
            conv_bn(c, c, 1, bias=True),
            conv_bn(c, c, 3, stride, groups=c, relu=False, bias=True),
            conv_bn(c, half, 1, bias=True),
        )
        self.shortcut = nn.Identity() if self.split else nn.Sequential(
            conv_bn(c_in, c_in, 3, stride, groups=c_in, relu=False, bias=True),
            conv_bn(c_in, half, 1, bias=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.split:
            keep, x = x.chunk(2, dim=1)  # 2 × (B, C/2, H, W)
        else:
            keep = x
        out = torch.cat([self.shortcut(keep), self.branch(x)], dim=1)  # (B, c_out, H/stride, W/stride)
        return channel_shuffle(out, 2)


class ShuffleNetV2(Classifier):
    """ShuffleNetV2 1× for CIFAR: stem, three stages (4/8/4 units), 1×1 conv to 1024, pool, linear."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0,
                 stage_channels: tuple[int, ...] = (116, 232, 464), units: tuple[int, ...] = (4, 8, 4),
                 last: int = 1024) -> None:
        num_classes, in_channels, width = check_model_args(num_classes, in_channels, width)
        last = scale(last, width)
        super().__init__(last, num_classes)
        c = scale(24, width)
        self.stem = conv_bn(in_channels, c, 3, relu=False, bias=True)
        blocks = []
        for c_out, n in zip(stage_channels, units):
            c_out = scale(c_out, width, multiple=2)
            for j in range(n):
                blocks.append(ShuffleUnit(c, c_out, 2 if j == 0 else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(c, last, 1, bias=True)

    def embed(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (B, 24w, H, W)
        x = self.blocks(x)  # (B, 464w, H/8, W/8)
        x = self.head(x)  # (B, 1024w, H/8, W/8)
        return pool(x)  # (B, 1024w)


def shufflenetv2(num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> ShuffleNetV2:
    """ShuffleNetV2 1× (width 1.0 = 1.36M parameters for 100 classes)."""
    return ShuffleNetV2(num_classes, in_channels, width)
