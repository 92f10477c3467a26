"""Teacher output transforms: what a teacher shows its student.

Sources: the stingy-sparse and reversed transforms are those of the Stingy Teacher code
(HowieMa/stingy-teacher, ``train_kd_stingy.py`` and ``train_kd_reverse.py``); the uniform top-N
limit is the poster's approximation; the stingy-smooth and truncated top-N transforms are defined
below.

Every transform maps a (B, K) batch of logits to a (B, K) batch of logits, vectorised over rows (no
Python loop), for any floating dtype and device. None of them changes the teacher's top-1 class, so
a transformed teacher is exactly as accurate as the teacher it wraps.

- ``normal``: the logits unchanged.
- ``stingy_sparse``: the top-``n`` logits kept in place, every other entry ``-inf``; its softmax is
  the softmax over the top-``n`` classes and exactly 0 elsewhere (the paper's stingy teacher).
- ``stingy_smooth``: the top-``n`` logits kept, every other logit replaced by one shared value, the
  mean of those non-top-``n`` logits: a flat, non-zero tail that carries no ranking. The paper names
  this variant but never defines it; this definition is the project's own.
- ``reversed_logits``: the top-1 logit kept, the other values handed out in reverse order (rank-2
  class gets the minimum, the last class gets the second-largest value): a permutation.
- ``uniform_topn``: equal logits on the top-``n`` classes, ``-inf`` elsewhere: the limit used by the
  poster's approximation of the KL term. Its top-1 is tied with the other kept classes.
- ``truncated_topn``: the "top-k" output defence of model-stealing work (e.g. the prediction-poisoning
  code, tribhuvanesh/prediction-poisoning, ``Blackbox.truncate_output``): the teacher
  publishes its top-``n`` softmax probabilities *without* renormalising them, so the student learns
  the mass ``1 − Σ top-n`` they leave out. Shown as logits: ``log p`` on the top-``n`` and, on every
  other class, that missing mass spread evenly (the least-informed use of it). Using the published
  probabilities as if the rest were 0 gives back exactly the stingy teacher (``stingy_sparse``).

The student-side attacks, which may read only what a stingy teacher shows, are in
:mod:`stingylib.attacks`.

Transforms are also registered by name in :data:`TRANSFORMS` and built with :func:`get_transform`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ._checks import check_keep, check_logits

Transform = Callable[[Tensor], Tensor]


def _topk_mask(logits: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Indices, values and a boolean mask of the top-``n`` entries of each row."""
    values, indices = logits.topk(n, dim=1)  # (B, n), (B, n)
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, indices, True)  # (B, K)
    return values, indices, mask


def normal(logits: Tensor) -> Tensor:
    """The teacher's logits unchanged (the identity transform)."""
    check_logits(logits)
    return logits


def stingy_sparse(logits: Tensor, n: int) -> Tensor:
    """Keep the top-``n`` logits of each row in place and set every other entry to ``-inf``.

    Args:
        logits: (B, K) teacher logits.
        n: number of kept classes, an integer with 1 ≤ n ≤ K (n = K returns the logits unchanged).

    Returns:
        (B, K) logits whose softmax is exactly 0 outside the top-``n`` classes.
    """
    check_logits(logits)
    n = check_keep(n, logits.shape[1])
    values, indices, _ = _topk_mask(logits, n)
    out = torch.full_like(logits, float("-inf"))  # (B, K)
    return out.scatter(1, indices, values)


def stingy_smooth(logits: Tensor, n: int) -> Tensor:
    """Keep the top-``n`` logits; replace the others by their mean (one shared, flat tail value).

    This is the project's definition of the paper's "stingy-smooth" teacher (the paper gives none).

    Args:
        logits: (B, K) teacher logits, finite.
        n: number of kept classes, 1 ≤ n ≤ K (n = K returns the logits unchanged).
    """
    check_logits(logits)
    n = check_keep(n, logits.shape[1])
    if n == logits.shape[1]:
        return logits
    _, _, mask = _topk_mask(logits, n)
    tail = logits.masked_fill(mask, 0).sum(dim=1, keepdim=True) / (logits.shape[1] - n)  # (B, 1)
    return torch.where(mask, logits, tail.to(logits.dtype))


def reversed_logits(logits: Tensor) -> Tensor:
    """Keep the top-1 logit; give the class of rank k (k ≥ 2) the value of rank K + 2 − k.

    A permutation of each row's values: nothing is masked and the argmax is kept, but the ranking of
    the other classes is turned upside down (the rank-2 class gets the minimum).
    """
    check_logits(logits)
    values, order = logits.sort(dim=1, descending=True)  # (B, K) each, values[:, 0] is the max
    shuffled = torch.cat([values[:, :1], values[:, 1:].flip(1)], dim=1)  # rank k → value of rank K+2−k
    return torch.empty_like(logits).scatter(1, order, shuffled)


def uniform_topn(logits: Tensor, n: int) -> Tensor:
    """Equal logits (0) on the top-``n`` classes and ``-inf`` elsewhere: a uniform target over them."""
    check_logits(logits)
    n = check_keep(n, logits.shape[1])
    _, _, mask = _topk_mask(logits, n)
    return torch.zeros_like(logits).masked_fill(~mask, float("-inf"))


def truncated_topn(logits: Tensor, n: int) -> Tensor:
    """The top-``n`` probabilities as published (not renormalised), the rest of the mass spread evenly.

    Returns (B, K) log-probabilities: ``log softmax(z)`` on the top-``n`` classes and
    ``log((1 − Σ_top-n p) / (K − n))`` on each other class (computed in log space: the log-mean-exp
    of the hidden logits, minus ``logsumexp(z)``). n = K returns the log-probabilities of all classes.
    """
    check_logits(logits)
    n = check_keep(n, logits.shape[1])
    log_p = torch.log_softmax(logits.float(), dim=1)  # (B, K)
    if n == logits.shape[1]:
        return log_p.to(logits.dtype)
    _, _, mask = _topk_mask(logits, n)
    hidden = log_p.masked_fill(mask, float("-inf"))  # (B, K): only the hidden classes' log p
    tail = torch.logsumexp(hidden, dim=1, keepdim=True) - math.log(logits.shape[1] - n)  # (B, 1)
    return torch.where(mask, log_p, tail).to(logits.dtype)


@dataclass(frozen=True)
class TransformSpec:
    """A registered transform: its function and whether it takes ``n`` (the kept-class count)."""

    fn: Callable[..., Tensor]
    takes_n: bool
    summary: str


TRANSFORMS: dict[str, TransformSpec] = {
    "normal": TransformSpec(normal, False, "the logits unchanged"),
    "stingy_sparse": TransformSpec(stingy_sparse, True, "top-n kept, -inf elsewhere"),
    "stingy_smooth": TransformSpec(stingy_smooth, True, "top-n kept, the rest set to their mean"),
    "reversed": TransformSpec(reversed_logits, False, "top-1 kept, the other ranks reversed"),
    "uniform_topn": TransformSpec(uniform_topn, True, "equal logits on the top-n, -inf elsewhere"),
    "truncated_topn": TransformSpec(truncated_topn, True, "top-n probabilities, the missing mass spread evenly"),
}


def get_transform(name: str, n: int | None = None) -> Transform:
    """Return the registered transform ``name`` as a one-argument function of (B, K) logits.

    Args:
        name: one of :data:`TRANSFORMS` (``normal``, ``stingy_sparse``, ``stingy_smooth``,
            ``reversed``, ``uniform_topn``, ``truncated_topn``).
        n: the kept-class count, required by the top-n transforms and refused by the others.
    """
    if name not in TRANSFORMS:
        raise ValueError(f"transform must be one of {sorted(TRANSFORMS)}; got {name!r}")
    spec = TRANSFORMS[name]
    if spec.takes_n:
        if n is None:
            raise ValueError(f"n is required for transform {name!r} (an integer 1 <= n <= K)")
        n = check_keep(n, None)  # the upper bound n <= K is checked when the logits arrive
        return functools.partial(spec.fn, n=n)
    if n is not None:
        raise ValueError(f"n must be None for transform {name!r}, which keeps every class; got {n!r}")
    return spec.fn
