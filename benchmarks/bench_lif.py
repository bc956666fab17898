"""LIF forward+backward benchmark: numba vs torch vs SpikingJelly vs the memory floor.

Shape (T, B, C, H, W) = (4, 64, 384, 8, 8), float32, CPU. The floor is the time
the fused design must spend moving memory, at the copy bandwidth measured in
the same run:

    forward  reads x, writes S              2 tensors
    backward reads x and dL/dS, writes dL/dX 3 tensors

The copy and the numba runs are timed in turn, round after round, and each
keeps its best round: on a shared machine the bandwidth drifts from minute to
minute, and a floor measured at another moment would move the ratio by as much
as the drift (we saw 21 to 36 GB/s on the same VM). The copy's best time also
counts a run of copies on their own, so the floor is the stricter of the two.

It then splits the budget per element: the kernels alone on data that stays
in cache (their arithmetic, with almost no memory traffic), the kernels alone
on the benchmark's 25 MB tensors, and the whole layer call with autograd.

Run: python benchmarks/bench_lif.py [--repeats N]
"""

import argparse
import logging
import os
import platform
import time

import numpy as np
import torch

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

import spikformer_lite as sl  # noqa: E402
from spikformer_lite.kernels import lif as kernels  # noqa: E402
from spikformer_lite.neuron import _kernel_scalars  # noqa: E402

SHAPE = (4, 64, 384, 8, 8)


def best_times(fns, repeats):
    """Best wall time of each ``fn()`` over ``repeats`` rounds; the functions take turns in each round."""
    for fn in fns.values():
        fn()  # warm-up (and JIT compilation)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(ts) for name, ts in times.items()}


def kernels_alone(T, M, repeats_per_call):
    """The numba forward and backward kernels on preallocated (T, M) float32 arrays, no autograd.

    Returns (fn, elements per call). With a small M the data stays in cache,
    so the time is the kernels' arithmetic with no memory traffic.
    """
    tau_args, v_threshold, v_reset, alpha = _kernel_scalars(np.float32, 2.0, 1.0, 0.0, 4.0)  # LIF's defaults
    x = (torch.randn(T, M) + 0.8).numpy()
    g = torch.randn(T, M).numpy()
    s, gx = np.empty_like(x), np.empty_like(x)
    block = kernels.block_size(T)

    def run():
        for _ in range(repeats_per_call):
            kernels.lif_forward(x, *tau_args, v_threshold, v_reset, s, s[:1, :1], False, block)
            kernels.lif_backward(x, g, *tau_args, v_threshold, v_reset, alpha, True, gx, block)
    return run, repeats_per_call * T * M


def fwd_bwd(layer, x, g):
    def run():
        x.grad = None
        layer(x).backward(g)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = (torch.randn(SHAPE) + 0.8).requires_grad_()
    g = torch.randn(SHAPE)
    numel = x.numel()
    numba_lif = sl.LIF(backend="numba")

    # Copy bandwidth: dst.copy_(src) on buffers 4x one LIF tensor (2 x 100 MB),
    # beyond the last-level cache, as the five tensors of one LIF layer are.
    src = torch.randn(4 * numel)
    dst = torch.empty_like(src)
    copy_bytes = 2 * src.element_size() * src.numel()  # one read + one write per element
    T, M = SHAPE[0], numel // SHAPE[0]
    in_cache, in_cache_n = kernels_alone(T, 1 << 16, 24)  # 1 MB per tensor: stays in L3 (4 blocks: both cores)
    out_of_cache, out_of_cache_n = kernels_alone(T, M, 1)
    fast = best_times({
        "copy": lambda: dst.copy_(src),
        "numba": fwd_bwd(numba_lif, x, g),
        "numba forward": lambda: numba_lif(x),
        "kernels in cache": in_cache,
        "kernels": out_of_cache,
    }, args.repeats)
    # The floor must not be lenient: take the copy's best time over both the
    # rounds above and a run of copies on their own.
    copy_alone = best_times({"copy": lambda: dst.copy_(src)}, args.repeats)["copy"]
    bandwidth = copy_bytes / min(fast["copy"], copy_alone)
    floor = 5 * x.element_size() * numel / bandwidth

    slow = {"spikformer_lite torch": fwd_bwd(sl.LIF(backend="torch"), x, g)}
    try:
        from spikingjelly.activation_based import functional, neuron

        sj = neuron.LIFNode(tau=2.0, detach_reset=True, step_mode="m")

        def sj_run():
            functional.reset_net(sj)
            x.grad = None
            sj(x).backward(g)

        slow["spikingjelly LIFNode"] = sj_run
    except ImportError:
        print("spikingjelly not installed: its row is skipped")
    timings = {"spikformer_lite numba": fast["numba"], **best_times(slow, max(5, args.repeats // 3))}

    print(f"LIF forward+backward, shape {SHAPE}, float32, {numel / 1e6:.2f} M neurons x T")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"copy bandwidth {bandwidth / 1e9:.2f} GB/s (best copy, in turn with numba's runs or alone); "
          f"floor = 5 tensors x {4 * numel / 1e6:.1f} MB / bandwidth = {floor * 1e3:.2f} ms\n")
    numba_t = timings["spikformer_lite numba"]
    print(f"{'':24s} {'ms':>8s} {'x floor':>8s} {'x numba':>8s}")
    for name, t in timings.items():
        print(f"{name:24s} {t * 1e3:8.2f} {t / floor:8.2f} {t / numba_t:8.2f}")
    print(f"{'memory floor':24s} {floor * 1e3:8.2f} {1.0:8.2f} {floor / numba_t:8.2f}")

    # Where the time goes: the forward alone, the backward as the difference.
    fwd_t = fast["numba forward"]
    bwd_t = numba_t - fwd_t
    print(f"\nnumba forward  {fwd_t * 1e3:6.2f} ms = {fwd_t / (floor * 2 / 5):.2f}x its floor (reads X, writes S)")
    print(f"numba backward {bwd_t * 1e3:6.2f} ms = {bwd_t / (floor * 3 / 5):.2f}x its floor "
          f"(reads X and dL/dS, writes dL/dX; fwd+bwd minus fwd)")
    # The budget: the arithmetic alone, then the memory traffic, then the autograd glue.
    per_elem_floor = floor / numel
    print("\nper element, against the floor's "
          f"{per_elem_floor * 1e9:.3f} ns (the kernels at the benchmark's settings, preallocated outputs):")
    for label, t, n in (("kernels, data in cache (arithmetic only)", fast["kernels in cache"], in_cache_n),
                        ("kernels, 25 MB tensors (+ memory traffic)", fast["kernels"], out_of_cache_n),
                        ("LIF layer call (+ autograd glue)", numba_t, numel)):
        print(f"  {label:42s} {t / n * 1e9:6.3f} ns = {t / n / per_elem_floor:.2f}x")
    if "spikingjelly LIFNode" in timings:
        print(f"\nnumba is {timings['spikingjelly LIFNode'] / numba_t:.1f}x faster than spikingjelly "
              f"(target >= 3x) and {numba_t / floor:.2f}x the floor (target <= 1.5x)")


if __name__ == "__main__":
    main()
