"""Statistics over seeds: mean ± std, and paired differences with 95 % confidence intervals.

A comparison between two conditions (a stingy-teacher student and a normal-KD student, KD and the
baseline, …) is made per seed: seed ``s`` of both conditions shares its data order and its student's
initialisation, so the difference ``a[s] - b[s]`` removes most of the seed-to-seed spread. The
interval is Student's t over those differences: ``mean ± t(0.975, n - 1) · std / sqrt(n)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from scipy import stats as _scipy_stats

#: Confidence level of every interval this module reports.
LEVEL = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof = 1; NaN for fewer than two values) of ``n`` values."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        if self.n == 0:
            return "—"
        return f"{self.mean:.2f}" if self.n < 2 else f"{self.mean:.2f} ± {self.std:.2f}"


@dataclass(frozen=True)
class PairedDifference:
    """The mean of per-seed differences ``a - b`` with its two-sided 95 % t interval."""

    mean: float
    low: float
    high: float
    n: int  # seeds present in both conditions

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below 0 (a difference beyond seed noise)."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        if self.n == 0:
            return "—"
        if self.n < 2:
            return f"{self.mean:+.2f} (one seed: no interval)"
        return f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def _finite(values: Sequence[float], name: str) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{name} must hold numbers; got {v!r}")
        if not math.isnan(v):
            out.append(float(v))
    return out


def summarize(values: Sequence[float]) -> Summary:
    """Mean ± sample std of the values (NaN values, i.e. missing runs, are left out)."""
    xs = _finite(values, "values")
    n = len(xs)
    if n == 0:
        return Summary(math.nan, math.nan, 0)
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return Summary(mean, std, n)


def t_quantile(n: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``n - 1`` degrees of freedom (n ≥ 2)."""
    if n < 2:
        raise ValueError(f"a t interval needs n >= 2 values; got n={n}")
    return float(_scipy_stats.t.ppf(0.5 + LEVEL / 2, n - 1))


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> PairedDifference:
    """Mean and 95 % t interval of ``a[s] - b[s]`` over the seeds ``s`` both conditions have.

    Args:
        a, b: seed → value (NaN or a missing seed: that seed is left out of the pair).
    """
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    n = len(diffs)
    if n == 0:
        return PairedDifference(math.nan, math.nan, math.nan, 0)
    summary = summarize(diffs)
    if n < 2:
        return PairedDifference(summary.mean, math.nan, math.nan, 1)
    half = t_quantile(n) * summary.std / math.sqrt(n)
    return PairedDifference(summary.mean, summary.mean - half, summary.mean + half, n)
