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


# ---- event-driven kernels (spikformer_lite/kernels/events.py), in float64 torch -------------------------
def lif_steps(current, tau=2.0, v_threshold=1.0):
    """Eq. 1-3 over (T, ...) float64 currents, hard reset to 0: (spikes, H)."""
    import torch

    v = torch.zeros_like(current[0])
    spikes, hs = [], []
    for x in current:
        h = v + (x - v) / tau
        s = (h >= v_threshold).to(current.dtype)
        v = h * (1 - s)
        spikes.append(s)
        hs.append(h)
    return torch.stack(spikes), torch.stack(hs)


def spike_conv3x3(x, weight, bias):
    """conv2d(x) + b per time step: x (T, B, C_in, H, W), weight (C_out, C_in, 3, 3), float64."""
    import torch.nn.functional as F

    T, B = x.shape[:2]
    y = F.conv2d(x.flatten(0, 1), weight, bias, padding=1)
    return y.reshape(T, B, *y.shape[1:])


def conv3x3_accumulates(x, C_out):
    """Accumulates of an event-driven 3x3 convolution: each input spike adds C_out weights per kernel tap
    that lands inside the output (9 inside, 6 on an edge, 4 in a corner)."""
    import torch
    import torch.nn.functional as F

    T, B, C, H, W = x.shape
    taps = F.conv2d(torch.ones(1, 1, H, W, dtype=torch.float64), torch.ones(1, 1, 3, 3, dtype=torch.float64),
                    padding=1)[0, 0]  # how many outputs each input pixel reaches
    return int((x.sum((0, 1, 2)) * taps).sum().item()) * C_out


def spiking_attention_counts(q, k, v, num_heads):
    """Q K^T V per head as integers: (T, B, N, D) float spikes -> (T, B, N, D) counts (heads back in place)."""
    T, B, N, D = q.shape
    d = D // num_heads
    split = lambda a: a.reshape(T, B, N, num_heads, d).transpose(2, 3)  # (T, B, Hd, N, d)
    out = (split(q) @ split(k).transpose(-2, -1)) @ split(v)
    return out.transpose(2, 3).reshape(T, B, N, D)


def popcount(x):
    """Set bits of a non-negative integer, one at a time."""
    n = 0
    x = int(x)
    while x:
        n += x & 1
        x >>= 1
    return n
