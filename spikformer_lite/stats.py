"""Small statistics for reading results honestly.

    lo, hi = wilson_interval(0.94, 100)     # 95% interval of an accuracy measured on 100 samples

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
