"""Timing helpers shared by ``benchmarks/`` and the backends chapter: interleaved best-of timing, the
machine's CPU flags and GEMM rate, and the engine measurements (whole model, SSA, time against firing rate).

The machine's speed drifts from minute to minute, so every comparison here times its contenders in turns,
round after round, in one process, and keeps each one's best round. Never compare numbers across runs.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from ._files import package_path
from .engine import Engine, layer_flops, spike_fed_layers
from .model import spiking_attention
from .neuron import LIF


# Recorded benchmark outputs (`--save` of benchmarks/bench_*.py), shipped in the wheel so chapters find them.
RESULTS = package_path("results", "benchmarks")

def cpu_flags():
    """The SIMD flags that matter for these kernels, as /proc/cpuinfo lists them."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split(":")[1].split()
    except (OSError, StopIteration):
        return "unknown"
    shown = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    return " ".join(f for f in shown if f in flags) or "none of " + ", ".join(shown)


def gemm_gflops(n=1024, repeats=10, dtype=torch.float32):
    """The rate torch's dense matrix product reaches here: the ceiling every dense path shares."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    return 2 * n**3 / min(timed(lambda: a @ b) for _ in range(repeats)) / 1e9


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def best_of(fns, rounds, reps):
    """Interleaved timing: {name: best time of one call}, the contenders taking turns round after round."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()  # warm-up: numba compiles, allocators settle
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(reps):
                best[name] = min(best[name], timed(fn))
    return best


def spikingjelly_same_size(cfg):
    """SpikingJelly 2.0's Spikformer with the CIFAR arguments at the size of ``cfg`` (random weights):
    a forward ``f(x) -> (B, classes)`` for speed comparisons. Its SPS pools before the LIF in stages 3-4."""
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.model.spikformer import Spikformer

    model = Spikformer(T=cfg.T, in_channels=3, img_size_h=32, img_size_w=32, patch_size=4, num_classes=10,
                       embed_dims=cfg.embed_dim, num_heads=cfg.num_heads, mlp_ratio=4.0, depths=cfg.depth).eval()

    def forward(x):
        functional.reset_net(model)
        return model(x).mean(0)
    return forward


DENSE = "torch eval, numba LIF"


def whole_model(model, images, rounds=5, batches=(1, 64), spikingjelly=True):
    """Images/s of the engine and of the dense torch path (numba and torch LIF), and of SpikingJelly's model
    at the same size, at each batch size: {batch: {method: images/s}}. ``images`` (B, 3, H, W)."""
    engine = Engine(model.eval())
    sj = spikingjelly_same_size(model.cfg) if spikingjelly else None
    rows = {}
    for B in batches:
        chunks = [images[i * B:(i + 1) * B] for i in range(max(1, min(8, len(images) // B)))]
        it = [0]

        def nxt():
            it[0] += 1
            return chunks[it[0] % len(chunks)]

        def dense(backend):
            def f():
                model.set_backend(backend)
                with torch.no_grad():
                    model(model.encode(nxt()))
            return f

        fns = {"engine (event-driven, numba)": lambda: engine(nxt()), DENSE: dense("numba"),
               "torch eval, torch LIF": dense("torch")}
        if sj is not None:
            def sj_fn():
                with torch.no_grad():
                    sj(model.encode(nxt()))
            fns["SpikingJelly 2.0 Spikformer (same size)"] = sj_fn
        best = best_of(fns, rounds, 10 if B == 1 else 1)
        rows[B] = {n: len(chunks[0]) / t for n, t in best.items()}
    model.set_backend("numba")
    return rows


def dense_macs(model):
    """Multiply-accumulates per image of the dense torch path in the layers the engine runs on spikes."""
    cfg = model.cfg
    return cfg.T * sum(layer_flops(m, k, layer_input_shape(cfg, n), cfg) for n, m, k in spike_fed_layers(model))


def _pooled(n, pools):
    for pool in pools:  # each max-pool (k=3, s=2, p=1) maps n to (n - 1) // 2 + 1, as cfg.grid_size
        n = (n - 1) // 2 + 1 if pool else n
    return n


def layer_input_shape(cfg, name):
    """(1, C, H, W) of a spike-fed convolution's input (None for the other layers)."""
    if name.startswith("sps.stages."):
        i = int(name.split(".")[2])
        size = _pooled(cfg.image_size, cfg.sps_pool[:i])
        return (1, cfg.embed_dim // 2 ** (4 - i), size, size)
    if name == "sps.rpe.conv":
        return (1, cfg.embed_dim, cfg.grid_size, cfg.grid_size)
    return None


def lif_args(v_threshold, dtype=np.float32):
    f = np.dtype(dtype).type
    return f(2.0), f(0.5), True, f(v_threshold), f(0.0)


def ssa_rows(shapes, rounds=5, batch=8, rate=0.1, seed=0):
    """SSA on binary Q, K, V: bit-packed kernel against float matmul + numba LIF, each in the cheaper order.
    ``shapes``: [(N, d, heads)]. Returns [dict(N, d, heads, order, bits_ms, float_ms, speedup)]."""
    from .kernels import events as K

    rng = np.random.default_rng(seed)
    rows = []
    for N, d, heads in shapes:
        D = d * heads
        q, k, v = ((rng.random((1, batch, N, D)) < rate).astype(np.uint8) for _ in range(3))
        kv_first = d <= N
        qf, kf, vf = (torch.from_numpy(a.astype(np.float32)).reshape(1, batch, N, heads, d).transpose(2, 3)
                      for a in (q, k, v))
        lif = LIF(v_threshold=0.5, backend="numba")

        def floats():
            out = spiking_attention(qf, kf, vf, 0.125, "kv_first" if kv_first else "qk_first")
            lif(out.transpose(2, 3).reshape(1, batch, N, D))

        best = best_of({"bits": lambda: K.ssa_lif(q, k, v, heads, np.float32(0.125), kv_first, lif_args(0.5)),
                        "float": floats}, rounds, 3)
        rows.append(dict(N=N, d=d, heads=heads, order="Q(KᵀV)" if kv_first else "(QKᵀ)V",
                         bits_ms=1e3 * best["bits"], float_ms=1e3 * best["float"],
                         speedup=best["float"] / best["bits"]))
    return rows


def sweep_layers(cfg):
    """Two layers of the model ``cfg`` to time against the firing rate: {title: (kind, C_in, C_out, side, batch)}.

    The first MLP layer (D -> 4D over the N tokens, at batch 1 and 64) and the first SPS convolution after
    the full-resolution stages that takes spikes at the image's resolution.
    """
    D, N = cfg.embed_dim, cfg.num_tokens
    i = 2 if not any(cfg.sps_pool[:2]) else 1  # SPS stage index (0-based) of a wide conv at full resolution
    side = _pooled(cfg.image_size, cfg.sps_pool[:i])
    c_in, c_out = D // 2 ** (4 - i), D // 2 ** (3 - i)
    return {
        f"MLP fc1 ({D}→{cfg.mlp_ratio * D}, {N} tokens), batch 1": ("linear", D, cfg.mlp_ratio * D, N, 1),
        f"MLP fc1, batch 64": ("linear", D, cfg.mlp_ratio * D, N, 64),
        f"SPS conv sps.stages.{i} ({c_in}→{c_out} at {side}×{side}), batch 1": ("conv", c_in, c_out, side, 1),
    }


def rate_sweep(rates, cfg, rounds=5, seed=1):
    """Time of one spike-fed layer with its LIF against the input firing rate: the event kernel against the
    dense torch layer + numba LIF on the same binary spikes, for ``sweep_layers(cfg)``.
    Returns {layer: dict(kind, rates, events_s, dense_s, crossover)}."""
    from .kernels import events as K

    rng = np.random.default_rng(seed)
    out = {}
    T = cfg.T
    for title, (kind, D_in, D_out, size, B) in sweep_layers(cfg).items():
        P = size if kind == "linear" else size * size
        if kind == "linear":
            w = rng.normal(0, 0.05, (D_in, D_out)).astype(np.float32)
            w_dense = torch.from_numpy(w.T.copy())
        else:
            w = rng.normal(0, 0.05, (9, D_in, D_out)).astype(np.float32)
            w_dense = torch.from_numpy(w.reshape(3, 3, D_in, D_out).transpose(3, 2, 0, 1).copy())
        bias = np.zeros(D_out, np.float32)
        lif = LIF(backend="numba")
        ev_t, de_t = [], []
        for rate in rates:
            x = (rng.random((T, B, P, D_in)) < rate).astype(np.uint8)
            xt = torch.from_numpy(x.astype(np.float32))
            if kind == "linear":
                def ev(x=x):
                    K.linear_lif(x, w, bias, lif_args(1.0))

                def dense(xt=xt):
                    lif(F.linear(xt, w_dense))
            else:
                xc = xt.reshape(T * B, size, size, D_in).permute(0, 3, 1, 2).contiguous()

                def ev(x=x):
                    K.conv3x3_lif(x, size, size, w, bias, lif_args(1.0))

                def dense(xc=xc):
                    lif(F.conv2d(xc, w_dense, padding=1).reshape(T, B, D_out, size, size))
            with torch.no_grad():
                best = best_of({"events": ev, "dense": dense}, rounds, 3)
            ev_t.append(best["events"])
            de_t.append(best["dense"])
        out[title] = dict(kind=kind, rates=list(rates), events_s=ev_t, dense_s=de_t,
                          crossover=crossover(rates, ev_t, de_t))
    return out


def crossover(rates, events_s, dense_s):
    """The firing rate where the event kernel's time meets the dense one (log-log interpolation), or None
    if the event kernel is faster (or slower) over the whole range."""
    for r0, r1, e0, e1, d0, d1 in zip(rates, rates[1:], events_s, events_s[1:], dense_s, dense_s[1:]):
        a, b = np.log(e0 / d0), np.log(e1 / d1)
        if a <= 0 < b:
            return float(np.exp(np.log(r0) + (np.log(r1) - np.log(r0)) * (-a) / (b - a)))
    return None
