"""Training and evaluation throughput: our Spikformer against SpikingJelly 2.0's ``spikformer_cifar10``.

Both models are the paper's CIFAR-10 Spikformer-4-384 at T=4 (SpikingJelly's max-pools before the
LIF in SPS stages 3-4, so its LIFs there see 4x fewer elements; ours follows eq. 10 and pools after).
One train step is forward + backward + AdamW on a random batch; one eval step is a no-grad forward.
The models take turns, round after round, in one process, and each keeps its best round: the
machine's speed drifts from minute to minute, so only numbers from the same run are compared.

Printed beside them: the CPU model and its SIMD flags, and the fp32 GEMM rate this machine reaches
with torch (the compute ceiling every model here shares).

Run: python benchmarks/bench_train.py [--batch 32] [--rounds 5] [--steps 3] [--profile]
"""

import argparse
import logging
import os
import time

import torch

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

import spikformer_lite as sl  # noqa: E402
from spikformer_lite.benchmark import cpu_flags, gemm_gflops, timed as _timed  # noqa: E402
from spikformer_lite.train import hardware  # noqa: E402


def ours(backend="numba", bf16=False):
    model = sl.create_model("cifar10-4-384", backend=backend)

    def forward(x):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(model.encode(x))
    return model, forward


def spikingjelly():
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.model.spikformer import spikformer_cifar10

    model = spikformer_cifar10(T=4)

    def forward(x):
        functional.reset_net(model)
        return model(x).mean(0)  # (T, B, classes) -> (B, classes)
    return model, forward


def make_steps(model, forward, batch):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

    def train_step():
        model.train()
        loss = torch.nn.functional.cross_entropy(forward(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def eval_step():
        model.eval()
        forward(x)
    return train_step, eval_step


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="steps per model per round")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 autocast row")
    p.add_argument("--profile", action="store_true", help="also print where our train step spends its time")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {hardware()}")
    print(f"CPU flags: {cpu_flags()}")
    print(f"fp32 GEMM (1024^3, torch): {gemm_gflops():.0f} GFLOP/s;  bf16: {gemm_gflops(dtype=torch.bfloat16):.0f} GFLOP/s")
    print(f"cifar10-4-384, T=4, batch {args.batch}, {args.rounds} rounds x {args.steps} steps, best round kept\n")
    models = {"ours (numba LIF)": ours("numba"), "ours (torch LIF)": ours("torch"),
              "SpikingJelly 2.0": spikingjelly()}
    if not args.no_bf16:
        models["ours (numba LIF, bf16 autocast)"] = ours("numba", bf16=True)
    steps = {name: make_steps(m, f, args.batch) for name, (m, f) in models.items()}
    best = {name: [float("inf"), float("inf")] for name in steps}
    for name, (tr, ev) in steps.items():  # warm-up: numba compiles, allocators settle
        tr(), ev()
    for _ in range(args.rounds):
        for name, (tr, ev) in steps.items():
            best[name][0] = min(best[name][0], min(_timed(tr) for _ in range(args.steps)))
            best[name][1] = min(best[name][1], min(_timed(ev) for _ in range(args.steps)))
    sj_train, sj_eval = best["SpikingJelly 2.0"]
    print(f"{'model':34s} {'train img/s':>12s} {'eval img/s':>11s} {'train vs SJ':>12s} {'eval vs SJ':>11s}")
    for name, (t, e) in best.items():
        print(f"{name:34s} {args.batch / t:12.1f} {args.batch / e:11.1f} {sj_train / t:11.2f}x {sj_eval / e:10.2f}x")
    print("\ntarget: ours (numba LIF, fp32) train >= 1.30x SpikingJelly")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        tr, _ = steps["ours (numba LIF)"]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(2):
                tr()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
