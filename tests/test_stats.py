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


def test_mcnemar_exact_p_value_by_hand():
    import numpy as np

    from spikformer_lite.stats import mcnemar

    # 10 samples: A right on 3 that B gets wrong, B right on 0 that A gets wrong, 7 concordant.
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1], bool)
    b = np.array([0, 0, 0, 1, 1, 0, 0, 1, 1, 1], bool)
    r = mcnemar(a, b)
    assert (r["a_only"], r["b_only"], r["n"]) == (3, 0, 10)
    assert r["p_value"] == pytest.approx(2 * 0.5**3)  # P(X <= 0), X ~ Bin(3, 1/2), doubled
    assert r["diff"] == pytest.approx(0.3)
    # symmetric, and 1.0 without discordant samples
    assert mcnemar(b, a)["p_value"] == r["p_value"]
    assert mcnemar(a, a)["p_value"] == 1.0
    # 20 vs 5 discordant: sum_{i<=5} C(25, i) / 2^25, doubled
    a = np.r_[np.ones(20, bool), np.zeros(5, bool), np.ones(100, bool)]
    b = np.r_[np.zeros(20, bool), np.ones(5, bool), np.ones(100, bool)]
    expected = 2 * sum(math.comb(25, i) for i in range(6)) / 2**25
    assert mcnemar(a, b)["p_value"] == pytest.approx(expected)
    assert expected < 0.01


def test_mcnemar_holds_its_level_under_the_null():
    """Two equally accurate models that disagree at random: rejections at 5% must be at most about 5%."""
    import numpy as np

    from spikformer_lite.stats import mcnemar

    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(400):
        a = rng.random(300) < 0.8
        b = rng.random(300) < 0.8
        rejections += mcnemar(a, b)["p_value"] < 0.05
    assert rejections / 400 <= 0.07


def test_paired_test_sees_what_an_unpaired_interval_cannot():
    """Two models that agree on all but 30 of 10,000 images, B wrong on 25 of them: the Wilson intervals
    overlap, the paired test and the paired interval both say A is better."""
    import numpy as np

    from spikformer_lite.stats import mcnemar, paired_bootstrap, wilson_interval

    rng = np.random.default_rng(1)
    a = rng.random(10_000) < 0.8
    b = a.copy()
    flip = rng.choice(np.flatnonzero(a), 25, replace=False)
    b[flip] = False
    gain = rng.choice(np.flatnonzero(~a), 5, replace=False)
    b[gain] = True
    lo_a, hi_a = wilson_interval(a.mean(), a.size)
    lo_b, hi_b = wilson_interval(b.mean(), b.size)
    assert lo_a < hi_b  # unpaired: the intervals overlap
    assert mcnemar(a, b)["p_value"] < 0.001
    diff, lo, hi = paired_bootstrap(a, b, seed=0)
    assert diff == pytest.approx(20 / 10_000)
    assert 0 < lo < diff < hi


def test_paired_bootstrap_covers_the_true_difference():
    import numpy as np

    from spikformer_lite.stats import paired_bootstrap

    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(100):
        u = rng.random(400)
        a = u < 0.75
        b = u < 0.70  # true difference 0.05, strongly paired
        _, lo, hi = paired_bootstrap(a, b, n_resamples=500, seed=trial)
        covered += lo <= 0.05 <= hi
    assert covered >= 88


@pytest.mark.parametrize("a, b, match", [
    ([1, 0, 1], [1, 0], "same length"),
    ([[1, 0]], [[1, 0]], "1-D"),
    ([3, 1, 0], [1, 1, 0], "booleans"),
    ([], [], "same length"),
])
def test_paired_helpers_reject_bad_input(a, b, match):
    from spikformer_lite.stats import mcnemar, paired_bootstrap

    with pytest.raises(ValueError, match=match):
        mcnemar(a, b)
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(a, b)


def test_mcnemar_with_thousands_of_discordant_samples():
    """2**m overflows a float past m = 1023; the exact integer tail must not."""
    import numpy as np

    from spikformer_lite.stats import mcnemar

    a = np.r_[np.ones(4000, bool), np.zeros(3662, bool)]
    b = ~a
    r = mcnemar(a, b)
    assert (r["a_only"], r["b_only"]) == (4000, 3662)
    assert 0 < r["p_value"] < 0.01
    assert mcnemar(np.r_[a, True], np.r_[b, True])["p_value"] == r["p_value"]
    assert mcnemar(np.ones(3000, bool), np.zeros(3000, bool))["p_value"] == 0.0  # underflows to 0, no error
