"""LIF forward+backward benchmark: numba vs torch vs SpikingJelly vs the memory floor.

Shape (T, B, C, H, W) = (4, 64, 384, 8, 8), float32, CPU. The floor is the time
the fused design must spend moving memory, at the copy bandwidth measured in
the same run:

    forward  reads x, writes S              2 tensors
    backward reads x and dL/dS, writes dL/dX 3 tensors

Run: python benchmarks/bench_lif.py [--repeats N]
"""

import argparse
import logging
import os
import platform
import time

import torch

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

import spikformer_lite as sl  # noqa: E402

SHAPE = (4, 64, 384, 8, 8)


def best_time(fn, repeats):
    """Best wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fwd_bwd(layer, x, g):
    def run():
        x.grad = None
        layer(x).backward(g)
    return run


def copy_bandwidth(numel, repeats):
    """Bytes per second of ``dst.copy_(src)`` (one read + one write per element).

    Measured on buffers 4x the size of one LIF tensor (2 x 100 MB here), larger
    than the last-level cache, as the five tensors of one LIF layer are together.
    """
    numel = 4 * numel
    src = torch.randn(numel)
    dst = torch.empty_like(src)
    t = best_time(lambda: dst.copy_(src), repeats)
    return 2 * src.element_size() * numel / t


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = (torch.randn(SHAPE) + 0.8).requires_grad_()
    g = torch.randn(SHAPE)
    numel = x.numel()

    rows = [
        ("spikformer_lite numba", fwd_bwd(sl.LIF(backend="numba"), x, g)),
        ("spikformer_lite torch", fwd_bwd(sl.LIF(backend="torch"), x, g)),
    ]
    try:
        from spikingjelly.activation_based import functional, neuron

        sj = neuron.LIFNode(tau=2.0, detach_reset=True, step_mode="m")

        def sj_run():
            functional.reset_net(sj)
            x.grad = None
            sj(x).backward(g)

        rows.append(("spikingjelly LIFNode", sj_run))
    except ImportError:
        print("spikingjelly not installed: its row is skipped")

    bandwidth = copy_bandwidth(numel, args.repeats)
    floor = 5 * 4 * numel / bandwidth

    print(f"LIF forward+backward, shape {SHAPE}, float32, {numel / 1e6:.2f} M neurons x T")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"copy bandwidth {bandwidth / 1e9:.2f} GB/s; floor = 5 tensors x {4 * numel / 1e6:.1f} MB "
          f"/ bandwidth = {floor * 1e3:.2f} ms\n")
    timings = {name: best_time(fn, args.repeats) for name, fn in rows}
    numba_t = timings["spikformer_lite numba"]
    print(f"{'':24s} {'ms':>8s} {'x floor':>8s} {'x numba':>8s}")
    for name, t in timings.items():
        print(f"{name:24s} {t * 1e3:8.2f} {t / floor:8.2f} {t / numba_t:8.2f}")
    print(f"{'memory floor':24s} {floor * 1e3:8.2f} {1.0:8.2f} {floor / numba_t:8.2f}")
    if "spikingjelly LIFNode" in timings:
        print(f"\nnumba is {timings['spikingjelly LIFNode'] / numba_t:.1f}x faster than spikingjelly "
              f"(target >= 3x) and {numba_t / floor:.2f}x the floor (target <= 1.5x)")


if __name__ == "__main__":
    main()
