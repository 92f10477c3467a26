"""CIFAR ResNet-18/34/50, following the widely used CIFAR variant of He et al. (2016) (kuangliu/pytorch-cifar).

Differences from the ImageNet ResNet: a 3×3 stride-1 stem conv (64 ch) and no max-pool, so a 32×32
input reaches the last stage at 4×4. Stages have 64-128-256-512 base channels with strides 1,2,2,2;
a 1×1 conv + BN shortcut is used whenever the block changes shape. Adaptive average pooling makes
28×28 and 8×8 inputs work too. ``width`` scales every channel count.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import Classifier, check_model_args, conv_bn, pool, scale


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Identity, or 1×1 conv + BN when the block changes channels or resolution."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return conv_bn(c_in, c_out, kernel=1, stride=stride, relu=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, planes, 3, stride), conv_bn(planes, planes, 3, relu=False))
        self.shortcut = _shortcut(c_in, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.relu(self.body(x) + self.shortcut(x))  # (B, planes, H/stride, W/stride)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (strided), 1×1 expand ×4, with a residual connection (ResNet-50)."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.body = nn.Sequential(
            conv_bn(c_in, planes, 1),
            conv_bn(planes, planes, 3, stride),
            conv_bn(planes, c_out, 1, relu=False),
        )
        self.shortcut = _shortcut(c_in, c_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.relu(self.body(x) + self.shortcut(x))  # (B, 4·planes, H/stride, W/stride)


class ResNet(Classifier):
    """CIFAR ResNet: stem, four stages (strides 1,2,2,2), global average pool, linear head."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], depths: list[int], num_classes: int,
                 in_channels: int = 3, width: float = 1.0) -> None:
        num_classes, in_channels, width = check_model_args(num_classes, in_channels, width)
        planes = [scale(c, width) for c in (64, 128, 256, 512)]
        super().__init__(planes[-1] * block.expansion, num_classes)
        c = planes[0]
        self.stem = conv_bn(in_channels, c, 3)
        stages = []
        for i, (p, n) in enumerate(zip(planes, depths)):
            blocks = []
            for j in range(n):
                blocks.append(block(c, p, stride=2 if (i > 0 and j == 0) else 1))
                c = p * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)

    def embed(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (B, 64w, H, W)
        x = self.stages(x)  # (B, D, H/8, W/8)
        return pool(x)  # (B, D)


def resnet18(num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, width)


def resnet34(num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, width)


def resnet50(num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> ResNet:
    """ResNet-50 (bottleneck blocks 3-4-6-3, expansion 4)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, width)
