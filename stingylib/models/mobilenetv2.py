"""CIFAR MobileNetV2, following the CIFAR-100 variant of Sandler et al. (2018) used by the Nasty Teacher code (weiaicunzai/pytorch-cifar100).

Variant choices, all taken from that reference and confirmed by its parameter count
(2.37M for 100 classes, 2.25M for 10; the plain torchvision-style body gives only 2.35M / 2.24M):

* every conv keeps its bias although BN follows it (this is the ~15k-parameter difference);
* the stem is a 1×1 conv (32 ch) with padding 1, so a 32×32 input becomes 34×34 with a zero ring;
* the first (t = 1) block still has its 1×1 "expansion" conv (32 → 32);
* stage strides are 1,2,2,2,1,1,1 (32×32 → 34 → 17 → 9 → 5 at the last stage), ReLU6 activations;
* a residual is added only when stride = 1 and in = out channels (no projection shortcuts);
* the reference classifier is a 1×1 conv after pooling; here it is the equivalent ``nn.Linear`` ``fc``.

``width`` scales every channel count, including the 1280-channel last conv, rounded to a multiple
of 8 and at least 8 (the MobileNet papers' rule; every count at width 1.0 already is one, so the
reference model is unchanged). Without it, width 1/8 left stages of 2-4 channels, which collapsed.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import Classifier, check_model_args, conv_bn, pool, scale

#: Channel counts are multiples of this (and at least this) at any width.
ROUND = 8
# (expansion t, output channels c, repeats n, stride s) per stage
STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 1), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    """1×1 expand (×t), 3×3 depthwise (strided), linear 1×1 project; residual when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = c_in * t
        self.body = nn.Sequential(
            conv_bn(c_in, hidden, 1, bias=True, act=nn.ReLU6),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, bias=True, act=nn.ReLU6),
            conv_bn(hidden, c_out, 1, relu=False, bias=True),
        )
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)  # (B, c_out, H/stride, W/stride)
        return out + x if self.use_residual else out


class MobileNetV2(Classifier):
    """MobileNetV2 for CIFAR: 1×1 stem, seven inverted-residual stages, 1×1 conv to 1280, pool, linear."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0) -> None:
        num_classes, in_channels, width = check_model_args(num_classes, in_channels, width)
        last = scale(1280, width, ROUND)
        super().__init__(last, num_classes)
        c = scale(32, width, ROUND)
        self.stem = conv_bn(in_channels, c, 1, padding=1, bias=True, act=nn.ReLU6)
        blocks = []
        for t, c_out, n, s in STAGES:
            c_out = scale(c_out, width, ROUND)
            for j in range(n):
                blocks.append(InvertedResidual(c, c_out, s if j == 0 else 1, t))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(c, last, 1, bias=True, act=nn.ReLU6)

    def embed(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (B, 32w, H+2, W+2)
        x = self.blocks(x)  # (B, 320w, ~H/8, ~W/8)
        x = self.head(x)  # (B, 1280w, ~H/8, ~W/8)
        return pool(x)  # (B, 1280w)


def mobilenetv2(num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> MobileNetV2:
    """MobileNetV2 (width 1.0 = 2.37M parameters for 100 classes)."""
    return MobileNetV2(num_classes, in_channels, width)
