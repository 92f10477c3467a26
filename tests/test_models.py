"""Tests for stingylib.models: reference parameter counts, shapes, gradients, width scaling,
seeding, the DAFL generator and argument validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stingylib.models import MODELS, Classifier, Generator, build_generator, build_model, count_parameters

NAMES = sorted(MODELS)

# Parameter counts of the reference definitions at width 1.0: {name: (K=100, K=10)}.
REFERENCE_PARAMS = {
    "resnet18": (11.22e6, 11.17e6),
    "resnet34": (21.33e6, 21.28e6),
    "resnet50": (23.71e6, 23.52e6),
    "resnext29": (34.52e6, 34.43e6),
    "mobilenetv2": (2.37e6, 2.25e6),
    "shufflenetv2": (1.36e6, 1.27e6),
}


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


# ---------------------------------------------------------------- registry and parameter counts

def test_registry_names() -> None:
    assert set(MODELS) == set(REFERENCE_PARAMS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_classes,column", [(100, 0), (10, 1)])
def test_param_count_matches_reference(name: str, num_classes: int, column: int) -> None:
    expected = REFERENCE_PARAMS[name][column]
    got = count_parameters(build_model(name, num_classes))
    assert abs(got - expected) / expected < 0.01, f"{name} K={num_classes}: {got} vs {expected:.0f}"


# ---------------------------------------------------------------- forward / backward

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (1, 8, 8)], ids=["32x32x3", "28x28x1", "8x8x1"])
def test_forward_backward(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    k, b = 10, 3
    model = build_model(name, k, in_channels=shape[0], width=0.25)
    assert isinstance(model, Classifier)
    x = torch.randn(b, *shape)
    logits, features = model(x, return_features=True)
    assert logits.shape == (b, k)
    assert features.shape == (b, model.feature_dim)
    assert torch.equal(model(x), logits)  # same BN batch statistics in train mode → same logits
    (logits.square().mean() + features.mean()).backward()
    grad = first_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ---------------------------------------------------------------- width and seeding

@pytest.mark.parametrize("name", NAMES)
def test_halving_width_quarters_params(name: str) -> None:
    full = count_parameters(build_model(name, 10, width=1.0))
    half = count_parameters(build_model(name, 10, width=0.5))
    assert 3.0 < full / half < 4.5


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights(name: str) -> None:
    def weights(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_model(name, 10, width=0.25).state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert any(not torch.equal(a[key], c[key]) for key in a)


# ---------------------------------------------------------------- generator

@pytest.mark.parametrize("img_size,channels", [(32, 3), (28, 1), (8, 1), (30, 3)])
def test_generator_shape_and_standardised(img_size: int, channels: int) -> None:
    torch.manual_seed(0)
    gen = build_generator(latent_dim=16, img_size=img_size, channels=channels)
    assert isinstance(gen, Generator)
    assert (gen.latent_dim, gen.img_size, gen.channels) == (16, img_size, channels)
    out = gen.train()(torch.randn(8, 16))
    assert out.shape == (8, channels, img_size, img_size)
    mean = out.mean(dim=(0, 2, 3))
    std = out.var(dim=(0, 2, 3), unbiased=False).sqrt()
    assert torch.allclose(mean, torch.zeros(channels), atol=1e-4)
    assert torch.allclose(std, torch.ones(channels), atol=1e-2)  # BN eps=1e-5 makes std slightly < 1
    out.mean().backward()
    assert torch.isfinite(gen.fc.weight.grad).all()


def test_generator_default_latent() -> None:
    gen = build_generator()
    assert gen(torch.randn(2, 1000)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="z must have shape"):
        gen(torch.randn(2, 10))


# ---------------------------------------------------------------- argument validation

@pytest.mark.parametrize(
    "kwargs,param",
    [
        (dict(name="vgg16"), "name"),
        (dict(width=0.0), "width"),
        (dict(width=-1.0), "width"),
        (dict(width=math.nan), "width"),
        (dict(width=math.inf), "width"),
        (dict(num_classes=1), "num_classes"),
        (dict(num_classes=2.5), "num_classes"),
        (dict(in_channels=0), "in_channels"),
    ],
)
def test_build_model_rejects_bad_args(kwargs: dict, param: str) -> None:
    args = dict(name="resnet18", num_classes=10, in_channels=3, width=1.0) | kwargs
    with pytest.raises(ValueError, match=param):
        build_model(args.pop("name"), args.pop("num_classes"), **args)


def test_unknown_name_lists_allowed() -> None:
    with pytest.raises(ValueError, match="mobilenetv2.*resnet18"):
        build_model("nope", 10)


@pytest.mark.parametrize("name", NAMES)
def test_registry_functions_validate_too(name: str) -> None:
    with pytest.raises(ValueError, match="width"):
        MODELS[name](10, width=0)


@pytest.mark.parametrize(
    "kwargs,param",
    [(dict(latent_dim=0), "latent_dim"), (dict(img_size=3), "img_size"), (dict(channels=0), "channels")],
)
def test_build_generator_rejects_bad_args(kwargs: dict, param: str) -> None:
    with pytest.raises(ValueError, match=param):
        build_generator(**kwargs)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext29", "mobilenetv2", "shufflenetv2"])
def test_folding_batchnorm_keeps_the_function_and_leaves_the_model_alone(name):
    from stingylib.models import fold_batchnorm

    torch.manual_seed(0)
    model = build_model(name, 10, in_channels=1, width=0.125)
    with torch.no_grad():
        model(torch.randn(64, 1, 28, 28))  # train mode: non-trivial running statistics
    model.eval()
    x = torch.randn(16, 1, 28, 28)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original keeps its BNs
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


def test_a_folded_copy_follows_the_network_it_was_made_from():
    from stingylib.models import FoldedCopy, fold_batchnorm

    torch.manual_seed(0)
    model = build_model("shufflenetv2", 10, in_channels=1, width=0.25)
    copy = FoldedCopy(model, torch.channels_last)
    x = torch.randn(8, 1, 28, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):  # training moves weights and running statistics
        model.train()
        model(torch.randn(32, 1, 28, 28)).square().mean().backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(copy.refresh()(x), model(x), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(copy.refresh()(x), fold_batchnorm(model)(x), rtol=1e-6, atol=1e-6)
    assert model.training is False and any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
