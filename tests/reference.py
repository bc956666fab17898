"""Naive reference implementations that the fast or library-backed code is checked against."""

import numpy as np


def frames_split_by_number(events, sensor_size, T):
    """SpikingJelly's split_by='number', written out: frame i integrates events j_l[i]..j_r[i]."""
    W, H, P = sensor_size
    N = len(events)
    frames = np.zeros((T, P, H, W), np.float32)
    k = N // T
    for i in range(T):
        lo, hi = i * k, (i + 1) * k if i < T - 1 else N
        for e in events[lo:hi]:
            frames[i, int(e["p"]), e["y"], e["x"]] += 1
    return frames


def frames_split_by_time(events, sensor_size, T):
    """T windows of duration w = (t_last - t_first) // T; events after T*w go to the last frame."""
    W, H, P = sensor_size
    t = events["t"].astype(np.int64)
    w = (t[-1] - t[0]) // T
    frames = np.zeros((T, P, H, W), np.float32)
    for e, te in zip(events, t):
        i = min((te - t[0]) // w, T - 1)
        frames[i, int(e["p"]), e["y"], e["x"]] += 1
    return frames
