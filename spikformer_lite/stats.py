"""Small statistics for reading results honestly.

    lo, hi = wilson_interval(0.94, 100)     # 95% interval of an accuracy measured on 100 samples
    mcnemar(correct_a, correct_b)           # two models on the same test samples: exact paired test
    paired_bootstrap(correct_a, correct_b)  # ... and a paired interval of their accuracy difference

An accuracy measured on n test samples is a binomial proportion; its uncertainty from the finite test set
alone (seed-to-seed and hardware noise come on top) is the Wilson score interval (Wilson 1927), which,
unlike the normal approximation p +- z sqrt(p(1-p)/n), stays inside [0, 1] and keeps its coverage near 0
and 1, where small test sets such as N-MNIST's 100 recordings put the accuracies of good models.
"""

import math


def wilson_interval(p, n, z=1.96):
    """The Wilson score interval (lo, hi) of a proportion ``p`` measured on ``n`` samples (z=1.96: 95%)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p is a proportion in [0, 1] (an accuracy of 0.94, not 94); got {p}")
    if n < 1 or int(n) != n:
        raise ValueError(f"n is the number of samples, a positive integer; got {n}")
    if z <= 0:
        raise ValueError(f"z is a positive normal quantile (1.96 for 95%); got {z}")
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _correct_pair(correct_a, correct_b):
    import numpy as np

    a = np.asarray(correct_a)
    b = np.asarray(correct_b)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError("correct_a and correct_b are two 1-D arrays of the same length, one entry per test sample "
                         f"(True where that model was right); got shapes {a.shape} and {b.shape}")
    for name, x in (("correct_a", a), ("correct_b", b)):
        if x.dtype != bool and not np.isin(x, (0, 1)).all():
            raise ValueError(f"{name} holds booleans (or 0/1) per test sample, not predictions or labels")
    return a.astype(bool), b.astype(bool)


def mcnemar(correct_a, correct_b):
    """McNemar's exact test of two models scored on the same test samples.

    ``correct_a[i]`` and ``correct_b[i]`` say whether model A and model B got sample i right. Samples both got
    right or both got wrong say nothing about which model is better; only the discordant ones do: ``a_only``
    (A right, B wrong) and ``b_only``. Under "the two models are equally accurate" each discordant sample is
    a fair coin, so the two-sided p-value is the exact binomial tail ``P(X <= min(a_only, b_only))`` doubled,
    with X ~ Binomial(a_only + b_only, 1/2) (capped at 1; 1.0 when there are no discordant samples).

    Returns a dict: ``n``, ``acc_a``, ``acc_b``, ``diff`` (acc_a - acc_b), ``a_only``, ``b_only``, ``p_value``.
    An unpaired comparison (two Wilson intervals) ignores that both models saw the same images and is far
    too conservative when the models agree on most of them.
    """
    a, b = _correct_pair(correct_a, correct_b)
    a_only = int((a & ~b).sum())
    b_only = int((b & ~a).sum())
    m = a_only + b_only
    k = min(a_only, b_only)
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2**m if m else 1.0  # exact integers: no overflow
    return {"n": int(a.size), "acc_a": float(a.mean()), "acc_b": float(b.mean()),
            "diff": float(a.mean() - b.mean()), "a_only": a_only, "b_only": b_only,
            "p_value": min(1.0, 2.0 * tail)}


def paired_bootstrap(correct_a, correct_b, n_resamples=10_000, level=0.95, seed=0):
    """A percentile bootstrap interval of acc_a - acc_b over the same test samples: (diff, lo, hi).

    Each resample draws test samples with replacement and scores both models on the same draw, so the
    interval keeps the pairing that McNemar's test uses. ``level`` is the interval's coverage.
    """
    import numpy as np

    a, b = _correct_pair(correct_a, correct_b)
    if not 0 < level < 1:
        raise ValueError(f"level is a coverage in (0, 1), such as 0.95; got {level}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples should be at least 100 for a percentile interval; got {n_resamples}")
    d = a.astype(np.int8) - b.astype(np.int8)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 1000):
        stop = min(start + 1000, n_resamples)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(lo), float(hi)
