"""The training engine: one epoch loop for every method.

``fit(config, store)`` trains the network a :class:`~stingylib.config.RunConfig` describes and
returns its result record. What differs between methods is looked up in :data:`METHODS`:

- ``supervised``: cross-entropy on the labels;
- ``kd``: Hinton's KD from a frozen teacher seen through a transform (normal, stingy, reversed, …);
- ``nasty``: the Nasty Teacher objective against a frozen, normally trained adversary;
- ``dafl``: data-free KD (DAFL): a generator and a student trained together, no training images.

The first three share one batch step (forward, loss, backward, SGD); DAFL has its own epoch body.
Everything around it is shared: the multi-step learning-rate schedule, per-epoch test accuracy
(per sample), a checkpoint after every epoch written atomically (resume continues bit-for-bit on
CPU), and the final record with the paper's best-epoch accuracy next to the final-epoch one.
Frozen networks (teacher, adversary) are in eval mode and run under ``torch.inference_mode()``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import torch
from torch import Tensor, nn
from tqdm import tqdm

from . import data as datamod
from .config import RunConfig
from .device import autocast, memory_format, select_device
from .losses import Losses, cross_entropy_loss, dafl_generator_loss, dafl_student_loss, kd_loss, nasty_loss
from .models import Classifier, build_generator, build_model, count_parameters
from .runs import RunStore, atomic_write, provenance
from .teachers import TransformedTeacher
from .transforms import get_transform

SAMPLE_IMAGES = 8  # test images whose logits every record keeps (for the book's "what a teacher shows")
ACCURACY_PROTOCOL = {
    "best_accuracy": "best test accuracy over all epochs (the paper's protocol)",
    "final_accuracy": "test accuracy after the last epoch",
}


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def load_data(cfg: RunConfig) -> datamod.ImageData:
    """The config's dataset, reduced to its class-balanced subset when the config asks for one."""
    data = datamod.load_dataset(cfg.dataset)
    if cfg.train_per_class is None and cfg.test_per_class is None:
        return data
    return datamod.class_balanced_subset(
        data, train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class, seed=0
    )


def build_network(cfg: RunConfig, info: datamod.DatasetInfo) -> Classifier:
    """The config's network, initialised from ``cfg.seed`` (same seed → same weights)."""
    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, info.num_classes, in_channels=info.channels, width=cfg.width)


def load_network(store: RunStore, run_id: str, device: torch.device | str = "cpu") -> Classifier:
    """A finished run's final network, rebuilt from the config saved beside its weights."""
    path = store.weights_path(run_id)
    if not path.exists():
        raise FileNotFoundError(f"no finished weights for run {run_id!r} at {path}; train that run first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    cfg = RunConfig.from_dict(payload["config"])
    model = build_model(cfg.model, datamod.DATASETS[cfg.dataset].num_classes,
                        in_channels=datamod.DATASETS[cfg.dataset].channels, width=cfg.width)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


def learning_rate(cfg: RunConfig, epoch: int, base_lr: float | None = None) -> float:
    """Multi-step schedule: ``lr · gamma^(number of milestones ≤ epoch)`` (epochs count from 0)."""
    lr = cfg.lr if base_lr is None else base_lr
    return lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


def sgd(params: Iterator[nn.Parameter], cfg: RunConfig) -> torch.optim.SGD:
    """SGD with the config's momentum and weight decay (the paper's optimiser)."""
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@torch.inference_mode()
def evaluate(model: nn.Module, data: datamod.ImageData, device: torch.device, batch_size: int = 512) -> float:
    """Top-1 test accuracy in percent, counted per sample over the whole test split."""
    model.eval()
    correct = total = 0
    for x, y in datamod.test_batches(data, batch_size=batch_size, device=device):
        with autocast(device):
            logits = model(x.contiguous(memory_format=memory_format(device)))
        correct += int((logits.argmax(dim=1) == y).sum())
        total += y.numel()
    return 100.0 * correct / total


@torch.inference_mode()
def sample_logits(model: nn.Module, data: datamod.ImageData, device: torch.device) -> list[list[float]]:
    """Raw logits of the first :data:`SAMPLE_IMAGES` test images, for records and figures."""
    model.eval()
    x = datamod.normalize(data.test_x[:SAMPLE_IMAGES].to(device), data.info)
    return model(x).float().cpu().tolist()


def frozen_view(store: RunStore, cfg: RunConfig, role: str, device: torch.device) -> TransformedTeacher:
    """The frozen network of ``role`` as the trained network sees it: the teacher through the
    config's transform, the adversary unchanged."""
    net = load_network(store, getattr(cfg, role), device).to(memory_format=memory_format(device))
    if role == "teacher":
        return TransformedTeacher(net, cfg.transform, n=cfg.keep)
    return TransformedTeacher(net, "normal")


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------

BatchLoss = Callable[[RunConfig, Tensor, Tensor, dict[str, Tensor]], Losses]


class Trainer(Protocol):
    """What the shared epoch loop needs from a method's trainer."""

    network: nn.Module  # the network being trained and tested
    modules: dict[str, nn.Module]  # everything with weights to checkpoint
    optimizers: dict[str, torch.optim.Optimizer]
    steps_per_epoch: int  # optimisation steps in one epoch (for the progress bar)

    def train_epoch(self, epoch: int, bar: tqdm) -> tuple[dict[str, float], int]:
        """Train one epoch; return the mean of each loss term and the number of images seen."""
        ...


@dataclass(frozen=True)
class Method:
    """A registered training method: the frozen networks it needs and how it trains."""

    roles: tuple[str, ...]  # config fields naming frozen runs: "teacher", "adversary"
    make_trainer: Callable[..., Trainer]
    batch_loss: BatchLoss | None = None  # for the batch trainer
    summary: str = ""


class BatchTrainer:
    """Supervised, KD and nasty training: a batch of real images → losses → one SGD step."""

    def __init__(self, cfg: RunConfig, data: datamod.ImageData, device: torch.device,
                 frozen: dict[str, TransformedTeacher], batch_loss: BatchLoss) -> None:
        self.cfg, self.data, self.device, self.frozen, self.batch_loss = cfg, data, device, frozen, batch_loss
        self.network = build_network(cfg, data.info).to(device, memory_format=memory_format(device))
        self.modules = {"network": self.network}
        self.optimizers = {"network": sgd(self.network.parameters(), cfg)}
        self.steps_per_epoch = math.ceil(data.train_x.shape[0] / cfg.batch_size)

    def train_epoch(self, epoch: int, bar: tqdm) -> tuple[dict[str, float], int]:
        cfg, opt, fmt = self.cfg, self.optimizers["network"], memory_format(self.device)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, epoch)
        self.network.train()
        sums: dict[str, Tensor] = {}
        seen = 0
        batches = datamod.train_batches(self.data, batch_size=cfg.batch_size, epoch=epoch, seed=cfg.seed,
                                        device=self.device, augment_data=cfg.augment)
        for x, y in batches:
            x = x.contiguous(memory_format=fmt)
            with autocast(self.device):
                shown = {role: view(x) for role, view in self.frozen.items()}  # (B, K) each, no grad
                logits = self.network(x)  # (B, K)
            losses = self.batch_loss(cfg, logits, y, shown)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            for name, value in losses.items():  # tensors: no host sync inside the loop
                sums[name] = sums.get(name, 0.0) + value.detach() * y.numel()
            seen += y.numel()
            bar.update(1)
        return {name: float(total) / seen for name, total in sums.items()}, seen


class DaflTrainer:
    """DAFL: per iteration a generator batch; the generator learns to please the (frozen, possibly
    stingy) teacher, the student learns to match the teacher on the generated images."""

    def __init__(self, cfg: RunConfig, data: datamod.ImageData, device: torch.device,
                 frozen: dict[str, TransformedTeacher], batch_loss: BatchLoss | None = None) -> None:
        self.cfg, self.device = cfg, device
        info = data.info
        # The generator's loss needs gradients *through* the teacher, so DAFL uses the raw network
        # with frozen parameters and applies the transform itself (to every logit output).
        self.teacher = frozen["teacher"].model
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.transform = get_transform(cfg.transform, cfg.keep)
        self.network = build_network(cfg, info).to(device, memory_format=memory_format(device))
        self.generator = build_generator(latent_dim=cfg.latent_dim, img_size=info.image_size,
                                         channels=info.channels).to(device)
        self.modules = {"network": self.network, "generator": self.generator}
        self.optimizers = {
            "network": sgd(self.network.parameters(), cfg),
            "generator": torch.optim.Adam(self.generator.parameters(), lr=cfg.generator_lr),
        }
        self.steps_per_epoch = cfg.iterations_per_epoch

    def train_epoch(self, epoch: int, bar: tqdm) -> tuple[dict[str, float], int]:
        cfg, fmt = self.cfg, memory_format(self.device)
        for group in self.optimizers["network"].param_groups:
            group["lr"] = learning_rate(cfg, epoch)
        noise = torch.Generator().manual_seed((cfg.seed * 1_000_003 + epoch) % (1 << 63))
        self.generator.train()
        self.network.train()
        self.teacher.eval()
        sums: dict[str, Tensor] = {}
        for _ in range(cfg.iterations_per_epoch):
            z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=noise).to(self.device)  # (B, latent)
            with autocast(self.device):
                images = self.generator(z).contiguous(memory_format=fmt)  # (B, C, H, W)
                t_logits, t_features = self.teacher(images, return_features=True)  # (B, K), (B, D)
            t_logits = self.transform(t_logits.float())  # what the teacher shows
            g_losses = dafl_generator_loss(t_logits, t_features, one_hot=cfg.dafl_one_hot,
                                           info_entropy=cfg.dafl_info_entropy, activation=cfg.dafl_activation)
            with autocast(self.device):
                s_logits = self.network(images.detach())  # (B, K)
            s_losses = dafl_student_loss(s_logits, t_logits.detach())
            for opt in self.optimizers.values():
                opt.zero_grad(set_to_none=True)
            (g_losses["total"] + s_losses["total"]).backward()  # disjoint graphs: G and S get their own
            for opt in self.optimizers.values():
                opt.step()
            terms = {"total": g_losses["total"] + s_losses["total"], "kd": s_losses["kd"],
                     **{f"generator_{k}": v for k, v in g_losses.items()}}
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach()
            bar.update(1)
        n = cfg.iterations_per_epoch
        return {name: float(total) / n for name, total in sums.items()}, n * cfg.batch_size


def _supervised(cfg: RunConfig, logits: Tensor, y: Tensor, shown: dict[str, Tensor]) -> Losses:
    return cross_entropy_loss(logits, y)


def _kd(cfg: RunConfig, logits: Tensor, y: Tensor, shown: dict[str, Tensor]) -> Losses:
    return kd_loss(logits, shown["teacher"], y, temperature=cfg.temperature, alpha=cfg.alpha)


def _nasty(cfg: RunConfig, logits: Tensor, y: Tensor, shown: dict[str, Tensor]) -> Losses:
    return nasty_loss(logits, shown["adversary"], y, temperature=cfg.temperature, omega=cfg.omega)


METHODS: dict[str, Method] = {
    "supervised": Method((), BatchTrainer, _supervised, "cross-entropy on the labels"),
    "kd": Method(("teacher",), BatchTrainer, _kd, "KD from a (transformed) teacher"),
    "nasty": Method(("adversary",), BatchTrainer, _nasty, "Nasty Teacher training against an adversary"),
    "dafl": Method(("teacher",), DaflTrainer, None, "data-free KD with a DAFL generator"),
}


# --------------------------------------------------------------------------------------------
# The shared loop
# --------------------------------------------------------------------------------------------


def _progress_disabled(progress: bool | None) -> bool | None:
    if progress is not None:
        return not progress
    if "PYTEST_CURRENT_TEST" in os.environ:
        return True
    return None  # tqdm decides: off when the output is not a terminal


def _save_checkpoint(store: RunStore, cfg: RunConfig, trainer: Trainer, epoch: int, history: list[dict],
                     wall: float) -> None:
    payload = {
        "config": cfg.to_dict(),
        "epochs_done": epoch + 1,
        "history": history,
        "wall_seconds": wall,
        "modules": {k: m.state_dict() for k, m in trainer.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
        "rng": torch.get_rng_state(),
    }
    atomic_write(store.checkpoint_path(cfg.run_id), lambda f: torch.save(payload, f), binary=True)


def _resume(store: RunStore, cfg: RunConfig, trainer: Trainer) -> tuple[int, list[dict], float]:
    path = store.checkpoint_path(cfg.run_id)
    if not path.exists():
        return 0, [], 0.0
    payload = torch.load(path, map_location=next(trainer.network.parameters()).device, weights_only=True)
    if payload["config"] != cfg.to_dict():
        raise ValueError(f"checkpoint {path} was written by a different config; delete it to start over")
    for k, module in trainer.modules.items():
        module.load_state_dict(payload["modules"][k])
    for k, opt in trainer.optimizers.items():
        opt.load_state_dict(payload["optimizers"][k])
    torch.set_rng_state(payload["rng"].cpu())
    return payload["epochs_done"], payload["history"], payload["wall_seconds"]


def fit(
    cfg: RunConfig,
    store: RunStore,
    *,
    device: str = "auto",
    progress: bool | None = None,
    data: datamod.ImageData | None = None,
) -> dict:
    """Train the run ``cfg`` describes (resuming from its checkpoint if any) and write its record.

    Args:
        cfg: the run.
        store: where checkpoints and the record go, and where the frozen runs' weights are.
        device: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda`` or ``mps``.
        progress: show a tqdm bar (None: only on a terminal, never under pytest).
        data: the dataset, when the caller has it loaded already (else :func:`load_data`).

    Returns:
        The result record (also written to ``store.record_path(cfg.run_id)``).
    """
    dev = select_device(device)
    method = METHODS[cfg.method]
    data = load_data(cfg) if data is None else data
    frozen = {role: frozen_view(store, cfg, role, dev) for role in method.roles}
    trainer = method.make_trainer(cfg, data, dev, frozen, method.batch_loss)
    start_epoch, history, wall = _resume(store, cfg, trainer)

    teacher_accuracy = evaluate(frozen["teacher"], data, dev) if "teacher" in frozen else None
    steps = trainer.steps_per_epoch
    bar = tqdm(total=cfg.epochs * steps, initial=start_epoch * steps, desc=cfg.label,
               disable=_progress_disabled(progress), leave=False, dynamic_ncols=True)
    for epoch in range(start_epoch, cfg.epochs):
        tick = time.perf_counter()
        losses, seen = trainer.train_epoch(epoch, bar)
        train_seconds = time.perf_counter() - tick
        accuracy = evaluate(trainer.network, data, dev)
        seconds = time.perf_counter() - tick
        wall += seconds
        history.append({"epoch": epoch + 1, "lr": learning_rate(cfg, epoch), "test_accuracy": accuracy,
                        **{f"train_{k}": v for k, v in losses.items()},
                        "images_per_s": seen / train_seconds, "seconds": seconds})
        bar.set_postfix(loss=f"{losses['total']:.3f}", acc=f"{accuracy:.2f}")
        _save_checkpoint(store, cfg, trainer, epoch, history, wall)
    bar.close()

    best = max(history, key=lambda h: h["test_accuracy"])  # first best epoch on ties
    record = {
        "run_id": cfg.run_id,
        "config": cfg.to_dict(),
        "final_accuracy": history[-1]["test_accuracy"],
        "best_accuracy": best["test_accuracy"],
        "best_epoch": best["epoch"],
        "accuracy_protocol": ACCURACY_PROTOCOL,
        "teacher_accuracy": teacher_accuracy,
        "num_params": count_parameters(trainer.network),
        "wall_seconds": wall,
        "images_per_s": sum(h["images_per_s"] for h in history) / len(history),
        "history": history,
        "sample_logits": sample_logits(trainer.network, data, dev),
        "sample_labels": data.test_y[:SAMPLE_IMAGES].tolist(),
        **provenance(str(dev)),
    }
    weights = {"config": cfg.to_dict(), "state_dict": trainer.network.state_dict()}
    atomic_write(store.weights_path(cfg.run_id), lambda f: torch.save(weights, f), binary=True)
    store.write_record(record)
    store.checkpoint_path(cfg.run_id).unlink(missing_ok=True)  # the final weights and record replace it
    return record


def main(argv: list[str] | None = None) -> int:
    """``python -m stingylib.train CONFIG.json --results DIR --checkpoints DIR``: train one run."""
    parser = argparse.ArgumentParser(description="Train one run from its JSON config.")
    parser.add_argument("config", help="a JSON file holding RunConfig.to_dict()")
    parser.add_argument("--results", required=True)
    parser.add_argument("--checkpoints", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with open(args.config) as handle:
        cfg = RunConfig.from_dict(json.load(handle))
    record = fit(cfg, RunStore(Path(args.results), Path(args.checkpoints)), device=args.device)
    print(json.dumps({k: record[k] for k in ("run_id", "final_accuracy", "best_accuracy")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
