"""The fast path of each model on each device: its memory format and whether bf16 autocast pays off.

On CUDA the answer is the same for every model (bf16 autocast where supported, channels_last). On a
CPU it depends on the model and on what it is used for, so it is read from :data:`CPU_FAST_PATH`, a
table measured on a machine with native bf16 (``benchmarks/bench_fastpath.py``, committed as
``benchmarks/results/fast_path.json`` and ``fast_path.md``) and copied from that measurement by
:func:`decide`, by two fixed rules:

- a (model, precision, role) uses ``channels_last`` when it is at least 5 % faster than the
  contiguous format (:data:`CHANNELS_LAST_MIN_SPEEDUP`);
- a model is ``bf16_faster`` when its best bf16 training step (over both memory formats) is at least
  10 % faster than its best fp32 one (:data:`BF16_MIN_SPEEDUP`); ``bf16_infer_faster`` likewise for
  its inference forward.

A role is ``"train"`` (a training step: forward, loss, backward, SGD step, model in train mode) or
``"infer"`` (a frozen model's forward in eval mode under ``torch.inference_mode()``: a teacher's
logits, an evaluation). A model missing from the table (e.g. a user's new one) runs contiguous and
in fp32 on a CPU. ``tests/test_fastpath.py`` checks that the table equals ``decide()`` of the
committed measurement, and ``python benchmarks/bench_fastpath.py --check`` does the same.

:func:`fast_precision` only *suggests* a precision (profiles use it to choose one per model); the
engine never changes the precision a run asks for. Importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass
from typing import Any, ContextManager, Mapping

import torch

__all__ = [
    "BF16_MIN_SPEEDUP", "CHANNELS_LAST_MIN_SPEEDUP", "CPU_FAST_PATH", "FastPath", "MODES", "PRECISIONS",
    "ROLES", "bf16_native", "decide", "fast_precision", "memory_format", "precision_context",
]

PRECISIONS = ("fp32", "bf16")
ROLES = ("train", "infer")
FORMATS = ("contiguous", "channels_last")
#: The four measured modes, ``"<precision>/<format>"``; the first is the baseline of the ratios.
MODES = tuple(f"{p}/{f}" for p in PRECISIONS for f in FORMATS)
#: channels_last is chosen when ``t(contiguous) / t(channels_last)`` is at least this.
CHANNELS_LAST_MIN_SPEEDUP = 1.05
#: bf16 is "faster" when ``best t(fp32) / best t(bf16)`` is at least this.
BF16_MIN_SPEEDUP = 1.10


@dataclass(frozen=True)
class FastPath:
    """The measured CPU fast path of one model.

    ``bf16_faster``: a bf16-autocast training step is ≥ 10 % faster than an fp32 one (each in its best
    memory format); ``bf16_infer_faster``: the same for the inference forward. The four
    ``channels_last_<role>_<precision>`` flags: channels_last is ≥ 5 % faster than contiguous for
    that role and precision.
    """

    bf16_faster: bool = False
    bf16_infer_faster: bool = False
    channels_last_train_fp32: bool = False
    channels_last_train_bf16: bool = False
    channels_last_infer_fp32: bool = False
    channels_last_infer_bf16: bool = False

    def channels_last(self, precision: str, role: str) -> bool:
        """Whether channels_last is the faster format for ``precision`` and ``role``."""
        _check(precision, "precision", PRECISIONS)
        _check(role, "role", ROLES)
        return bool(getattr(self, f"channels_last_{role}_{precision}"))


#: Missing models: contiguous everywhere, fp32.
DEFAULT_FAST_PATH = FastPath()

#: The measured CPU fast path of each model, copied from ``benchmarks/results/fast_path.json`` by
#: :func:`decide` (``python benchmarks/bench_fastpath.py`` prints this literal after a measurement;
#: ``--check`` and ``tests/test_fastpath.py`` compare the two).
CPU_FAST_PATH: dict[str, FastPath] = {
    "mobilenetv2": FastPath(bf16_faster=False, bf16_infer_faster=True,
                             channels_last_train_fp32=True, channels_last_train_bf16=False,
                             channels_last_infer_fp32=True, channels_last_infer_bf16=True),
    "resnet18": FastPath(bf16_faster=True, bf16_infer_faster=True,
                          channels_last_train_fp32=True, channels_last_train_bf16=True,
                          channels_last_infer_fp32=True, channels_last_infer_bf16=True),
    "resnet34": FastPath(bf16_faster=True, bf16_infer_faster=True,
                          channels_last_train_fp32=True, channels_last_train_bf16=True,
                          channels_last_infer_fp32=True, channels_last_infer_bf16=False),
    "resnet50": FastPath(bf16_faster=True, bf16_infer_faster=True,
                          channels_last_train_fp32=True, channels_last_train_bf16=True,
                          channels_last_infer_fp32=True, channels_last_infer_bf16=True),
    "resnext29": FastPath(bf16_faster=True, bf16_infer_faster=True,
                           channels_last_train_fp32=True, channels_last_train_bf16=True,
                           channels_last_infer_fp32=True, channels_last_infer_bf16=True),
    "shufflenetv2": FastPath(bf16_faster=False, bf16_infer_faster=True,
                              channels_last_train_fp32=False, channels_last_train_bf16=False,
                              channels_last_infer_fp32=True, channels_last_infer_bf16=False),
}


def _check(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")
    return value


def precision_context(device: torch.device, precision: str) -> ContextManager:
    """The context a forward pass (and its loss) runs under: bf16 autocast for ``"bf16"`` on
    ``device``'s type (cpu, cuda, mps), a no-op for ``"fp32"``.

    Raises ``ValueError`` naming the allowed values for any other ``precision``.
    """
    _check(precision, "precision", PRECISIONS)
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.lru_cache(maxsize=1)
def _cpu_has_native_bf16() -> bool:
    """Linux: ``avx512_bf16`` or ``amx_bf16`` among the CPU flags of /proc/cpuinfo; elsewhere False."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return bool({"avx512_bf16", "amx_bf16"} & set(value.split()))
    except OSError:
        return False
    return False


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively: CUDA → ``torch.cuda.is_bf16_supported()``; CPU →
    the CPU has ``avx512_bf16`` or ``amx_bf16`` (Linux only; read once and cached); MPS → False."""
    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return _cpu_has_native_bf16()
    return False


def _cpu_entry(model: str) -> FastPath:
    return CPU_FAST_PATH.get(model, DEFAULT_FAST_PATH)


def memory_format(model: str, precision: str, device: torch.device, role: str) -> torch.memory_format:
    """The memory format ``model`` runs fastest in: CUDA → channels_last; MPS → contiguous; CPU →
    :data:`CPU_FAST_PATH` for ``precision`` and ``role`` (``"train"`` or ``"infer"``), contiguous for a
    model missing from it."""
    _check(precision, "precision", PRECISIONS)
    _check(role, "role", ROLES)
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.channels_last
    if kind == "cpu" and _cpu_entry(model).channels_last(precision, role):
        return torch.channels_last
    return torch.contiguous_format


def fast_precision(model: str, device: torch.device, *, role: str = "train") -> str:
    """The precision ``model`` is fastest in on ``device`` for ``role``: ``"bf16"`` on CUDA with bf16
    support; on a CPU with native bf16, ``"bf16"`` when :data:`CPU_FAST_PATH` says so (``bf16_faster``
    for ``"train"``, ``bf16_infer_faster`` for ``"infer"``); ``"fp32"`` otherwise (MPS, a CPU without
    native bf16, a model missing from the table). A suggestion for profiles, never applied silently."""
    _check(role, "role", ROLES)
    device = torch.device(device)
    if not bf16_native(device):
        return "fp32"
    if device.type == "cuda":
        return "bf16"
    if device.type == "cpu":
        entry = _cpu_entry(model)
        return "bf16" if (entry.bf16_faster if role == "train" else entry.bf16_infer_faster) else "fp32"
    return "fp32"


# --- the rule that turns a measurement into the table ---------------------------------------------


def _seconds_per_image(role_entry: Mapping[str, Any], mode: str) -> float:
    """Median seconds per image of ``mode``, summed over the role's batch sizes (equal images each)."""
    total = 0.0
    for batch, modes in role_entry.items():
        total += float(modes[mode]["seconds"]) / int(batch)
    return total


def decide(measurement: Mapping[str, Any]) -> dict[str, FastPath]:
    """The fast-path table of a measurement (the JSON of ``benchmarks/bench_fastpath.py``).

    ``measurement["models"][model][role][batch][mode]["seconds"]`` is the median seconds per step of
    ``model`` for ``role`` in ``"train"``/``"infer"``, batch size ``batch`` (a string, as in JSON) and
    ``mode`` in :data:`MODES`. A role measured at several batch sizes (inference: the teacher's
    training batch and the evaluation batch) is judged by its seconds per image summed over them, i.e.
    equal numbers of images at each. Rules: channels_last when ``t(contiguous) / t(channels_last) ≥
    1.05`` for that precision and role; ``bf16_faster`` (``bf16_infer_faster``) when ``min t(fp32) /
    min t(bf16) ≥ 1.10`` over the two formats of the training step (inference forward).
    """
    table: dict[str, FastPath] = {}
    for model in sorted(measurement["models"]):
        entry = measurement["models"][model]
        flags: dict[str, bool] = {}
        for role in ROLES:
            t = {mode: _seconds_per_image(entry[role], mode) for mode in MODES}
            for precision in PRECISIONS:
                speedup = t[f"{precision}/contiguous"] / t[f"{precision}/channels_last"]
                flags[f"channels_last_{role}_{precision}"] = speedup >= CHANNELS_LAST_MIN_SPEEDUP
            best = {p: min(t[f"{p}/{f}"] for f in FORMATS) for p in PRECISIONS}
            faster = best["fp32"] / best["bf16"] >= BF16_MIN_SPEEDUP
            flags["bf16_faster" if role == "train" else "bf16_infer_faster"] = faster
        table[model] = FastPath(**flags)
    return table
