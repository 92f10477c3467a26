"""CIFAR ResNeXt-29 (8×64d), following Xie et al. (2017) as in the common CIFAR implementation (prlz77/ResNeXt.pytorch).

Stem: 3×3 conv (64 ch) + BN + ReLU. Three stages of three bottleneck blocks with outputs 256/512/1024
(64·widen_factor·2^i, widen_factor 4) and strides 1,2,2. Inside a block of output C the grouped
3×3 conv has D = cardinality · base_width · C / 256 channels (512/1024/2048 at width 1) in
``cardinality`` = 8 groups; a 1×1 conv + BN shortcut is used when the block changes shape.
``width`` scales every channel count, keeping D a multiple of the cardinality.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import Classifier, check_model_args, conv_bn, pool, scale


class ResNeXtBlock(nn.Module):
    """1×1 reduce to D, grouped 3×3 (strided), 1×1 expand, with a residual connection."""

    def __init__(self, c_in: int, c_out: int, inner: int, stride: int, cardinality: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(c_in, inner, 1),
            conv_bn(inner, inner, 3, stride, groups=cardinality),
            conv_bn(inner, c_out, 1, relu=False),
        )
        shape_changes = stride != 1 or c_in != c_out
        self.shortcut = conv_bn(c_in, c_out, 1, stride, relu=False) if shape_changes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.relu(self.body(x) + self.shortcut(x))  # (B, c_out, H/stride, W/stride)


class ResNeXt(Classifier):
    """ResNeXt-(9·blocks+2) for CIFAR: stem, three stages, global average pool, linear head."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0, cardinality: int = 8,
                 base_width: int = 64, widen_factor: int = 4, blocks_per_stage: int = 3) -> None:
        num_classes, in_channels, width = check_model_args(num_classes, in_channels, width)
        outs = [scale(64 * widen_factor * 2**i, width) for i in range(3)]  # 256, 512, 1024
        # group width base_width · 2^i per group at width 1: D = 512, 1024, 2048
        inners = [cardinality * scale(base_width * 2**i, width) for i in range(3)]
        super().__init__(outs[-1], num_classes)
        c = scale(64, width)
        self.stem = conv_bn(in_channels, c, 3)
        stages = []
        for i, (c_out, inner) in enumerate(zip(outs, inners)):
            blocks = []
            for j in range(blocks_per_stage):
                blocks.append(ResNeXtBlock(c, c_out, inner, 2 if (i > 0 and j == 0) else 1, cardinality))
                c = c_out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)

    def embed(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (B, 64w, H, W)
        x = self.stages(x)  # (B, 1024w, H/4, W/4)
        return pool(x)  # (B, 1024w)


def resnext29(num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> ResNeXt:
    """ResNeXt-29, cardinality 8, bottleneck width 64 (8×64d), widen factor 4."""
    return ResNeXt(num_classes, in_channels, width)
