"""Files of training: finished runs' weights and per-epoch checkpoints, read back safely.

- :func:`load_network` / :func:`load_run`: a finished run's network rebuilt from the config saved
  beside its weights: its own weights, else its shipped ones, checked against the SHA-256 its
  record holds and to belong to that run.
- :func:`save_checkpoint` / :func:`resume_checkpoint`: everything a run needs to continue bit for bit
  after its last finished epoch (weights, optimiser states, its random state, history), written
  atomically.
- :class:`~stingylib.runs.store.CorruptFileError` (defined with the store, raised here too): a file
  that cannot be loaded or belongs to another run; names the file.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from . import data as datamod
from .models import Classifier, build_model
from .runs import CorruptFileError, EpochMetrics, RunConfig, RunStore, atomic_write  # noqa: F401 - the error is part of this API
from .training import Trainer


def _torch_load(path: Path, device: torch.device | str = "cpu") -> dict:
    """``torch.load`` of a file this package wrote, with errors that name the file."""
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CorruptFileError(path, f"cannot be loaded ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(payload, dict):
        raise CorruptFileError(path, f"holds a {type(payload).__name__}, not a checkpoint")
    return payload


def load_run(store: RunStore, run_id: str) -> tuple[Classifier, RunConfig]:
    """A finished run's final network (on the CPU) and its config, from its weights file (its own,
    else the shipped one; :meth:`~stingylib.runs.store.RunStore.weights_file`), checked first
    against the SHA-256 its record holds."""
    path = store.weights_file(run_id)
    if path is None:
        shipped = store.shipped_path(run_id)
        where = store.weights_path(run_id) if shipped is None else f"{store.weights_path(run_id)} or {shipped}"
        raise FileNotFoundError(f"no finished weights for run {run_id!r} at {where}; train that run first")
    store.check_weights(run_id, path)
    payload = _torch_load(path)
    try:
        cfg = RunConfig.from_dict(payload["config"])
        info = datamod.DATASETS[cfg.dataset]
        model = build_model(cfg.model, info.num_classes, in_channels=info.channels, width=cfg.width)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CorruptFileError(path, f"not the weights of a run ({type(err).__name__}: {str(err)[:200]})") from None
    if cfg.run_id != run_id:
        raise CorruptFileError(path, f"holds the weights of run {cfg.run_id!r}, not {run_id!r}")
    return model, cfg


def load_network(store: RunStore, run_id: str, device: torch.device | str = "cpu") -> Classifier:
    """A finished run's final network in eval mode, rebuilt from the config saved beside its weights.

    Raises:
        FileNotFoundError: the run has no weights (train it first).
        CorruptFileError: the weights file cannot be loaded or belongs to another run.
    """
    return load_run(store, run_id)[0].to(device).eval()


def save_checkpoint(store: RunStore, cfg: RunConfig, trainer: Trainer, epochs_done: int,
                    history: list[EpochMetrics], wall: float, selected: dict[str, torch.Tensor] | None = None) -> None:
    """Write the run's checkpoint after ``epochs_done`` epochs, atomically: its config, history and
    wall time, every module's and optimiser's state, its random state (``trainer.rng_state``) and,
    with a validation split, the network's weights at the epoch selected so far (``selected``)."""
    payload = {
        "run_id": cfg.run_id,
        "config": cfg.to_dict(),
        "epochs_done": epochs_done,
        "history": [h.to_json() for h in history],  # as in records: plain numbers, loadable weights-only
        "wall_seconds": wall,
        "modules": {k: m.state_dict() for k, m in trainer.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
        "rng": trainer.rng_state,
        "selected": selected,
    }
    atomic_write(store.checkpoint_path(cfg.run_id), lambda f: torch.save(payload, f), binary=True)


def read_checkpoint_epochs(store: RunStore, run_id: str) -> int | None:
    """Epochs done by the run's checkpoint (None without one). Raises CorruptFileError."""
    path = store.checkpoint_path(run_id)
    if not path.exists():
        return None
    payload = _torch_load(path)
    if payload.get("run_id") != run_id or not isinstance(payload.get("epochs_done"), int):
        raise CorruptFileError(path, f"not a checkpoint of run {run_id!r}")
    return payload["epochs_done"]


def resume_checkpoint(store: RunStore, cfg: RunConfig,
                      trainer: Trainer) -> tuple[int, list[EpochMetrics], float, dict[str, torch.Tensor] | None]:
    """Load the run's checkpoint into ``trainer`` (modules, optimisers, random state); return the
    epochs done, the history, the wall seconds so far and the weights of the epoch selected on the
    validation split so far (0, [], 0.0, None without a checkpoint; None without a validation split).

    Raises:
        CorruptFileError: the checkpoint cannot be loaded, belongs to another run or is inconsistent.
    """
    path = store.checkpoint_path(cfg.run_id)
    if not path.exists():
        return 0, [], 0.0, None
    payload = _torch_load(path, next(trainer.network.parameters()).device)
    if payload.get("run_id") != cfg.run_id:
        raise CorruptFileError(path, f"is a checkpoint of run {payload.get('run_id')!r}, not {cfg.run_id!r}")
    try:
        for k, module in trainer.modules.items():
            module.load_state_dict(payload["modules"][k])
        for k, opt in trainer.optimizers.items():
            opt.load_state_dict(payload["optimizers"][k])
        rng = payload["rng"].cpu()
        torch.set_rng_state(rng)  # checks that it is a generator state
        trainer.rng_state = rng
        epochs_done, wall = payload["epochs_done"], payload["wall_seconds"]
        history = [EpochMetrics.from_json(entry, epoch=i, terms=cfg.method.terms)
                   for i, entry in enumerate(payload["history"], 1)]
        selected = payload.get("selected")
        if selected is not None:
            _check_state(trainer.network, selected)
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as err:
        raise CorruptFileError(path, f"incomplete checkpoint ({type(err).__name__}: {str(err)[:200]})") from None
    if not (0 <= epochs_done <= cfg.epochs and len(history) == epochs_done):
        raise CorruptFileError(path, f"inconsistent checkpoint: {epochs_done} epochs, {len(history)} history rows")
    if (selected is not None) != (cfg.val_per_class is not None and epochs_done > 0):
        raise CorruptFileError(path, "inconsistent checkpoint: the selected weights must be there exactly when the "
                                     "run has a validation split and has finished an epoch")
    return epochs_done, history, wall, selected


def _check_state(network: torch.nn.Module, state: dict) -> None:
    """Raise KeyError/RuntimeError unless ``state`` has exactly the network's tensors and shapes."""
    own = network.state_dict()
    if set(state) != set(own):
        raise KeyError(f"selected weights hold {sorted(set(state) ^ set(own))[:5]} which the network does not match")
    for name, tensor in own.items():
        if state[name].shape != tensor.shape:
            raise RuntimeError(f"selected weights: {name} has shape {tuple(state[name].shape)}, not {tuple(tensor.shape)}")
