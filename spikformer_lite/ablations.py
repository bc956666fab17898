"""The ablations of Tables 1 and 5 at a scale a CPU runs: time steps, SSA against VSA, attention variants.

    python -m spikformer_lite.ablations [--out runs/ablations] [--only T1 VSA ...]

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


def main(argv=None):
    import json

    from .train import run

    p = argparse.ArgumentParser(prog="python -m spikformer_lite.ablations", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/ablations")
    p.add_argument("--only", nargs="*", choices=sorted(ABLATIONS), help="run only these")
    args = p.parse_args(argv)
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
