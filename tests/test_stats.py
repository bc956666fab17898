import math

import pytest

from spikformer_lite.stats import wilson_interval


def test_wilson_matches_the_closed_form_by_hand():
    # 94 of 100: centre (0.94 + 1.96^2/200) / (1 + 1.96^2/100), worked out separately
    lo, hi = wilson_interval(0.94, 100)
    assert lo == pytest.approx(0.8752, abs=1e-4) and hi == pytest.approx(0.9722, abs=1e-4)


def test_wilson_covers_the_binomial_at_about_95_percent():
    # exact coverage of the interval for a true p, summed over the binomial distribution of outcomes
    n, p = 100, 0.9
    coverage = 0.0
    for k in range(n + 1):
        lo, hi = wilson_interval(k / n, n)
        if lo <= p <= hi:
            coverage += math.comb(n, k) * p**k * (1 - p) ** (n - k)
    assert 0.92 < coverage < 0.98


def test_wilson_stays_inside_zero_one_and_narrows_with_n():
    for n in (1, 10, 100):
        lo, hi = wilson_interval(1.0, n)
        assert 0.0 <= lo < hi <= 1.0 and hi == pytest.approx(1.0)
        lo, hi = wilson_interval(0.0, n)
        assert 0.0 == pytest.approx(lo, abs=1e-15) and 0.0 <= lo < hi <= 1.0
    widths = [wilson_interval(0.8, n)[1] - wilson_interval(0.8, n)[0] for n in (100, 1000, 10000)]
    assert widths[0] > widths[1] > widths[2]


@pytest.mark.parametrize("p, n, match", [(94, 100, "proportion"), (0.5, 0, "positive integer"), (0.5, 2.5, "positive integer")])
def test_wilson_rejects_bad_input(p, n, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(p, n)
