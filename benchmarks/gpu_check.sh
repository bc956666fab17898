#!/usr/bin/env bash
# The GPU check: the one script a session with a lent GPU runs on the device machine, from the repo root,
# after `bash benchmarks/gpu_carry.sh` here (the device run carries .whl and .carry):
#
#   bash benchmarks/gpu_check.sh [OUT]      OUT: a folder for the results (else gpu_check_out; where $OUT is
#                                           set, as on the device machine: summary.txt, the benchmark table
#                                           and gpu_check.tar.gz of all logs, since 8 files at most come back)
#
# Each step runs under `timeout`, its output teed into OUT/<step>.log; a failed or timed-out step is
# recorded in OUT/summary.txt (exit code, seconds) and the next one runs. The whole run stays within
# GPU_CHECK_SECONDS (default 470): a step gets at most what is left of it, and one that would get less
# than 20 s is skipped. GPU_CHECK_STEPS="bench train" runs only those steps (and install).
#
#   install   the carried wheels into /tmp/site (the machine has torch, triton, numba, pytest, no network)
#   env       nvidia-smi; python, torch, CUDA, cuDNN, triton versions; gpu_description()
#   data      CIFAR-10 decoded once from .carry/data (the later steps read the cache)
#   lif_cuda  the Triton LIF on CUDA tensors against the torch reference (the tests run it only under
#             Triton's interpreter), and its speed against the torch LIF
#   tests     the package tests with CUDA present; tests/test_lif_triton.py in a process of its own
#   bench     benchmarks/bench_gpu.py --save (the saved table is copied to OUT)
#   train     the training CLI, paper recipe: A straight, B killed (SIGKILL) after its first mid-epoch
#             checkpoint and resumed, both --deterministic, their epoch.pt weights compared bit for bit;
#             C without --deterministic (the fast path); the logs are copied to OUT/train/
#   torchrun  the CLI under torchrun (one process), and a one-process NCCL all_reduce
#   compile   only if time is left: the whole model through torch.compile against the same rows uncompiled
set -u

SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."
TRAIN_STEPS=${GPU_CHECK_TRAIN_STEPS:-200}  # steps of each training run (the paper recipe's batch of 128)
# replaces "--device cuda" in the train step: a dry run of its kill-and-resume logic on a CPU, e.g.
# GPU_CHECK_TRAIN_ARGS="--device cpu --set depth=1 embed_dim=32 num_heads=2 --batch-size 16"
TRAIN_DEVICE=${GPU_CHECK_TRAIN_ARGS:---device cuda}
WORK=/tmp/gpu_check_work

step_install() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    ls /tmp/site
}

step_env() {
    nvidia-smi
    python3 --version
    python3 -c "import torch, triton; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'cuDNN', torch.backends.cudnn.version(), 'triton', triton.__version__, 'NCCL', torch.cuda.nccl.version() if torch.cuda.is_available() else None)"
    python3 -c "from spikformer_lite.gpu import gpu_description; print(gpu_description())"
    python3 -c "import spikingjelly, kornia, numba, numpy; print('spikingjelly', spikingjelly.__file__, 'kornia', kornia.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"
    echo "$(nproc) CPU cores"; free -g; df -h /tmp .
}

step_data() {
    python3 -c "
import time
from spikformer_lite.data.cifar import load_cifar
for split in ('train', 'test'):
    t0 = time.perf_counter()
    d = load_cifar('cifar10', split)
    print(split, d.images.shape, d.source, f'{time.perf_counter() - t0:.1f} s')
"
}

step_lif_cuda() {
    python3 - <<'EOF'
import torch
from spikformer_lite.neuron import lif, lif_torch

torch.manual_seed(0)
x = (torch.randn(4, 128, 64, 384, device="cuda") + 0.6).requires_grad_()  # (T, B, N, D) of the model's blocks
g = torch.randn_like(x)
s_ref = lif_torch(x)[0]
(s_ref * g).sum().backward()
grad_ref, x.grad = x.grad.clone(), None
s = lif(x, backend="triton")
(s * g).sum().backward()
ok = torch.equal(s, s_ref)
print(f"float32: spikes bit-identical to the torch LIF: {ok}; firing rate {s.mean().item():.3f}; "
      f"gradient max abs difference {(x.grad - grad_ref).abs().max().item():.3g}")
torch.testing.assert_close(x.grad, grad_ref, rtol=1e-5, atol=1e-6)
for dtype in (torch.bfloat16, torch.float16):
    xd = x.detach().to(dtype)
    same = torch.equal(lif(xd, backend="triton"), lif_torch(xd.float())[0].to(dtype))
    print(f"{dtype}: spikes equal to the torch LIF on the float32 upcast (a float32 membrane): {same}")
    ok = ok and same


def ms(fn, reps=20):
    fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


for backend in ("torch", "triton"):
    xb = x.detach().requires_grad_()
    print(f"{backend} LIF on {tuple(x.shape)} float32: forward {ms(lambda: lif(xb, backend=backend)):.3f} ms, "
          f"forward + backward {ms(lambda: lif(xb, backend=backend).backward(g)):.3f} ms")
raise SystemExit(0 if ok else 1)
EOF
}

step_tests() {
    # tests/test_lif_triton.py sets TRITON_INTERPRET=1 when it is imported, for the whole process: collected
    # with the others it would put every Triton kernel of the run under the interpreter. So it runs alone.
    # The tonic test is left out: tonic (and scipy, which it imports) is not carried (too large).
    python3 -m pytest -q -p no:cacheprovider --maxfail=5 --durations=15 \
        --deselect tests/test_train.py::test_paper_recipe_on_event_data_in_tonic_layout \
        tests/test_gpu.py tests/test_lif.py tests/test_model.py tests/test_train.py
    local rc=$?
    python3 -m pytest -q -p no:cacheprovider tests/test_lif_triton.py
    local rc2=$?
    return $((rc ? rc : rc2))
}

step_bench() {
    python3 benchmarks/bench_gpu.py --save --rounds 5 --steps 5
    local rc=$?
    mkdir -p "$OUTDIR/results"
    cp spikformer_lite/results/benchmarks/*-gpu-train.txt "$OUTDIR/results/" 2>/dev/null
    return $rc
}

step_train() {
    rm -rf "$WORK/train" && mkdir -p "$WORK/train"
    local det=--deterministic rc=0 pid
    if ! python3 -m spikformer_lite.train --help | grep -q -- --deterministic; then
        echo "this train.py has no --deterministic: A and B run without it"
        det=
    fi
    local args=(--preset cifar10-4-384 --recipe paper $TRAIN_DEVICE --no-progress --max-steps "$TRAIN_STEPS"
                --stop-after-epochs 1 --test-subset 1000 --checkpoint-minutes 0.05)
    echo "--- A: $TRAIN_STEPS steps straight $det"
    python3 -m spikformer_lite.train "${args[@]}" $det --out "$WORK/train/A" || rc=1

    echo "--- B: the same, killed with SIGKILL once its first mid-epoch checkpoint is written, then resumed"
    python3 -m spikformer_lite.train "${args[@]}" $det --out "$WORK/train/B" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ ! -e "$WORK/train/B/last.pt" ]; do sleep 0.1; done
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid"
        echo "B killed (exit $?)"
    else
        wait "$pid"
        echo "B ended (exit $?) before it could be killed"
    fi
    if [ -e "$WORK/train/B/last.pt" ] && python3 - "$WORK/train/B/last.pt" <<'EOF'
import sys, torch
ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
print(f"B's last.pt: epoch {ckpt['epoch']}, step {ckpt['step']}")
if ckpt["step"] == 0:
    print("not a mid-epoch checkpoint: the kill came too late, so the comparison would prove nothing")
    sys.exit(1)
EOF
    then
        python3 -m spikformer_lite.train "${args[@]}" $det --out "$WORK/train/B" --resume || rc=1
        echo "--- A's and B's epoch.pt weights"
        python3 - "$WORK/train/A/epoch.pt" "$WORK/train/B/epoch.pt" <<'EOF' || rc=1
import sys, torch
a, b = (torch.load(p, map_location="cpu", weights_only=True)["model"] for p in sys.argv[1:3])
differ = sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not torch.equal(a[k], b[k]))
if not differ:
    print(f"EQUAL: all {len(a)} tensors of A and B are bit-identical")
    sys.exit(0)
print(f"DIFFER: {len(differ)} of {len(a)} tensors")
for k in differ[:20]:
    if k in a and k in b and a[k].is_floating_point():
        print(f"  {k}: max abs difference {(a[k].double() - b[k].double()).abs().max().item():.3g}")
    else:
        print(f"  {k}")
sys.exit(1)
EOF
    else
        rc=1
    fi

    echo "--- C: the fast path, without --deterministic"
    python3 -m spikformer_lite.train "${args[@]}" --out "$WORK/train/C" || rc=1
    for run in A B C; do
        mkdir -p "$OUTDIR/train/$run"
        cp "$WORK/train/$run/"{log.json,log.csv,run.json} "$OUTDIR/train/$run/" 2>/dev/null
    done
    python3 - "$WORK/train" "${det:-no --deterministic}" <<'EOF'
import json, sys
from pathlib import Path

for run, what in (("A", sys.argv[2]), ("B", sys.argv[2] + ", killed and resumed"), ("C", "fast path")):
    try:
        r = json.loads((Path(sys.argv[1]) / run / "log.json").read_text())[-1]
        print(f"throughput {run} ({what}): {r['train_img_s']:.0f} img/s, epoch {r['epoch_s']:.0f} s, "
              f"train loss {r['train_loss']:.4f}, test acc {r['test_acc']:.4f}")
    except (OSError, ValueError, IndexError, KeyError) as e:
        print(f"throughput {run} ({what}): no log ({type(e).__name__})")
EOF
    return $rc
}

step_torchrun() {
    local rc=0
    python3 -m torch.distributed.run --standalone --nproc_per_node=1 -m spikformer_lite.train \
        --preset cifar10-4-384 --recipe paper --device cuda --no-progress --max-steps 5 --epochs 1 \
        --warmup-epochs 0 --cooldown-epochs 0 --test-subset 256 --out "$WORK/torchrun" || rc=1
    # with one process the CLI never starts a process group, so NCCL is checked on its own
    cat > "$WORK/nccl_check.py" <<'EOF'
import os
import torch
import torch.distributed as dist

torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
dist.init_process_group("nccl")
t = torch.full((4,), dist.get_rank() + 1.0, device="cuda")
dist.all_reduce(t)
print(f"NCCL {torch.cuda.nccl.version()}: all_reduce over {dist.get_world_size()} process(es) gave {t.tolist()}")
dist.destroy_process_group()
EOF
    python3 -m torch.distributed.run --standalone --nproc_per_node=1 "$WORK/nccl_check.py" || rc=1
    return $rc
}

step_compile() {
    python3 benchmarks/bench_gpu.py --rounds 3 --steps 5 \
        --contenders ours-triton-bf16 ours-triton-bf16-compiled sj-bf16
}

run_step() {  # run_step NAME LIMIT_S [MIN_S]: skipped when less than MIN_S (default 20) of the budget is left
    local name=$1 limit=$2 least=${3:-20} left t0 rc note=""
    if [ -n "${GPU_CHECK_STEPS:-}" ] && [ "$name" != install ] && [[ " $GPU_CHECK_STEPS " != *" $name "* ]]; then
        return
    fi
    left=$((START + BUDGET - $(date +%s)))
    if [ "$left" -lt "$least" ]; then
        printf '%-9s skipped: %s s of the budget left\n' "$name" "$left" | tee -a "$OUTDIR/summary.txt"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "=== $name (at most $limit s)"
    t0=$(date +%s)
    timeout -k 10 "$limit" bash "$SELF" --step "$name" "$OUTDIR" 2>&1 | tee "$OUTDIR/$name.log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && note=", timed out"
    printf '%-9s exit %3s  %4s s  (limit %s s%s)\n' "$name" "$rc" "$(($(date +%s) - t0))" "$limit" "$note" \
        >> "$OUTDIR/summary.txt"
}

if [ "${1:-}" = "--step" ]; then  # one step, run by run_step under timeout
    OUTDIR=$3
    mkdir -p "$WORK"
    "step_$2"
    exit $?
fi

# The device tool brings back at most 8 files from $OUT: there the steps write to a folder of their own,
# and $OUT receives summary.txt, the saved benchmark table and one gpu_check.tar.gz of everything.
PACK=""
if [ -z "${1:-}" ] && [ -n "${OUT:-}" ]; then
    PACK=$OUT
    OUTDIR=/tmp/gpu_check_out
else
    OUTDIR=${1:-gpu_check_out}
fi
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd)
BUDGET=${GPU_CHECK_SECONDS:-470}
START=$(date +%s)
export PYTHONUNBUFFERED=1 SPIKFORMER_PROGRESS=off
{
    echo "benchmarks/gpu_check.sh, $(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "step      exit   time   (exit 124: timed out)"
} > "$OUTDIR/summary.txt"

run_step install 90
export PYTHONPATH="/tmp/site:$PWD" SPIKFORMER_DATA="$PWD/.carry/data"
run_step env 40
run_step data 60
run_step lif_cuda 60
run_step tests 140
run_step bench 140
run_step train 150
run_step torchrun 45
run_step compile 150 90

{
    echo
    echo "highlights:"
    grep -h -E "^(EQUAL|DIFFER)|^B's last.pt|^B (killed|ended)|^throughput|^ours best|^peak train memory|bit-identical|spikes equal|NCCL .*all_reduce" \
        "$OUTDIR"/lif_cuda.log "$OUTDIR"/bench.log "$OUTDIR"/train.log "$OUTDIR"/torchrun.log 2>/dev/null
    grep -h -E "^[0-9]+ (passed|failed)|^=+ .*(passed|failed)" "$OUTDIR"/tests.log 2>/dev/null
    echo "total $(($(date +%s) - START)) s"
} >> "$OUTDIR/summary.txt"
cat "$OUTDIR/summary.txt"
if [ -n "$PACK" ]; then
    mkdir -p "$PACK"
    cp "$OUTDIR/summary.txt" "$PACK/"
    cp "$OUTDIR"/results/*-gpu-train.txt "$PACK/" 2>/dev/null
    tar -czf "$PACK/gpu_check.tar.gz" -C "$(dirname "$OUTDIR")" "$(basename "$OUTDIR")"
    ls -l "$PACK"
fi
