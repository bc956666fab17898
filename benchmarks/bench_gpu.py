"""Training and evaluation throughput on one GPU: our Spikformer against SpikingJelly 2.0's ``spikformer_cifar10``.

Both models are the paper's CIFAR-10 Spikformer-4-384 at T=4 (SpikingJelly's max-pools before the
LIF in SPS stages 3-4, so its LIFs there see 4x fewer elements; ours follows eq. 10 and pools after).
One train step is forward + backward + AdamW (fused on CUDA) on a random batch of CIFAR-sized images;
one eval step is a no-grad forward of the same batch.

Contenders (``--contenders`` picks any of them by name):
- ``ours-<backend>-<precision>``: our model with the LIF backend ``torch``, ``triton`` or ``fused``
  (torch.compile'd LIF; ``--fused`` adds these rows, they compile slowly), at ``fp32`` (TF32 matmuls and
  convolutions), ``bf16`` autocast or ``fp16`` autocast with a GradScaler;
- ``ours-<backend>-<precision>-compiled``: the same, the whole model through ``torch.compile``
  (``--compile`` adds these rows for the triton LIF);
- ``sj-fp32``: SpikingJelly as it comes; ``sj-bf16``, ``sj-fp16``: SpikingJelly prepared with its opt-in
  ``prepare_model_for_precision(model, device, PrecisionConfig(mode, neuron_storage="fp32"))``, trained as
  its docs say (its ``autocast_context()`` around the forward, its ``backward(loss, optimizer)``, which
  holds the GradScaler for fp16).

First each contender is built in turn and its first train step timed, from building the model to the
step's end (compilation and autotuning included; what an earlier row compiled or tuned, Triton kernels
and cuDNN's choices for a convolution shape, is reused),
then its first eval step; then its peak GPU memory is read over two more train steps and two more eval
steps. Train peak: everything training holds (weights, gradients, AdamW state, activations, the batch);
eval peak: the weights and the batch plus what a no-grad forward allocates on top. Then the contenders
take turns, round after round, in one process, each timing ``--steps`` steps back to back (one
synchronisation at the end) and keeping its best round: the GPU's clock drifts, so only numbers from
the same run are compared. A contender that fails (out of memory, an import error) shows its error on its
row and the others go on.

Run: python benchmarks/bench_gpu.py [--batch 128] [--rounds 5] [--steps 5] [--fused] [--compile]
                                    [--contenders NAME ...] [--save]
     python benchmarks/bench_gpu.py --device cpu --batch 2 --rounds 1 --steps 1
         a smoke test of this script's code paths on a CPU (numbers meaningless; triton and fp16 rows
         skipped, bf16 runs under CPU autocast)
Without a CUDA device (and without --device cpu) it says so and measures nothing.
"""

import argparse
import datetime
import gc
import logging
import sys
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

import spikformer_lite as sl  # noqa: E402
from spikformer_lite.gpu import autocast, gpu_description, setup_cuda  # noqa: E402

PRESET = "cifar10-4-384"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
NO_CUDA = "no CUDA device here, so nothing was measured (bench_gpu.py times training on a GPU; " \
          "--device cpu smoke-tests its code paths)"


def all_contenders():
    names = [f"ours-{b}-{p}" for b in ("torch", "triton", "fused") for p in PRECISIONS]
    names += [f"ours-{b}-{p}-compiled" for b in ("torch", "triton") for p in PRECISIONS]
    return names + [f"sj-{p}" for p in PRECISIONS]


def default_contenders(args):
    names = [f"ours-{b}-{p}" for b in ("torch", "triton") for p in PRECISIONS]
    if args.fused:
        names += [f"ours-fused-{p}" for p in PRECISIONS]
    if args.compile:
        backend = "triton" if args.device == "cuda" else "torch"
        names += [f"ours-{backend}-{p}-compiled" for p in PRECISIONS]
    return names + [f"sj-{p}" for p in PRECISIONS]


class Skip(Exception):
    """A contender that cannot run on this device: shown on its row, not counted as a failure."""


class Contender:
    """A model with its optimizer and batch: ``forward(x) -> (B, classes)`` and ``backward(loss, optimizer)``."""

    def __init__(self, name, device, batch):
        self.name, self.device = name, device
        self.precision = name.split("-")[2] if name.startswith("ours-") else name.split("-")[1]
        torch.manual_seed(0)  # the same weights and batch for every row of a family
        if name.startswith("ours-"):
            self.model, self.forward, self.backward = build_ours(name, device)
        else:
            self.model, self.forward, self.backward = build_spikingjelly(self.precision, device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=device.type == "cuda")
        self.x = torch.randn(batch, 3, 32, 32, device=device)
        self.y = torch.randint(0, 10, (batch,), device=device)

    def train_step(self):
        loss = F.cross_entropy(self.forward(self.x).float(), self.y)
        self.opt.zero_grad(set_to_none=True)
        self.backward(loss, self.opt)

    @torch.no_grad()
    def eval_step(self):
        self.forward(self.x)

    def steps(self, train, n):
        """Seconds per step over ``n`` steps run back to back, synchronised once at the end."""
        self.model.train(train)
        step = self.train_step if train else self.eval_step
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        synchronize(self.device)
        return (time.perf_counter() - t0) / n

    def weight_bytes(self):
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)


def build_ours(name, device):
    parts = name.split("-")  # ours, backend, precision[, compiled]
    backend, precision, compiled = parts[1], parts[2], parts[-1] == "compiled"
    check_precision(precision, device)
    if backend == "triton" and device.type != "cuda":
        raise Skip("triton runs on CUDA tensors only")
    model = sl.create_model(PRESET, backend=backend).to(device)
    net = torch.compile(model) if compiled else model
    dtype = PRECISIONS[precision]
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def forward(x):
        with autocast(device, dtype):
            return net(model.encode(x))  # (B, 3, 32, 32) -> (T, B, 3, 32, 32) -> (B, classes)

    def backward(loss, opt):
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    return model, forward, backward


def build_spikingjelly(precision, device):
    check_precision(precision, device)
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.model.spikformer import spikformer_cifar10

    model = spikformer_cifar10(T=4).to(device)
    if precision == "fp32":
        context = nullcontext

        def backward(loss, opt):
            loss.backward()
            opt.step()
    else:
        from spikingjelly.activation_based.precision import PrecisionConfig, prepare_model_for_precision

        try:  # before the optimizer is built, as its docs say: it may replace modules
            prepared = prepare_model_for_precision(model, device, PrecisionConfig(mode=precision, neuron_storage="fp32"))
        except RuntimeError as e:
            if device.type != "cuda":
                raise Skip(f"SpikingJelly refuses the CPU: {e}") from e
            raise
        model, context, backward = prepared.model, prepared.autocast_context, prepared.backward

    def forward(x):
        functional.reset_net(model)  # its neurons keep their membrane between calls
        with context():
            return model(x).mean(0)  # (T, B, classes) -> (B, classes)
    return model, forward, backward


def check_precision(precision, device):
    if precision == "fp16" and device.type != "cuda":
        raise Skip("no fp16 autocast on the CPU")


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def allocated(device):
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak(device):
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0


def free(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def first_steps(name, device, batch):
    """Build ``name``, time its first train and eval steps, read its peak memory. Returns (contender, row)."""
    synchronize(device)
    before = allocated(device)  # the other contenders' tensors, which stay put while this one runs
    t0 = time.perf_counter()
    c = Contender(name, device, batch)
    c.steps(True, 1)
    first_train = time.perf_counter() - t0
    first_eval = c.steps(False, 1)
    reset_peak(device)
    c.steps(True, 2)
    train_mib = (peak(device) - before) / 2**20
    start = allocated(device)
    reset_peak(device)
    c.steps(False, 2)
    eval_mib = (peak(device) - start + c.weight_bytes() + c.x.numel() * c.x.element_size()) / 2**20
    return c, dict(precision=c.precision, first_train=first_train, first_eval=first_eval, train_mib=train_mib,
                   eval_mib=eval_mib, train_s=float("inf"), eval_s=float("inf"))


def measure(names, device, args, say):
    """{name: row}: a row holds times and memory, or ``error`` / ``skipped``."""
    rows, live = {}, {}
    if device.type == "cuda":  # cuBLAS's workspace, held from the first matmul on: in every row's baseline
        torch.ones(64, 64, device=device) @ torch.ones(64, 64, device=device)
    for name in names:
        try:
            live[name], rows[name] = first_steps(name, device, args.batch)
        except Skip as e:
            rows[name] = dict(skipped=str(e))
        except Exception as e:  # an OOM or an import error: on its row, and the others go on
            rows[name] = dict(error=f"{type(e).__name__}: {one_line(e)}")
        if name not in live:
            free(device)  # outside the except block, whose traceback holds the failed contender's tensors
        say(f"  {name}: " + (f"first train step {rows[name]['first_train']:.1f} s" if name in live else
                             rows[name].get("skipped") or rows[name].get("error")), flush=True)
    for _ in range(args.rounds):
        for name in list(live):
            row = rows[name]
            try:
                row["train_s"] = min(row["train_s"], live[name].steps(True, args.steps))
                row["eval_s"] = min(row["eval_s"], live[name].steps(False, args.steps))
            except Exception as e:
                rows[name] = dict(error=f"{type(e).__name__} in the timed rounds: {one_line(e)}")
            if "error" in rows[name]:
                del live[name]
                free(device)
    return rows


def one_line(e, width=160):
    text = " ".join(str(e).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def report(rows, batch, device, say):
    ok = {n: r for n, r in rows.items() if "train_s" in r}
    sj = {n: r for n, r in ok.items() if n.startswith("sj-")}
    sj_train = min((r["train_s"] for r in sj.values()), default=None)
    sj_eval = min((r["eval_s"] for r in sj.values()), default=None)
    cuda = device.type == "cuda"
    say(f"\n{'contender':28s} {'train img/s':>11s} {'eval img/s':>10s} {'train/SJ':>9s} {'eval/SJ':>8s} "
        f"{'train MiB':>9s} {'eval MiB':>8s} {'1st train s':>11s} {'1st eval s':>10s}")
    for name, r in rows.items():
        if name not in ok:
            say(f"{name:28s} " + ("skipped: " + r["skipped"] if "skipped" in r else "error: " + r["error"]))
            continue
        vs_train = f"{sj_train / r['train_s']:8.2f}x" if sj_train else f"{'n/a':>9s}"
        vs_eval = f"{sj_eval / r['eval_s']:7.2f}x" if sj_eval else f"{'n/a':>8s}"
        mem = f"{r['train_mib']:9.0f} {r['eval_mib']:8.0f}" if cuda else f"{'-':>9s} {'-':>8s}"
        say(f"{name:28s} {batch / r['train_s']:11.1f} {batch / r['eval_s']:10.1f} {vs_train} {vs_eval} {mem} "
            f"{r['first_train']:11.1f} {r['first_eval']:10.1f}")
    ours = {n: r for n, r in ok.items() if n.startswith("ours-")}
    if not ours or not sj:
        say("\nours best vs SpikingJelly best: n/a (" + ("no row of ours" if not ours else "no SpikingJelly row")
            + " was measured)")
        return
    best_train = min(ours, key=lambda n: ours[n]["train_s"])
    best_eval = min(ours, key=lambda n: ours[n]["eval_s"])
    sj_best_train = min(sj, key=lambda n: sj[n]["train_s"])
    sj_best_eval = min(sj, key=lambda n: sj[n]["eval_s"])
    say(f"\nours best vs SpikingJelly best: train {best_train} {sj_train / ours[best_train]['train_s']:.2f}x "
        f"{sj_best_train}; eval {best_eval} {sj_eval / ours[best_eval]['eval_s']:.2f}x {sj_best_eval}")
    if not cuda:
        say("peak memory: not measured on the CPU")
        return
    for name in dict.fromkeys([best_train, best_eval]):
        same = f"sj-{ours[name]['precision']}"
        if same in sj:
            say(f"peak train memory {name} {ours[name]['train_mib']:.0f} MiB vs {same} {sj[same]['train_mib']:.0f} "
                f"MiB (same precision): ours <= SpikingJelly: {'yes' if ours[name]['train_mib'] <= sj[same]['train_mib'] else 'no'}; "
                f"eval {ours[name]['eval_mib']:.0f} vs {sj[same]['eval_mib']:.0f} MiB: "
                f"{'yes' if ours[name]['eval_mib'] <= sj[same]['eval_mib'] else 'no'}")
        else:
            say(f"peak memory {name}: no {same} row to compare with")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5, help="steps per contender per round, train and eval each")
    p.add_argument("--fused", action="store_true", help="add our torch.compile'd LIF rows (slow to compile)")
    p.add_argument("--compile", action="store_true", help="add our model through torch.compile (triton LIF)")
    p.add_argument("--contenders", nargs="+", metavar="NAME", choices=all_contenders(),
                   help="run only these: " + ", ".join(all_contenders()))
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu: a smoke test of the code paths only, its numbers mean nothing")
    p.add_argument("--save", action="store_true",
                   help="also write the output to spikformer_lite/results/benchmarks/<date>-gpu-train.txt")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    device = torch.device(args.device)
    names = args.contenders or default_contenders(args)
    lines = []

    def say(text="", flush=False):
        print(text, flush=flush)
        lines.append(text)

    stamp = datetime.datetime.now(datetime.timezone.utc)
    from spikformer_lite.train import git_commit, hardware

    say(f"python benchmarks/bench_gpu.py {' '.join(sys.argv[1:])}, {stamp:%Y-%m-%d %H:%M} UTC, commit {git_commit()}")
    say(f"device: {gpu_description() if device.type == 'cuda' else hardware() + ' (CPU smoke test: numbers mean nothing)'}")
    say(f"CUDA settings: {setup_cuda()}")
    say(f"{PRESET}, T=4, batch {args.batch}, {args.rounds} rounds x {args.steps} steps, best round kept; "
        "SpikingJelly pools before the LIF in SPS stages 3-4, ours after (eq. 10)")
    say("first steps (build, compile, autotune):", flush=True)
    rows = measure(names, device, args, say)
    report(rows, args.batch, device, say)
    say("1st train s: from building the model to the end of its first train step (compilation and autotuning "
        "included); MiB: peak allocated by that contender alone (train: weights, grads, AdamW state, activations)")
    if args.save and device.type == "cuda":
        from spikformer_lite.benchmark import RESULTS

        path = RESULTS / f"{stamp:%Y-%m-%d}-gpu-train.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        print(f"written: {path}")
    elif args.save:
        print("--save ignored: a CPU smoke run's numbers are not a result")
    measured = [r for r in rows.values() if "train_s" in r]
    failed = [r for r in rows.values() if "error" in r]
    return 0 if measured or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
