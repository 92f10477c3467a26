"""Model zoo: the CIFAR-style classifiers of the Stingy Teacher experiments and the DAFL generator.

Every classifier is built by ``build_model(name, num_classes, in_channels=..., width=...)`` and is
called uniformly as ``model(x)`` → logits (B, K) or ``model(x, return_features=True)`` →
``(logits, features)``.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch

from .base import Classifier, check_model_args, count_parameters, FoldedCopy, fold_batchnorm
from .generator import Generator, build_generator
from .mobilenetv2 import mobilenetv2
from .resnet import resnet18, resnet34, resnet50
from .resnext import resnext29
from .shufflenetv2 import shufflenetv2

__all__ = ["MODELS", "Classifier", "Generator", "build_generator", "build_model", "count_parameters", "FoldedCopy",
           "fold_batchnorm", "submodule_names"]

MODELS: dict[str, Callable[..., Classifier]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnext29": resnext29,
    "mobilenetv2": mobilenetv2,
    "shufflenetv2": shufflenetv2,
}


def build_model(name: str, num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> Classifier:
    """Build a registered classifier; ``width`` scales every channel count (1.0 = reference model).

    Raises ``ValueError`` for an unknown name, ``num_classes`` < 2, ``in_channels`` < 1 or a
    non-finite / non-positive ``width``.
    """
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}; got {name!r}")
    check_model_args(num_classes, in_channels, width)  # fail before any construction work
    return MODELS[name](num_classes, in_channels=in_channels, width=width)


@functools.lru_cache(maxsize=None)
def submodule_names(name: str, num_classes: int, *, in_channels: int = 3, width: float = 1.0) -> tuple[str, ...]:
    """The names of every submodule of ``build_model(name, ...)`` (``named_modules`` order), found
    without building real weights: the model is built on PyTorch's ``meta`` device, under a forked
    random state, so asking draws no random number and allocates no memory (config checks use it)."""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        model = build_model(name, num_classes, in_channels=in_channels, width=width)
    return tuple(n for n, _ in model.named_modules())
