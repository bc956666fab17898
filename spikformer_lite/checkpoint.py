"""Checkpoints: written atomically, loaded safely, checked against what they claim to be.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that
``torch.load(weights_only=True)`` can read it without running any pickled code:

    model, optimizer, scheduler, scaler   state dicts
    rng                                   torch / numpy / python (/ cuda) generator states
    epoch, step                           where the run stands (step > 0: inside an epoch)
    config                                the SpikformerConfig as a dict, preset name
    meta                                  recipe, command line, log rows so far

``save_checkpoint`` writes to a temporary file in the same folder, fsyncs it and
renames it over the old one, so a killed run leaves either the old checkpoint or the
new one, never half of one.
"""

import os
import random
import zipfile
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch

from ._files import file_hash
from .config import SpikformerConfig


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, of another model, or not the file it should be."""


def sha256sum(path):
    return file_hash(path, "sha256")


def config_to_dict(cfg):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def config_from_dict(d):
    known = {f.name for f in fields(SpikformerConfig)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
    return SpikformerConfig(**kwargs)


def rng_state():
    """Every random generator a training step draws from, as weights_only-loadable values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(torch=torch.get_rng_state(), numpy=dict(name=name, keys=torch.from_numpy(keys.astype(np.int64)),
                                                           pos=int(pos), has_gauss=int(has_gauss),
                                                           cached=float(cached)),
                 python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(path, state):
    """Write ``state`` to ``path`` atomically: temporary file, fsync, rename, fsync of the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


DEVICE_KEYS = ("model", "optimizer")  # what a training device needs; the rest (generator states, logs) stays on the CPU


def _to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def load_checkpoint(path, sha256=None, map_location="cpu"):
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Everything loads on the CPU; ``map_location`` moves only the model and optimizer states
    (``DEVICE_KEYS``): generator states must stay CPU ByteTensors for ``torch.set_rng_state``
    (mapping them to a GPU made ``--resume`` on CUDA fail with "RNG state must be a torch.ByteTensor").
    ``sha256``: when given, the file's hash must match it. Raises CheckpointError
    that says what is wrong: no file, a wrong hash, a truncated or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    if sha256 is not None:
        got = sha256sum(path)
        if got != sha256:
            raise CheckpointError(f"{path} has sha256 {got}, expected {sha256}: the file is not the pinned "
                                  "checkpoint (re-download or re-export it)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path} ({path.stat().st_size:,} bytes) is truncated or corrupt and cannot be "
                              f"read: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    except Exception as e:  # weights_only refuses pickled objects: not a checkpoint of ours
        raise CheckpointError(f"{path} is not a spikformer_lite checkpoint (torch.load with weights_only=True "
                              f"refused it: {type(e).__name__}: {str(e).splitlines()[0]})") from e
    if map_location is not None and torch.device(map_location).type != "cpu":
        ckpt = {k: _to_device(v, map_location) if k in DEVICE_KEYS else v for k, v in ckpt.items()}
    return ckpt


def check_same_model(ckpt, cfg, preset, path="checkpoint"):
    """Raise CheckpointError if ``ckpt`` holds another model than preset ``preset`` with config ``cfg``."""
    if "config" not in ckpt or "model" not in ckpt:
        raise CheckpointError(f"{path} lacks 'config' or 'model': not a spikformer_lite checkpoint")
    theirs = ckpt["config"]
    ours = config_to_dict(cfg)
    ignore = {"backend", "attention_order"}  # execution choices: same weights, same results
    differ = sorted(k for k in ours if k not in ignore and theirs.get(k) != ours[k])
    if differ:
        detail = ", ".join(f"{k}: checkpoint {theirs.get(k)!r}, requested {ours[k]!r}" for k in differ)
        raise CheckpointError(f"{path} holds a model of preset {ckpt.get('preset')!r}, not of {preset!r} with this "
                              f"config ({detail})")
