"""Inference on the CPU: the event-driven engine against dense torch eval and SpikingJelly, side by side.

Four tables, every number from this one run (the machine's speed drifts from minute to minute, so
the methods take turns, round after round, and each keeps its best round):

1. whole-model inference in images/s at batch 1 and batch 64: the engine, our torch path in eval mode
   (numba LIF and torch LIF) and SpikingJelly 2.0's ``spikformer_cifar10`` built at the same size;
2. SSA on binary Q, K, V: bit-packed AND + popcount against float matmul, across N and d;
3. time against firing rate for one spike-fed layer (linear and conv), and the crossover rate below
   which adding weight rows beats the dense GEMM on this CPU;
4. on a CUDA machine: training and inference images/s, torch LIF against the fused LIF, fp32 against bf16.

The model is the published ``cifar10-quick`` checkpoint (2 blocks x 128, T=2) on real CIFAR-10 test
images when both are present, otherwise the same shape with calibrated BatchNorm on random images (the
output says which). The CPU model, its SIMD flags and the fp32 GEMM rate are printed first.

Run: python benchmarks/bench_engine.py [--rounds 5] [--quick]
"""

import argparse
import logging
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
sys.path.insert(0, os.path.dirname(__file__))

import spikformer_lite as sl  # noqa: E402
from bench_train import cpu_flags, gemm_gflops  # noqa: E402
from spikformer_lite.engine import Engine, layer_flops, spike_fed_layers  # noqa: E402
from spikformer_lite.kernels import events as K  # noqa: E402
from spikformer_lite.train import hardware  # noqa: E402


def best_of(fns, rounds, reps):
    """Interleaved timing: {name: best time of one call}, taking turns round after round."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()  # warm-up: numba compiles, allocators settle
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


def the_model():
    """The published checkpoint and real test images, or the same shape on random images."""
    from spikformer_lite.published import load_published
    from spikformer_lite.train import RECIPES, load_split, make_batch

    try:
        model, entry = load_published("cifar10-quick")
        test = load_split("cifar10", "test", model.cfg.T)
        x, _ = make_batch(test, torch.arange(0, 10_000, 10_000 // 128), False, RECIPES[("cifar", "quick")], 0, None,
                          model.cfg)
        return model, x[0], f"published cifar10-quick ({entry['epochs_done']} epochs), 128 {test.source} test images"
    except (FileNotFoundError, KeyError, OSError) as e:
        torch.manual_seed(0)
        model = sl.create_model("cifar10-4-384", depth=2, embed_dim=128, num_heads=4, T=2)
        images = torch.randn(128, 3, 32, 32)
        sl.calibrate_batchnorm(model, model.encode(images))
        return model, images, f"untrained 2 x 128, T=2, calibrated BatchNorm, random images ({type(e).__name__})"


def spikingjelly_same_size(cfg):
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.model.spikformer import Spikformer

    # spikformer_cifar10 fixes 4 x 384; its class with the CIFAR arguments at our size
    model = Spikformer(T=cfg.T, in_channels=3, img_size_h=32, img_size_w=32, patch_size=4, num_classes=10,
                       embed_dims=cfg.embed_dim, num_heads=cfg.num_heads, mlp_ratio=4.0, depths=cfg.depth).eval()

    def forward(x):
        functional.reset_net(model)
        return model(x).mean(0)
    return forward


def whole_model(model, images, rounds):
    cfg = model.cfg
    engine = Engine(model.eval())
    sj = spikingjelly_same_size(cfg)
    dense_macs = cfg.T * sum(layer_flops(m, k, _input_shape(model, n), cfg) for n, m, k in spike_fed_layers(model))
    run = engine.run(images[:64])
    print(f"engine work per image: {run.total_ops / 64 / 1e6:.1f} M accumulates + "
          f"{sum(run.word_ops.values()) / 64 / 1e3:.0f} k AND+popcount words + {sum(run.macs.values()) / 64 / 1e6:.2f} M "
          f"dense MACs (first conv, head); the dense torch path: {dense_macs / 1e6:.0f} M MACs in the same layers")
    rows = {}
    for B, reps in ((1, 10), (64, 1)):
        batches = [images[i * B:(i + 1) * B] for i in range(min(8, len(images) // B))]
        it = {"n": 0}

        def nxt():
            it["n"] += 1
            return batches[it["n"] % len(batches)]

        def dense(backend):
            def f():
                model.set_backend(backend)
                with torch.no_grad():
                    model(model.encode(nxt()))
            return f

        def sj_fn():
            with torch.no_grad():
                sj(model.encode(nxt()))

        fns = {"engine (event-driven, numba)": lambda: engine(nxt()), "torch eval, numba LIF": dense("numba"),
               "torch eval, torch LIF": dense("torch"), "SpikingJelly 2.0 spikformer_cifar10": sj_fn}
        best = best_of(fns, rounds, reps)
        rows[B] = {n: B / t for n, t in best.items()}
    model.set_backend("numba")
    base = "torch eval, numba LIF"
    print(f"\n{'images/s':38s} {'batch 1':>9s} {'vs dense':>9s} {'batch 64':>9s} {'vs dense':>9s}")
    for name in rows[1]:
        print(f"{name:38s} {rows[1][name]:9.1f} {rows[1][name] / rows[1][base]:8.2f}x "
              f"{rows[64][name]:9.1f} {rows[64][name] / rows[64][base]:8.2f}x")
    print("target: engine >= 2x dense torch eval at batch 1. SpikingJelly's model pools before the LIF in SPS "
          "stages 3-4 (ours after, as eq. 10), random weights: its speed only.")
    return rows


def _input_shape(model, name):
    cfg = model.cfg
    if name.startswith("sps.stages."):
        i = int(name.split(".")[2])
        size = cfg.image_size // 2 ** sum(cfg.sps_pool[:i])
        return (1, cfg.embed_dim // 2 ** (4 - i), size, size)
    if name == "sps.rpe.conv":
        size = cfg.image_size // 2 ** sum(cfg.sps_pool)
        return (1, cfg.embed_dim, size, size)
    return None


def lif_args(thr, dtype=np.float32):
    f = np.dtype(dtype).type
    return f(2.0), f(0.5), True, f(thr), f(0.0)


def ssa_table(rounds, quick):
    print(f"\nSSA on binary Q, K, V (T=1, batch 8, rate 0.1): bit-packed AND + popcount vs float matmul, "
          f"the cheaper order for each, the LIF included")
    print(f"{'N':>6s} {'d':>5s} {'heads':>6s} {'order':>10s} {'bits ms':>9s} {'float ms':>9s} {'speed-up':>9s}")
    rng = np.random.default_rng(0)
    shapes = [(64, 32, 4), (64, 64, 2), (256, 32, 4), (256, 64, 8)] + ([] if quick else [(1024, 64, 8), (196, 64, 8)])
    rows = []
    for N, d, heads in shapes:
        D = d * heads
        q, k, v = ((rng.random((1, 8, N, D)) < 0.1).astype(np.uint8) for _ in range(3))
        kv_first = d <= N
        qf, kf, vf = (torch.from_numpy(a.astype(np.float32)).reshape(1, 8, N, heads, d).transpose(2, 3)
                      for a in (q, k, v))
        lif = sl.LIF(v_threshold=0.5, backend="numba")

        def floats():
            out = sl.spiking_attention(qf, kf, vf, 0.125, "kv_first" if kv_first else "qk_first")
            lif(out.transpose(2, 3).reshape(1, 8, N, D))

        fns = {"bits": lambda: K.ssa_lif(q, k, v, heads, np.float32(0.125), kv_first, lif_args(0.5)), "float": floats}
        best = best_of(fns, rounds, 3)
        rows.append((N, d, best["float"] / best["bits"]))
        print(f"{N:6d} {d:5d} {heads:6d} {'Q(KᵀV)' if kv_first else '(QKᵀ)V':>10s} {1e3 * best['bits']:9.3f} "
              f"{1e3 * best['float']:9.3f} {best['float'] / best['bits']:8.2f}x")
    return rows


def rate_sweep(rounds, quick):
    """Time of one spike-fed layer against its input firing rate: event kernel vs dense GEMM + LIF."""
    rates = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5] if not quick else [0.01, 0.05, 0.1, 0.3]
    rng = np.random.default_rng(1)
    layers = [("linear 128->512 (MLP fc1), 64 tokens, T=2", "linear", 1), ("same, batch 64", "linear", 64),
              ("conv 32->64 at 32x32 (SPS stage 3), T=2", "conv", 1)]
    results = {}
    print(f"\ntime against input firing rate, one layer with its LIF (ms; best of {rounds} rounds)")
    for title, kind, B in layers:
        T = 2
        if kind == "linear":
            D_in, D_out, P = 128, 512, 64
            w = rng.normal(0, 0.05, (D_in, D_out)).astype(np.float32)
        else:
            D_in, D_out, P = 32, 64, 32 * 32
            w = rng.normal(0, 0.05, (9, D_in, D_out)).astype(np.float32)
            wt = torch.from_numpy(w.reshape(3, 3, D_in, D_out).transpose(3, 2, 0, 1).copy())
        bias = np.zeros(D_out, np.float32)
        wl = torch.from_numpy(w.T.copy()) if kind == "linear" else None
        lif = sl.LIF(backend="numba")
        times = []
        for rate in rates:
            x = (rng.random((T, B, P, D_in)) < rate).astype(np.uint8)
            xt = torch.from_numpy(x.astype(np.float32))
            if kind == "linear":
                ev = lambda: K.linear_lif(x, w, bias, lif_args(1.0))
                dense = lambda: lif(F.linear(xt, wl))
            else:
                xc = xt.reshape(T * B, 32, 32, D_in).permute(0, 3, 1, 2).contiguous()
                ev = lambda: K.conv3x3_lif(x, 32, 32, w, bias, lif_args(1.0))
                dense = lambda: lif(F.conv2d(xc, wt, padding=1).reshape(T, B, D_out, 32, 32))
            with torch.no_grad():
                best = best_of({"events": ev, "dense": dense}, rounds, 3)
            times.append((rate, best["events"], best["dense"]))
        cross = crossover(times)
        results[title] = (times, cross)
        print(f"  {title}: crossover at rate {cross:.3f}" if cross is not None else f"  {title}: no crossover in range")
        print("    rate    " + " ".join(f"{r:7.3f}" for r, _, _ in times))
        print("    events  " + " ".join(f"{1e3 * e:7.3f}" for _, e, _ in times))
        print("    dense   " + " ".join(f"{1e3 * d:7.3f}" for _, _, d in times))
    return results


def crossover(times):
    """The firing rate where the event kernel's time meets the dense one (log-linear interpolation)."""
    for (r0, e0, d0), (r1, e1, d1) in zip(times, times[1:]):
        a, b = np.log(e0 / d0), np.log(e1 / d1)
        if a <= 0 < b:
            return float(np.exp(np.log(r0) + (np.log(r1) - np.log(r0)) * (-a) / (b - a)))
    return None


def gpu_table(rounds):
    if not torch.cuda.is_available():
        print("\nGPU: no CUDA device here; the GPU rows run where torch.cuda.is_available()")
        return None
    dev = torch.device("cuda")
    print(f"\nGPU: {torch.cuda.get_device_name(0)}, cifar10-4-384 at T=4, batch 64")
    x, y = torch.randn(64, 3, 32, 32, device=dev), torch.randint(0, 10, (64,), device=dev)
    print(f"{'LIF':8s} {'dtype':6s} {'train img/s':>12s} {'infer img/s':>12s}")
    out = {}
    for backend in ("torch", "fused"):
        for bf16 in (False, True):
            model = sl.create_model("cifar10-4-384", backend=backend).to(dev)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

            def step():
                model.train()
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(model(model.encode(x)).float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                torch.cuda.synchronize()

            @torch.no_grad()
            def infer():
                model.eval()
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                    model(model.encode(x))
                torch.cuda.synchronize()

            for _ in range(3):
                step(), infer()  # compile and warm up
            best = best_of({"train": step, "infer": infer}, rounds, 5)
            out[(backend, bf16)] = (64 / best["train"], 64 / best["infer"])
            print(f"{backend:8s} {'bf16' if bf16 else 'fp32':6s} {64 / best['train']:12.1f} {64 / best['infer']:12.1f}")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="fewer shapes and rates (the chapter's live run)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import numba

    print(f"machine: {hardware()}; numba {numba.__version__} ({numba.get_num_threads()} threads)")
    print(f"CPU flags: {cpu_flags()}")
    print(f"fp32 GEMM (1024^3, torch): {gemm_gflops():.0f} GFLOP/s")
    model, images, what = the_model()
    print(f"model: {what}\n")
    whole_model(model, images, args.rounds)
    ssa_table(args.rounds, args.quick)
    rate_sweep(args.rounds, args.quick)
    gpu_table(args.rounds)


if __name__ == "__main__":
    main()
