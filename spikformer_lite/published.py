"""The checkpoints this book trained and publishes, under ``checkpoints/`` with a manifest.

    model, entry = load_published("cifar10-quick")      # weights checked against the manifest's sha256
    entry["test_acc"], entry["data"], entry["hardware"], entry["command"]

A published file holds the model's weights in float16 (loaded back as float32), its config and
the run's metadata; ``manifest.json`` gives, for each, the exact command, commit, data label,
epochs, wall time, hardware, test accuracy, sha256 and the training log beside it.

``python -m spikformer_lite.published RUN_DIR NAME`` exports a training run's ``last.pt``:
it evaluates the float16 weights on the full test split and records that accuracy.
"""

import argparse
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import torch

from .checkpoint import CheckpointError, config_from_dict, load_checkpoint, save_checkpoint, sha256sum
from .model import Spikformer

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


def manifest(folder=CHECKPOINTS):
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load_published(name, folder=CHECKPOINTS, backend="torch"):
    """The published model ``name`` (eval mode, float32) and its manifest entry."""
    entries = manifest(folder)
    if name not in entries:
        raise KeyError(f"no published checkpoint {name!r}; the manifest in {folder} lists {sorted(entries)}")
    entry = entries[name]
    ckpt = load_checkpoint(Path(folder) / entry["file"], sha256=entry["sha256"])
    return model_from_checkpoint(ckpt, backend), entry


def model_from_checkpoint(ckpt, backend="torch"):
    cfg = config_from_dict({**ckpt["config"], "backend": backend})
    model = Spikformer(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()})
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights do not fit its own config: {str(e).splitlines()[0]}") from e
    return model.eval()


def export(run_dir, name, folder=CHECKPOINTS, notes="", evaluate_on_test=True):
    """Write ``<folder>/<name>.pt`` (float16 weights) and its log, and add it to the manifest."""
    from .train import evaluate, load_split

    run_dir, folder = Path(run_dir), Path(folder)
    ckpt = load_checkpoint(run_dir / "epoch.pt" if (run_dir / "epoch.pt").is_file() else run_dir / "last.pt")
    if ckpt["step"]:
        raise CheckpointError(f"{run_dir / 'last.pt'} is a mid-epoch checkpoint (epoch {ckpt['epoch']}, step "
                              f"{ckpt['step']}); export one written at the end of an epoch")
    meta = ckpt["meta"]
    weights = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    published = dict(model=weights, config=ckpt["config"], preset=ckpt["preset"], epoch=ckpt["epoch"], step=0,
                     meta={k: v for k, v in meta.items() if k != "log"})
    path = save_checkpoint(folder / f"{name}.pt", published)
    shutil.copyfile(run_dir / "log.csv", folder / f"{name}.log.csv")
    model = model_from_checkpoint(load_checkpoint(path))
    entry = dict(file=path.name, log=f"{name}.log.csv", preset=ckpt["preset"], data=meta["data"],
                 data_label=meta["data_source"], test_data=meta["test_source"],
                 command="python -m spikformer_lite.train " + " ".join(meta["argv"]),
                 commit=meta["commit"], recipe=meta["recipe_name"], epochs_done=ckpt["epoch"],
                 epochs_planned=meta["recipe"]["epochs"] + meta["recipe"]["cooldown_epochs"],
                 wall_hours=round(meta["wall_s"] / 3600, 3), hardware=meta["hardware"], notes=notes,
                 params=sum(p.numel() for p in model.parameters()),
                 config={k: v for k, v in ckpt["config"].items() if k != "backend"},
                 exported=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if evaluate_on_test:
        test = load_split(meta["data"], "test", model.cfg.T)
        result = evaluate(model.set_backend("numba"), test, cfg=model.cfg, progress=False)
        entry.update(test_acc=result["acc"], test_n=result["n"], test_source=test.source)
    entry["sha256"] = sha256sum(path)
    entries = manifest(folder)
    entries[name] = entry
    tmp = folder / ".manifest.json.tmp"
    tmp.write_text(json.dumps(entries, indent=1) + "\n")
    tmp.replace(folder / "manifest.json")
    return entry


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m spikformer_lite.published", description="Export a training run.")
    p.add_argument("run_dir")
    p.add_argument("name")
    p.add_argument("--notes", default="")
    p.add_argument("--folder", default=str(CHECKPOINTS))
    args = p.parse_args(argv)
    print(json.dumps(export(args.run_dir, args.name, args.folder, args.notes), indent=1))


if __name__ == "__main__":
    main()
