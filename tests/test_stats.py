"""Mean ± std and paired 95 % intervals, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from stingylib.stats import paired_difference, summarize, t_quantile


def test_summary_is_the_mean_and_the_sample_std():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    # mean 10/4; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / (n - 1) = 5/3
    assert s.mean == 2.5 and s.std == pytest.approx(math.sqrt(5 / 3)) and s.n == 4
    assert str(s) == "2.50 ± 1.29"
    one = summarize([7.0])
    assert one.mean == 7.0 and math.isnan(one.std) and str(one) == "7.00"
    assert summarize([1.0, math.nan, 3.0]).n == 2  # a missing run is left out
    assert str(summarize([])) == "—"


def test_t_quantiles_are_the_textbook_ones():
    # two-sided 95 %: df 1 → 12.706, df 2 → 4.303, df 4 → 2.776
    assert t_quantile(2) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(3) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(5) == pytest.approx(2.7764, abs=1e-4)
    with pytest.raises(ValueError, match="n >= 2"):
        t_quantile(1)


def test_paired_difference_by_hand():
    a = {0: 80.0, 1: 82.0, 2: 81.0}
    b = {0: 78.0, 1: 79.0, 2: 80.0}
    d = paired_difference(a, b)
    # differences 2, 3, 1: mean 2, std 1, half-width 4.3027 · 1 / sqrt(3) = 2.4841
    assert d.mean == pytest.approx(2.0) and d.n == 3
    assert d.low == pytest.approx(2.0 - 2.48414, abs=1e-4) and d.high == pytest.approx(2.0 + 2.48414, abs=1e-4)
    assert not d.excludes_zero  # [-0.48, 4.48]
    assert str(d) == "+2.00 [-0.48, +4.48]"
    tight = paired_difference({0: 80.0, 1: 81.0, 2: 82.0}, {0: 70.0, 1: 71.5, 2: 71.5})
    # differences 10, 9.5, 10.5: mean 10, std 0.5, half-width 4.3027 · 0.5 / sqrt(3) = 1.2421
    assert (tight.low, tight.high) == pytest.approx((8.7579, 11.2421), abs=1e-4) and tight.excludes_zero


def test_paired_difference_uses_only_seeds_both_sides_have():
    d = paired_difference({0: 5.0, 1: 6.0, 2: math.nan, 3: 1.0}, {0: 4.0, 1: 4.0, 2: 0.0})
    assert d.n == 2 and d.mean == pytest.approx(1.5)  # seeds 0 and 1 only
    one = paired_difference({0: 5.0}, {0: 4.0, 1: 3.0})
    assert one.n == 1 and one.mean == 1.0 and math.isnan(one.low) and not one.excludes_zero
    assert paired_difference({}, {0: 1.0}).n == 0
