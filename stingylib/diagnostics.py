"""Per-epoch diagnostics of a distillation run: *why* does a student of a sparse teacher fail?

After every epoch, the engine measures a KD student (a method with a ``teacher`` role that trains on
real batches) on a fixed batch, the first :data:`DIAG_IMAGES` test images, with its network in eval
mode and nothing trained (no optimiser step, no BatchNorm statistics moved, no random numbers drawn,
so a run's training is exactly what it is without them). The method's own loss is evaluated on
that batch, and its gradients are taken with respect to the student's logits (per image: the loss's
batch mean times the batch size). What is measured follows the loss terms the method declares
(:attr:`stingylib.runs.method.MethodSpec.terms`; names from
:func:`stingylib.runs.metrics.diagnostic_names`, stored with the prefix ``diag_``):

- ``logit_range``: the mean over images of ``max(z) − min(z)`` of the student's logits;
- per teacher term ``t`` (e.g. KD's ``kd``): ``t``, its (weighted) value on the batch, and
  ``t_grad_kept`` / ``t_grad_hidden``, the mean over images of the L2 norm of its gradient on the
  *kept* classes (the teacher's top-N, N the view's ``keep`` or, for a view without one,
  :func:`default_keep`) and on the other, *hidden* classes;
- per label term ``t`` (e.g. ``ce``): ``t`` and ``t_grad``, the same norm over all classes.

A term the method declares but its loss does not return is an error, never a silent 0.

A teacher-side transform decides what "kept" means for a stingy teacher; for a normal teacher or an
attack the same split is measured, so the numbers of every variant are comparable. These are
observations of the optimisation, not model choices: they never feed selection.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from . import data as datamod
from .data import ImageData
from .fastpath import precision_context
from .runs.method import OTHER_TERM, TEACHER_TERM
from .runs.metrics import DIAG_PREFIX, diagnostic_names
from .training import Batch, Frozen, Outputs, check_terms

if TYPE_CHECKING:
    from .methods import Method

#: How many test images the diagnostics use (the first ones, the same for every run of a dataset).
DIAG_IMAGES = 256


def diagnostic_keys(method: "Method") -> tuple[str, ...]:
    """The history keys (``diag_<name>``) the diagnostics of ``method``'s runs add."""
    return tuple(DIAG_PREFIX + name for name in diagnostic_names(method.terms))


def applies(method: "Method") -> bool:
    """Whether runs of ``method`` get diagnostics: a teacher role and the standard batch loss."""
    return "teacher" in method.roles and method.shares_batches


def default_keep(num_classes: int) -> int:
    """The kept-class count of the split for a view without ``keep``: the paper's CIFAR-10 ratio,
    ``max(1, round(0.2·K))`` (N = 2 of 10 classes)."""
    return max(1, round(0.2 * num_classes))


class Diagnostics:
    """The fixed batch of one run, its frozen networks' outputs on it (computed once), and the split
    of the classes into kept and hidden."""

    def __init__(self, method: "Method", frozen: dict[str, Frozen], data: ImageData,
                 device: torch.device) -> None:
        n = min(DIAG_IMAGES, data.test_x.shape[0])
        self.x = datamod.normalize(data.test_x[:n].to(device), data.info)  # (n, C, H, W)
        self.y = data.test_y[:n].to(device)  # (n,)
        raw = {role: f.net(self.x) for role, f in frozen.items()}  # no gradient, each in its own precision
        self.shown = {role: frozen[role].show(out) for role, out in raw.items()}
        teacher = raw["teacher"].logits  # (n, K) raw: the split is the teacher's own top-N
        keep = getattr(method, "keep", None) or default_keep(teacher.shape[1])
        self.keep = int(keep)
        top = teacher.topk(self.keep, dim=1).indices  # (n, N)
        self.kept = torch.zeros_like(teacher, dtype=torch.bool).scatter_(1, top, True)  # (n, K)

    def measure(self, method: "Method", network: nn.Module, modules: dict[str, nn.Module], precision: str,
                memory_format: torch.memory_format, epoch: int) -> dict[str, float]:
        """The diagnostics of the network as it stands (see the module's docstring): floats by name,
        without the ``diag_`` prefix (a value that is not finite, e.g. a KD term of a diverging run,
        is left out).

        Raises:
            ValueError: the method's loss does not return exactly the terms it declares.
        """
        modes = {name: m.training for name, m in modules.items()}
        for m in modules.values():
            m.eval()
        try:
            return self._measure(method, network, modules, precision, memory_format, epoch)
        finally:
            for name, m in modules.items():
                m.train(modes[name])

    def _measure(self, method: "Method", network: nn.Module, modules: dict[str, nn.Module], precision: str,
                 memory_format: torch.memory_format, epoch: int) -> dict[str, float]:
        x = self.x.contiguous(memory_format=memory_format)
        device = self.x.device
        with torch.no_grad(), precision_context(device, precision):
            if method.taps:
                logits, taps = network.forward_taps(x, method.taps)
            else:
                logits, taps = network(x), {}
        z = logits.float().detach().requires_grad_(True)  # (n, K): the leaf the gradients are taken at
        taps = {k: v.detach() for k, v in taps.items()}
        extra = {k: m for k, m in modules.items() if k != "network"}
        losses = method.loss(Batch(x, self.y, Outputs(z, taps), self.shown, extra, epoch))
        check_terms(method, losses)
        n = z.shape[0]
        zd = z.detach()
        out = {"logit_range": float((zd.amax(dim=1) - zd.amin(dim=1)).mean())}
        for term, kind in method.terms.items():
            if kind == OTHER_TERM:
                continue
            value = losses[term]
            out[term] = float(value.detach())
            grad = _grad(value, z) * n  # (n, K): per-image gradient of the term
            if kind == TEACHER_TERM:
                out[f"{term}_grad_kept"] = _row_norm(grad, self.kept)
                out[f"{term}_grad_hidden"] = _row_norm(grad, ~self.kept)
            else:
                out[f"{term}_grad"] = _row_norm(grad, torch.ones_like(self.kept))
        return {k: v for k, v in out.items() if math.isfinite(v)}  # a record holds finite numbers only


def _grad(value: Tensor, z: Tensor) -> Tensor:
    """d value / d z, zeros when the term does not depend on z (e.g. KD on an exit head)."""
    if not value.requires_grad:
        return torch.zeros_like(z)
    (grad,) = torch.autograd.grad(value, z, retain_graph=True, allow_unused=True)
    return torch.zeros_like(z) if grad is None else grad


def _row_norm(grad: Tensor, mask: Tensor) -> float:
    """Mean over rows of the L2 norm of ``grad`` restricted to ``mask`` (both (n, K))."""
    return float(grad.masked_fill(~mask, 0.0).norm(dim=1).mean())
