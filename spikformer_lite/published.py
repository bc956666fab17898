"""The checkpoints this book trained and publishes, under ``spikformer_lite/checkpoints/`` (shipped in the wheel) with a manifest.

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
from datetime import datetime, timezone
from pathlib import Path

import torch

from ._files import package_path
from .checkpoint import CheckpointError, config_from_dict, load_checkpoint, save_checkpoint, sha256sum
from .model import Spikformer

CHECKPOINTS = package_path("checkpoints")  # shipped in the wheel: a pip install has them too


def manifest(folder=CHECKPOINTS):
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load_published(name, folder=CHECKPOINTS, backend="auto"):
    """The published model ``name`` (eval mode, float32, on the CPU) and its manifest entry. ``backend``: the
    LIF backend; "auto" runs torch on CPU tensors and the Triton kernels once the model is moved to a GPU."""
    entries = manifest(folder)
    if name not in entries:
        raise KeyError(f"no published checkpoint {name!r}; the manifest in {folder} lists {sorted(entries)}")
    entry = entries[name]
    ckpt = load_checkpoint(Path(folder) / entry["file"], sha256=entry["sha256"])
    return model_from_checkpoint(ckpt, backend), entry


def model_from_checkpoint(ckpt, backend="auto"):
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
    stages = training_stages(ckpt)
    write_stage_log(stages, folder / f"{name}.log.csv")
    model = model_from_checkpoint(load_checkpoint(path))
    last = stages[-1]
    entry = dict(file=path.name, log=f"{name}.log.csv", preset=ckpt["preset"], data=meta["data"],
                 data_label=meta["data_source"], test_data=meta["test_source"],
                 command=" && ".join(s["command"] for s in stages),
                 commit=meta["commit"], recipe=meta["recipe_name"], epochs_done=sum(s["epochs"] for s in stages),
                 epochs_planned=sum(s["epochs"] for s in stages[:-1]) + last["epochs_planned"],
                 wall_hours=round(sum(s["wall_s"] for s in stages) / 3600, 3), hardware=meta["hardware"], notes=notes,
                 params=sum(p.numel() for p in model.parameters()),
                 config={k: v for k, v in ckpt["config"].items() if k != "backend"},
                 exported=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if len(stages) > 1:  # trained in stages (--init-from): each one's command, commit, epochs and hours
        entry["stages"] = [dict(command=s["command"], commit=s["commit"], epochs=s["epochs"],
                                wall_hours=round(s["wall_s"] / 3600, 3), hardware=s["hardware"]) for s in stages]
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


def training_stages(ckpt):
    """The stages a checkpoint was trained in, first to last: one per --init-from, plus its own run.

    Each is dict(command, commit, hardware, epochs, epochs_planned, wall_s, log).
    """
    meta = ckpt["meta"]
    own = dict(command="python -m spikformer_lite.train " + " ".join(meta["argv"]), commit=meta["commit"],
               hardware=meta["hardware"], epochs=ckpt["epoch"], wall_s=meta["wall_s"], log=meta.get("log", []),
               epochs_planned=meta["recipe"]["epochs"] + meta["recipe"]["cooldown_epochs"])
    stages, parent = [own], meta.get("init_from")
    while parent:
        stages.insert(0, dict(command=parent["command"], commit=parent["commit"], hardware=parent["hardware"],
                              epochs=parent["epochs"], wall_s=parent["wall_s"], log=parent["log"],
                              epochs_planned=parent["epochs"]))
        parent = parent.get("init_from")
    return stages


def write_stage_log(stages, path):
    """One CSV over all stages: epochs and wall time counted from the first stage's start, and a stage column."""
    import csv

    rows, epoch0, wall0 = [], 0, 0.0
    for i, stage in enumerate(stages, 1):
        if len(stage["log"]) != stage["epochs"]:
            raise CheckpointError(f"stage {i} ({stage['command']}) logged {len(stage['log'])} epochs, not "
                                  f"{stage['epochs']}")
        for r in stage["log"]:
            rows.append({**r, "epoch": epoch0 + r["epoch"], "wall_s": wall0 + r["wall_s"],
                         **({"stage": i} if len(stages) > 1 else {})})
        epoch0, wall0 = epoch0 + stage["epochs"], wall0 + stage["wall_s"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


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
