"""The event data path at CIFAR10-DVS's scale: host memory, samples/s and disk, on synthetic recordings.

Synthetic CIFAR10-DVS folders in the real on-disk format (one AEDAT 4 file per recording, ten class
folders, as tonic extracts the published archive; written by tests/fake_data.py) with 100 and 1,000
recordings per class, i.e. 900 and 9,000 training recordings under the official 90/10 split. Each
measurement runs in a fresh process, which reports its own peak resident memory (VmHWM):

- build: ``train.load_split("cifar10dvs", "train", T=16)`` the first time: every recording framed
  once into the on-disk ``FrameStore`` (integer counts);
- read: the training loop's data path, ``train.make_batch`` over the epoch's batches (batch 16, the
  paper recipe's): counts read from the store and made float, without augmentation (what the CPU
  must deliver when the GPU augments) and with the paper recipe's augmentation and mixup on the CPU;
  once with the store in the page cache (warm) and once after its pages were dropped (cold, read
  from disk: posix_fadvise DONTNEED);
- before: the path this replaced, every frame held in one float32 tensor, at 900 recordings (at
  9,000 it would need 18.9 GB; its size is printed, not allocated);
- train (``--train-steps K``): the training CLI itself, ``--preset cifar10dvs-2-256 --recipe paper``
  for K steps on each set, then a test pass over one batch, at each ``--train-batch``: its peak memory, the
  model's activations included (on a CPU they are most of it: 16 recordings at T=16 are 256 frames of
  128 x 128 through the network).

Printed beside them: the CPU, its core count, torch's threads, and the disk the files are on.

Run: python benchmarks/bench_events.py [--sizes 900 9000] [--work DIR] [--seconds 20] [--train-steps 2]
     [--train-batch 16 2] [--rebuild] [--save]
"""

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, torch
sys.path.insert(0, {tests!r})
from spikformer_lite import train

def peak_gb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 2 ** 20

mode, root, T, seconds = {mode!r}, {root!r}, {T}, {seconds}
out = {{}}
t0 = time.perf_counter()
split = train.load_split("cifar10dvs", "train", T=T, root=root, progress=mode == "build")
out["open_s"] = time.perf_counter() - t0
if mode == "build":
    out.update(n=len(split), disk_gb=split.x.nbytes_on_disk / 1e9, dtype=str(split.x.dtype))
elif mode.startswith("read"):
    aug = mode.endswith("aug")
    if mode.startswith("read-cold"):
        fd = os.open(split.x.path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # the store's pages leave the page cache
        os.close(fd)
    if mode.startswith("read-before"):  # the replaced path: every frame in one float32 tensor
        store = split.x
        x = torch.empty(store.shape, dtype=torch.float32)
        for lo in range(0, len(store), 64):
            x[lo:lo + 64] = store[np.arange(lo, min(lo + 64, len(store)))].float()
        split = train.Split(x, split.y, "events", split.source, 10)
        out["held_gb"] = x.numel() * 4 / 1e9
    recipe = train.get_recipe("cifar10dvs", "paper", **({{}} if aug else dict(augment="none", mixup_prob=0.0)))
    cfg = train.get_config("cifar10dvs-2-256", T=T)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    batches = train.epoch_order(len(split), 0, 0, recipe.batch_size)
    n, t0 = 0, time.perf_counter()
    for idx in batches:
        x, target = train.make_batch(split, idx, True, recipe, 0, gen, cfg, torch.device("cpu"))
        assert x.dtype == torch.float32 and x.shape[:2] == (T, len(idx))
        n += len(idx)
        if time.perf_counter() - t0 > seconds:
            break
    elapsed = time.perf_counter() - t0
    out.update(samples=n, seconds=elapsed, samples_per_s=n / elapsed, augment=aug)
out["peak_gb"] = peak_gb()
print("RESULT " + json.dumps(out))
"""

TRAIN_CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from spikformer_lite.train import main
main({argv!r})
for line in open("/proc/self/status"):
    if line.startswith("VmHWM"):
        print("RESULT " + json.dumps(dict(peak_gb=int(line.split()[1]) / 2 ** 20)))
"""


def child(code):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"measurement failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][7:])


def write_set(root, per_class, events):
    sys.path.insert(0, str(REPO / "tests"))
    import fake_data

    done = Path(root) / "CIFAR10DVS" / f".written-{per_class}-{events[0]}-{events[1]}"
    if not done.is_file():
        t0 = time.perf_counter()
        fake_data.write_cifar10dvs(root, per_class=per_class, events=events, keep=False, seed=per_class)
        done.write_text("")
        print(f"  wrote {10 * per_class:,} synthetic AEDAT 4 recordings in {time.perf_counter() - t0:.0f} s")
    files = list((Path(root) / "CIFAR10DVS").rglob("*.aedat4"))
    return len(files), sum(f.stat().st_size for f in files) / 1e9


def machine(work):
    from spikformer_lite.train import hardware

    Path(work).mkdir(parents=True, exist_ok=True)
    disk = subprocess.run(["df", "-h", "--output=source,size", str(work)], capture_output=True, text=True).stdout
    return f"{hardware()}; the work folder on {' '.join(disk.split()[2:]) or '?'}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[900, 9000], help="training recordings (90%% of the set)")
    p.add_argument("--T", type=int, default=16)
    p.add_argument("--events", type=int, nargs=2, default=[2000, 20000], help="events per recording: low high")
    p.add_argument("--work", default="/tmp/spikformer-bench-events", help="where the synthetic sets are written")
    p.add_argument("--seconds", type=float, default=20.0, help="how long each read measurement runs")
    p.add_argument("--train-steps", type=int, default=0, help="also run the training CLI this many steps on each set")
    p.add_argument("--train-batch", type=int, nargs="+", default=[16, 2], help="the CLI's batch sizes")
    p.add_argument("--rebuild", action="store_true", help="delete the frame stores first, so the build is measured")
    p.add_argument("--save", action="store_true", help="write spikformer_lite/results/benchmarks/<date>-events.txt")
    args = p.parse_args(argv)

    lines = [f"# bench_events: the event data path (synthetic CIFAR10-DVS in the real AEDAT 4 format, T={args.T})",
             f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine(args.work)}",
             f"# {args.events[0]:,}-{args.events[1]:,} events per recording; work folder {args.work}",
             "# batch 16 (the paper recipe's); each row a fresh process; peak = its VmHWM", ""]
    for line in lines:
        print(line)
    rows = []

    def show(row):
        rows.append(row)
        print(f"{row['train']:>6,} | {row['what']:<44} | {row.get('rate', ''):>14} | {row['peak_gb']:6.2f} GB | "
              f"{row.get('note', '')}", flush=True)

    print(f"{'train':>6} | {'measurement':<44} | {'samples/s':>14} | peak RSS  | note")
    for n_train in args.sizes:
        per_class = n_train // 9
        root = Path(args.work) / f"c10dvs-{per_class}"
        files, gb = write_set(root, per_class, args.events)
        env_root = str(root)
        run = lambda mode: child(CHILD.format(tests=str(REPO / "tests"), mode=mode, root=env_root, T=args.T,
                                              seconds=args.seconds))
        if args.rebuild:
            subprocess.run(["rm", "-rf", str(root / "cache")])
        built_before = any(root.rglob("store/meta.json"))
        b = run("build")
        show(dict(train=n_train, what="build the frame store (first load_split)", peak_gb=b["peak_gb"],
                  rate="(built before)" if built_before else f"{b['n'] / b['open_s']:.0f} (framing)",
                  note=f"{b['disk_gb']:.2f} GB on disk as {b['dtype']}; {files:,} recordings {gb:.2f} GB; "
                       f"{b['open_s']:.0f} s"))
        for mode, what in (("read", "read + float, no augmentation (warm)"),
                           ("read-cold", "read + float, no augmentation (cold)"),
                           ("read-aug", "read + float + paper augmentation & mixup")):
            r = run(mode)
            show(dict(train=n_train, what=what, rate=f"{r['samples_per_s']:.0f}", peak_gb=r["peak_gb"],
                      note=f"{r['samples']:,} samples in {r['seconds']:.1f} s"))
        if n_train <= 1000:
            r = run("read-before")
            show(dict(train=n_train, what="before: all frames in float32, no augmentation", peak_gb=r["peak_gb"],
                      rate=f"{r['samples_per_s']:.0f}", note=f"holds {r['held_gb']:.2f} GB"))
        else:
            held = n_train * args.T * 2 * 128 * 128 * 4 / 1e9
            show(dict(train=n_train, what="before: all frames in float32 (not run)", peak_gb=held,
                      note="what it would hold before the first step (computed)"))
        for batch in args.train_batch if args.train_steps else ():
            out = Path(args.work) / "train-run"
            subprocess.run(["rm", "-rf", str(out)])
            argv = ["--preset", "cifar10dvs-2-256", "--recipe", "paper", "--data-root", str(root), "--out", str(out),
                    "--max-steps", str(args.train_steps), "--stop-after-epochs", "1", "--test-subset", str(batch),
                    "--no-progress", "--batch-size", str(batch)]
            t0 = time.perf_counter()
            r = child(TRAIN_CHILD.format(argv=argv))
            show(dict(train=n_train, what=f"training CLI: {args.train_steps} steps + test, batch {batch}",
                      peak_gb=r["peak_gb"], note=f"the model's memory included; {time.perf_counter() - t0:.0f} s"))
    footer = []
    if args.train_steps:
        footer.append("training CLI: python -m spikformer_lite.train --preset cifar10dvs-2-256 --recipe paper --data-root "
              f"<set> --out <dir> --max-steps {args.train_steps} --stop-after-epochs 1 --test-subset <batch> "
              "--no-progress --batch-size <batch> (the test set: one batch of recordings)")
        print(footer[-1])
    if args.save:
        from spikformer_lite.benchmark import RESULTS

        path = RESULTS / f"{datetime.date.today()}-events.txt"
        table = [f"{r['train']:>6,} | {r['what']:<44} | {r.get('rate', ''):>14} | {r['peak_gb']:6.2f} GB | "
                 f"{r.get('note', '')}" for r in rows]
        path.write_text("\n".join(lines + [f"{'train':>6} | {'measurement':<44} | {'samples/s':>14} | peak RSS  | note"]
                                  + table + footer) + "\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
