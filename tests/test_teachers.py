"""The model owner's wrappers (stingylib.teachers)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stingylib import StingyTeacher, TransformedTeacher, kd_loss, reversed_logits, stingy_sparse


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Linear(16, 10))

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Tiny()


def test_stingy_teacher_emits_sparse_logits_and_keeps_predictions(model):
    x = torch.randn(32, 6)
    teacher = StingyTeacher(model, 3)
    out = teacher(x)
    model.eval()
    raw = model(x)
    assert torch.equal(out, stingy_sparse(raw, 3))
    assert torch.equal(out.argmax(1), raw.argmax(1))  # accuracy unchanged


def test_wrapped_model_stays_in_eval_mode_and_outputs_are_deterministic(model):
    teacher = TransformedTeacher(model, "reversed")
    teacher.train()
    model.train()  # even if the owner flips the inner model back
    x = torch.randn(8, 6)
    a, b = teacher(x), teacher(x)
    assert torch.equal(a, b)  # no dropout, BN running stats used
    assert not model.training and teacher.training


def test_outputs_carry_no_gradient_but_serve_as_loss_targets(model):
    teacher = TransformedTeacher(model, reversed_logits)
    student = nn.Linear(6, 10)
    x, y = torch.randn(8, 6), torch.randint(0, 10, (8,))
    t = teacher(x)
    assert not t.requires_grad
    loss = kd_loss(student(x), t, y, temperature=4.0, alpha=0.9)["total"]
    loss.backward()  # the teacher output is a plain tensor, usable outside inference mode
    assert student.weight.grad is not None
    assert all(p.grad is None for p in model.parameters())


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="transform must be one of"):
        TransformedTeacher(model, "nasty")
    with pytest.raises(ValueError, match="n is required"):
        TransformedTeacher(model, "stingy_sparse")
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        StingyTeacher(lambda x: x, 2)
    with pytest.raises(ValueError, match=r"n must be in \[1, 10\]"):
        StingyTeacher(model, 11)(torch.randn(2, 6))
