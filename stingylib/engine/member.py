"""One run of a fit (:class:`Member`): its trainer, its frozen networks, where it stands, and the
weights of the epoch selected so far.

:func:`build_member` builds a run's trainer from its config and resumes it from its checkpoint;
:func:`keep_if_selected` keeps a copy of the network's weights after an epoch that the validation
split selects (:func:`stingylib.runs.metrics.selected_epoch`, the one selection rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from .. import data as datamod
from ..checkpoints import CorruptFileError, load_run, resume_checkpoint
from ..diagnostics import Diagnostics, applies as has_diagnostics
from ..fastpath import memory_format
from ..models import FoldedCopy
from ..runs import EpochMetrics, RunConfig, RunStore, selected_epoch
from ..training import Frozen, FrozenNet, Trainer


@dataclass
class Member:
    """One run of a fit: its trainer and where it stands."""

    cfg: RunConfig
    trainer: Trainer
    frozen: dict[str, Frozen]
    epochs_done: int
    history: list[EpochMetrics]
    wall: float
    inference: FoldedCopy  # the network's BatchNorm-folded copy that evaluation runs
    selected: dict[str, Tensor] | None = None  # weights of the epoch selected on validation so far
    teacher_accuracy: float | None = None
    diagnostics: Diagnostics | None = None  # KD students: the per-epoch diagnostics' fixed batch

    def inference_copy(self, device: torch.device) -> tuple[nn.Module, torch.memory_format]:
        """The network as evaluation runs it: a copy with BatchNorm folded into the convolutions, in
        the memory format measured fastest for inference (training state untouched)."""
        return self.inference.refresh(), memory_format(self.cfg.model, self.cfg.precision, device, "infer")


def frozen_roles(store: RunStore, cfg: RunConfig, device: torch.device,
                 nets: dict[str, FrozenNet]) -> dict[str, Frozen]:
    """The frozen networks of the config's method, each seen through the method's view of its role.
    ``nets`` holds the frozen runs loaded so far (shared by a cohort's members, which also share the
    config's ``frozen_precision``)."""
    method = cfg.method
    out = {}
    for role in method.roles:
        run_id = getattr(method, role)
        if run_id not in nets:
            network, frozen_cfg = load_run(store, run_id)
            nets[run_id] = FrozenNet(network, frozen_cfg.spec, device, precision=cfg.frozen_precision)
        out[role] = Frozen(nets[run_id], method.view(role), method.frozen_taps.get(role, ()))
    return out


def build_member(cfg: RunConfig, store: RunStore, data: datamod.ImageData, dev: torch.device,
                 nets: dict[str, FrozenNet], on_corrupt: Callable[[CorruptFileError], None] | None) -> Member:
    """Build the run's trainer and resume it from its checkpoint (a corrupt checkpoint goes to
    ``on_corrupt``, which moves it aside, and the run starts afresh; without a handler it raises)."""
    frozen = frozen_roles(store, cfg, dev, nets)
    spec = cfg.spec
    trainer = cfg.method.make_trainer(spec, data, dev, frozen)
    try:
        start, history, wall, selected = resume_checkpoint(store, cfg, trainer)
    except CorruptFileError as err:
        if on_corrupt is None or err.path != store.checkpoint_path(cfg.run_id):
            raise
        on_corrupt(err)
        trainer = cfg.method.make_trainer(spec, data, dev, frozen)
        start, history, wall, selected = 0, [], 0.0, None
    fmt = memory_format(cfg.model, cfg.precision, dev, "infer")
    diagnostics = Diagnostics(cfg.method, frozen, data, dev) if has_diagnostics(cfg.method) else None
    # The evaluation copy is made once, with the trainer (set-up, not a cost of any epoch).
    return Member(cfg, trainer, frozen, start, history, wall, FoldedCopy(trainer.network, fmt), selected,
                  diagnostics=diagnostics)


def keep_if_selected(member: Member) -> None:
    """After an epoch: keep the network's weights when this epoch is the one selected on validation."""
    if selected_epoch(member.history) == len(member.history):
        member.selected = {k: v.detach().clone() for k, v in member.trainer.network.state_dict().items()}
