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

import torch
import torch.nn.functional as F

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

import spikformer_lite as sl  # noqa: E402
from spikformer_lite import benchmark as bm  # noqa: E402
from spikformer_lite.engine import Engine  # noqa: E402
from spikformer_lite.train import git_commit, hardware  # noqa: E402


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


def print_whole_model(model, images, rounds):
    run = Engine(model.eval()).run(images[:64])
    print(f"engine work per image: {run.total_ops / 64 / 1e6:.1f} M accumulates + "
          f"{sum(run.word_ops.values()) / 64 / 1e3:.0f} k AND+popcount words + {sum(run.macs.values()) / 64 / 1e6:.2f} M "
          f"dense MACs (first conv, head); the dense torch path: {bm.dense_macs(model) / 1e6:.0f} M MACs in the "
          f"same layers")
    rows = bm.whole_model(model, images, rounds)
    print(f"\n{'images/s':42s} {'batch 1':>9s} {'vs dense':>9s} {'batch 64':>9s} {'vs dense':>9s}")
    for name in rows[1]:
        print(f"{name:42s} {rows[1][name]:9.1f} {rows[1][name] / rows[1][bm.DENSE]:8.2f}x "
              f"{rows[64][name]:9.1f} {rows[64][name] / rows[64][bm.DENSE]:8.2f}x")
    print(f"target: engine >= 2x '{bm.DENSE}' at batch 1. SpikingJelly's model (random weights: its speed only) "
          "pools before the LIF in SPS stages 3-4; ours pools after, as eq. 10.")


def print_ssa(rounds, quick):
    shapes = [(64, 32, 4), (64, 64, 2), (256, 32, 4), (256, 64, 8)] + ([] if quick else [(196, 64, 8), (1024, 64, 8)])
    print("\nSSA on binary Q, K, V (T=1, batch 8, rate 0.1): bit-packed AND + popcount vs float matmul + LIF, "
          "the cheaper order for each")
    print(f"{'N':>6s} {'d':>5s} {'heads':>6s} {'order':>8s} {'bits ms':>9s} {'float ms':>9s} {'speed-up':>9s}")
    for r in bm.ssa_rows(shapes, rounds):
        print(f"{r['N']:6d} {r['d']:5d} {r['heads']:6d} {r['order']:>8s} {r['bits_ms']:9.3f} {r['float_ms']:9.3f} "
              f"{r['speedup']:8.2f}x")


def print_sweep(cfg, rounds, quick):
    rates = [0.01, 0.05, 0.1, 0.3] if quick else [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    print(f"\ntime against input firing rate, one layer with its LIF (ms, best of {rounds} rounds): "
          "the event kernel vs the dense torch layer + numba LIF")
    for title, r in bm.rate_sweep(rates, cfg, rounds=rounds).items():
        cross = r["crossover"]
        print(f"  {title}: " + (f"crossover at firing rate {cross:.3f}" if cross is not None else
                                "events " + ("faster" if r["events_s"][-1] < r["dense_s"][-1] else "slower") +
                                " over the whole range"))
        print("    rate    " + " ".join(f"{x:7.3f}" for x in r["rates"]))
        print("    events  " + " ".join(f"{1e3 * x:7.3f}" for x in r["events_s"]))
        print("    dense   " + " ".join(f"{1e3 * x:7.3f}" for x in r["dense_s"]))


def print_gpu(rounds):
    if not torch.cuda.is_available():
        print("\nGPU: no CUDA device here; the GPU rows run where torch.cuda.is_available()")
        return
    dev = torch.device("cuda")
    print(f"\nGPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, cifar10-4-384 at T=4, batch 64")
    x, y = torch.randn(64, 3, 32, 32, device=dev), torch.randint(0, 10, (64,), device=dev)
    print(f"{'LIF':8s} {'dtype':6s} {'train img/s':>12s} {'infer img/s':>12s}")
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
            best = bm.best_of({"train": step, "infer": infer}, rounds, 5)
            print(f"{backend:8s} {'bf16' if bf16 else 'fp32':6s} {64 / best['train']:12.1f} {64 / best['infer']:12.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="fewer shapes and rates")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--save", action="store_true",
                   help="also write the output to spikformer_lite/results/benchmarks/<date>-<cpu|gpu>-engine.txt")
    args = p.parse_args()
    if args.save:
        import contextlib
        import datetime
        import io

        buffer = io.StringIO()
        kind = "gpu" if torch.cuda.is_available() else "cpu"
        stamp = datetime.datetime.now(datetime.timezone.utc)
        path = os.path.join(str(bm.RESULTS),
                            f"{stamp:%Y-%m-%d-%H%M}-{kind}-engine.txt")

        class Tee(io.TextIOBase):
            def write(self, text):
                sys.__stdout__.write(text)
                return buffer.write(text)

        with contextlib.redirect_stdout(Tee()):
            print(f"python benchmarks/bench_engine.py, {stamp:%Y-%m-%d %H:%M} UTC, commit {git_commit()}")
            run(args)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(buffer.getvalue())
        print(f"written: {path}")
        return
    run(args)


def run(args):
    torch.set_num_threads(args.threads)
    import numba

    print(f"machine: {hardware()}; numba {numba.__version__} ({numba.get_num_threads()} threads)")
    print(f"CPU flags: {bm.cpu_flags()}")
    print(f"fp32 GEMM (1024^3, torch): {bm.gemm_gflops():.0f} GFLOP/s")
    model, images, what = the_model()
    print(f"model: {what}\n")
    print_whole_model(model, images, args.rounds)
    print_ssa(args.rounds, args.quick)
    print_sweep(model.cfg, args.rounds, args.quick)
    print_gpu(args.rounds)


if __name__ == "__main__":
    main()
