"""The ablations of Tables 1 and 5 at a scale a CPU runs: time steps, SSA against VSA, attention variants.

    python -m spikformer_lite.ablations [--out spikformer_lite/results/ablations] [--only T1 VSA ...]
    python -m spikformer_lite.ablations --summarise      # firing rate, SOPs, energy -> <out>/summary.json

Every run is the training CLI (``python -m spikformer_lite.train``) with one budget: the quick CIFAR-10
recipe on a 1-block, 64-dimensional Spikformer (2 heads), 10,000 training images, 5 epochs, evaluated on all
10,000 test images (CIFAR-10 from the data root: the JPEG re-encoded offline copy here). Only the ablated
field changes. Each run writes ``<out>/<name>/`` (log, checkpoint); a finished run is skipped and an
interrupted one resumed, so the command can be repeated until all are done.

At this scale the runs can show the direction of an effect that is large compared with the noise of one
seed (a point or more); they cannot reproduce the paper's differences of a few tenths of a point on the
4-384 model, nor say anything about the 310-epoch regime.
"""

import argparse
from pathlib import Path

from ._files import package_path

BUDGET = ["--preset", "cifar10-4-384", "--recipe", "quick", "--train-subset", "10000", "--epochs", "5",
          "--no-progress", "--checkpoint-minutes", "5"]
MODEL = ["depth=1", "embed_dim=64", "num_heads=2"]

# name -> (extra CLI arguments, extra --set fields, what the paper reports for it on CIFAR-10 (4-384))
ABLATIONS = {
    "T1": (["--T", "1"], [], "Table 5: SSA, T=1: 93.51"),
    "T2": (["--T", "2"], [], "Table 5: SSA, T=2: 93.59"),
    "T4": (["--T", "4"], [], "Table 5: SSA, T=4: 95.19"),
    "VSA": (["--T", "2"], ["attention=vsa"], "Table 5: VSA, T=4: 94.97"),
    "VSA_float_V": (["--T", "2"], ["attention=vsa_float_v"], "Table 5: VSA with float V, T=4: 95.17"),
    "A_I": (["--T", "1"], ["attention=identity"], "Table 6: A_I, T=1: 92.39"),
    "A_ReLU": (["--T", "1"], ["attention=relu"], "Table 6: A_ReLU, T=1: 92.98"),
    "A_LeakyReLU": (["--T", "1"], ["attention=leaky_relu"], "Table 6: A_LeakyReLU, T=1: 92.88"),
}


def command(name, out):
    """The CLI arguments of ablation ``name`` writing to ``out/name``."""
    extra, fields, _ = ABLATIONS[name]
    return [*BUDGET, *extra, "--set", *MODEL, *fields, "--out", str(Path(out) / name)]


RESULTS = package_path("results", "ablations")  # the committed logs and summary, shipped in the wheel


def load_results(folder=RESULTS):
    """The committed ablation results: {name: summary.json's entry, plus ``log`` (the epoch rows)}; runs
    without a summary entry have only test_acc and log."""
    import json

    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        raise FileNotFoundError(f"no ablation results in {folder}: run `python -m spikformer_lite.ablations` "
                                "and then `python -m spikformer_lite.ablations --summarise` (or clone the repository, which has them)")
    summary = json.loads((folder / "summary.json").read_text())
    out = {}
    for name in ABLATIONS:
        log_path = folder / name / "log.json"
        if log_path.is_file():
            log = json.loads(log_path.read_text())
            out[name] = {**summary.get(name, dict(test_acc=log[-1]["test_acc"], paper=ABLATIONS[name][2])), "log": log}
    return out


def summarise(out, n_images=1000, checkpoints=None):
    """Measure each finished run's trained model on the first ``n_images`` test images (every tenth image of
    the class-sorted test split, so all classes) and write ``<out>/summary.json``: per run its final test
    accuracy (from the log), mean firing rate over all LIF outputs, Q/K/V rates, SOPs, MACs and energy per
    image (``energy.ops_table``, eq. 21-22). The notebook reads this file and the logs, not the checkpoints.
    ``checkpoints``: a folder of reruns (``<checkpoints>/<name>/epoch.pt``, the same command with another
    ``--out``) for runs whose own ``epoch.pt`` is no longer here; their entry also records the rerun's
    accuracy. Runs already in ``summary.json`` and not measurable now are kept as they are.
    """
    import json

    import torch

    from . import energy
    from .checkpoint import load_checkpoint
    from .data.cifar import cifar10_examples, to_tensor
    from .published import model_from_checkpoint

    images, _ = cifar10_examples(range(0, 10000, 10000 // n_images), split="test")
    x = to_tensor(images)
    path = Path(out) / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    for name in ABLATIONS:
        folder = Path(out) / name
        log = json.loads((folder / "log.json").read_text())
        ckpt, rerun = folder / "epoch.pt", None
        if not ckpt.is_file() and checkpoints is not None:
            ckpt = Path(checkpoints) / name / "epoch.pt"
            rerun_log = Path(checkpoints) / name / "log.json"
            rerun = json.loads(rerun_log.read_text())[-1]["test_acc"] if rerun_log.is_file() else None
        if len(log) < 5 or not ckpt.is_file():
            print(f"{name}: not finished or no epoch.pt, " + ("kept from summary.json" if name in summary else "left out"))
            continue
        model = model_from_checkpoint(load_checkpoint(ckpt))
        with torch.no_grad():
            rates = energy.firing_rates(model, x)
            tot = energy.totals(energy.ops_table(model, x))
        sizes = _neurons(model, x[:1])
        all_rate = sum(r * n for r, n in zip(rates["layers"].values(), sizes)) / sum(sizes)
        summary[name] = dict(test_acc=log[-1]["test_acc"], T=model.cfg.T, attention=model.cfg.attention,
                             firing_rate=all_rate, qkv=rates["qkv"][0], sops=tot["sops"], macs=tot["macs"],
                             energy_mj=tot["energy_mj"], paper=ABLATIONS[name][2], n_images=len(x),
                             measured_on=str(ckpt), rerun_test_acc=rerun)
        print(f"{name}: {summary[name]['test_acc']:.4f}, rate {all_rate:.3f}, {tot['energy_mj']:.4f} mJ", flush=True)
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _neurons(model, x):
    """Neurons per LIF layer (per image and step), in the order ``energy.firing_rates`` lists them."""
    import torch

    from .probes import record_spikes

    with torch.no_grad(), record_spikes(model) as rec:
        model(model.encode(x))
    return [s[0, 0].numel() for s in rec.spikes.values()]


def main(argv=None):
    import json

    from .train import run

    p = argparse.ArgumentParser(prog="python -m spikformer_lite.ablations", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--only", nargs="*", choices=sorted(ABLATIONS), help="run only these")
    p.add_argument("--summarise", action="store_true", help="measure the finished runs into <out>/summary.json")
    p.add_argument("--checkpoints", help="with --summarise: a folder of reruns holding <name>/epoch.pt")
    args = p.parse_args(argv)
    if args.summarise:
        summarise(args.out, checkpoints=args.checkpoints)
        return
    for name in args.only or ABLATIONS:
        folder = Path(args.out) / name
        log = folder / "log.json"
        if log.is_file() and len(json.loads(log.read_text())) >= 5:
            print(f"{name}: finished, skipped")
            continue
        cli = command(name, args.out) + (["--resume"] if (folder / "last.pt").is_file() else [])
        print(f"{name}: python -m spikformer_lite.train {' '.join(cli)}", flush=True)
        run(cli)


if __name__ == "__main__":
    main()
