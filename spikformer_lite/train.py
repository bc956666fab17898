"""Training and evaluation: importable functions and the CLI ``python -m spikformer_lite.train``.

    python -m spikformer_lite.train --preset cifar10-4-384 --recipe paper        # the official settings
    python -m spikformer_lite.train --preset cifar10-4-384 --recipe quick        # small, CPU-friendly
    python -m spikformer_lite.train ... --resume                                 # continue a killed run
    torchrun --nproc_per_node=2 -m spikformer_lite.train ...                     # DistributedDataParallel

The loop is the official one (timm's train.py for CIFAR, cifar10dvs/train.py for
events): AdamW, a per-epoch cosine schedule with linear warmup and a cooldown at the
minimum rate, label smoothing, mixup until an epoch, the official augmentation, AMP on
CUDA. ``RECIPES`` holds the settings with the file each number comes from.

Every epoch (and every ``--checkpoint-minutes`` inside one) the run writes
``<out>/last.pt`` atomically, and a copy of each end-of-epoch one as ``<out>/epoch.pt``; ``--resume`` continues from it to the same weights, bit
for bit, as a run that was never interrupted: the batch order and every random draw
of epoch e come from generators seeded by (seed, e), and a checkpoint inside an epoch
stores the generator states at that step.
"""

import argparse
import ast
import contextlib
import csv
import functools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import (
    CheckpointError, check_same_model, config_to_dict, load_checkpoint, rng_state, save_checkpoint, set_rng_state,
    sha256sum,
)
from . import gpu
from .config import get_config, list_models
from .model import Spikformer
from .neuron import BACKENDS


class TrainingError(RuntimeError):
    """A run that cannot go on: a non-finite loss, inconsistent settings."""


# ---------------------------------------------------------------- recipes

@dataclass(frozen=True)
class Recipe:
    epochs: int  # cosine epochs; the run lasts epochs + cooldown_epochs
    batch_size: int  # global batch, over all processes
    lr: float
    min_lr: float
    warmup_lr: float
    warmup_epochs: int
    cooldown_epochs: int
    weight_decay: float
    smoothing: float
    mixup_alpha: float  # 0: no mixup
    mixup_prob: float  # probability that a batch is mixed
    mixup_off_epoch: int  # no mixup from this epoch on
    augment: str  # "official" (CIFAR RandAugment / DVS SNNAugmentWide), "flip_crop", "flip", "none"
    amp: bool  # autocast on CUDA: bfloat16, or float16 + GradScaler where the GPU has no bf16 (ignored on CPU)
    per_step_lr: bool  # False: lr changes once an epoch (timm's default); True: every step
    eval_batch_size: int = 256
    model_overrides: dict = field(default_factory=dict)  # config fields this recipe changes
    source: str = ""
    # True: biases and every other 1-D parameter (BatchNorm's weight and bias) get no weight decay, as timm's
    # create_optimizer(_v2) does by default (filter_bias_and_bn=True) in both official training scripts.
    # False: torch's AdamW decays every parameter (the quick recipes, and every run before this field).
    filter_bias_and_bn: bool = False


# On a GPU the training loop reads the loss and accuracy back every SYNC_EVERY steps (see train_one_epoch).
SYNC_EVERY = 25

RECIPES = {
    # ZK-Zhou/spikformer cifar10/cifar10.yml (epochs, T, batch, lr, schedule, augmentation, mixup) and
    # cifar10/train.py (timm's train script: --hflip 0.5, per-epoch cosine over `epochs`, then cooldown).
    ("cifar", "paper"): Recipe(epochs=300, batch_size=128, lr=5e-4, min_lr=1e-5, warmup_lr=1e-5, warmup_epochs=20,
                               cooldown_epochs=10, weight_decay=0.06, smoothing=0.1, mixup_alpha=0.5, mixup_prob=1.0,
                               mixup_off_epoch=200, augment="official", amp=True, per_step_lr=False,
                               filter_bias_and_bn=True, source="official cifar10/cifar10.yml and cifar10/train.py"),
    # ZK-Zhou/spikformer cifar10dvs/train.py: argparse defaults (b 16, lr 1e-3, wd 0.06, 96 epochs, warmup 10,
    # cooldown 10, mixup 0.5 with prob 0.5, switched off at epoch 75), flip + SNNAugmentWide, amp, T=16; its
    # test loader takes the same batch of 16 (on a CPU, 16 recordings at T=16 in one test batch add about 1 GB).
    ("events", "paper"): Recipe(epochs=96, batch_size=16, lr=1e-3, min_lr=1e-5, warmup_lr=1e-5, warmup_epochs=10,
                                cooldown_epochs=10, weight_decay=0.06, smoothing=0.1, mixup_alpha=0.5, mixup_prob=0.5,
                                mixup_off_epoch=75, augment="official", amp=True, per_step_lr=False,
                                eval_batch_size=16, filter_bias_and_bn=True, source="official cifar10dvs/train.py"),
    # Quick: a small model and cheap augmentation that a 2-core CPU trains in minutes an epoch.
    ("cifar", "quick"): Recipe(epochs=30, batch_size=64, lr=2e-3, min_lr=1e-5, warmup_lr=1e-4, warmup_epochs=1,
                               cooldown_epochs=0, weight_decay=0.05, smoothing=0.1, mixup_alpha=0.0, mixup_prob=0.0,
                               mixup_off_epoch=0, augment="flip_crop", amp=True, per_step_lr=True,
                               model_overrides=dict(depth=2, embed_dim=128, num_heads=4, T=2),
                               source="this book: CPU-friendly, not the paper's"),
    ("events", "quick"): Recipe(epochs=20, batch_size=32, lr=2e-3, min_lr=1e-5, warmup_lr=1e-4, warmup_epochs=1,
                                cooldown_epochs=0, weight_decay=0.05, smoothing=0.1, mixup_alpha=0.0, mixup_prob=0.0,
                                mixup_off_epoch=0, augment="flip", amp=True, per_step_lr=True,
                                model_overrides=dict(depth=1, embed_dim=64, num_heads=4, T=4),
                                source="this book: CPU-friendly, not the paper's"),
}


# Data sets: name -> (kind, config fields the data fixes). Presets imply their data set.
DATASETS = {
    "cifar10": ("cifar", dict(in_channels=3, image_size=32, num_classes=10)),
    "cifar100": ("cifar", dict(in_channels=3, image_size=32, num_classes=100)),
    "dvsgesture": ("events", dict(in_channels=2, image_size=128, num_classes=11)),
    "cifar10dvs": ("events", dict(in_channels=2, image_size=128, num_classes=10)),
    "nmnist": ("events", dict(in_channels=2, image_size=34, num_classes=10)),
    "cifar10dvs-sim": ("events", dict(in_channels=2, image_size=32, num_classes=10)),
}
PRESET_DATA = {"cifar10": "cifar10", "cifar100": "cifar100", "dvs128": "dvsgesture", "cifar10dvs": "cifar10dvs"}
DATA_HINTS = {
    "cifar10": "python data_scripts/download_cifar.py --dataset cifar10",
    "cifar100": "python data_scripts/download_cifar.py --dataset cifar100",
    "dvsgesture": "python data_scripts/download_dvs.py --dataset dvsgesture",
    "cifar10dvs": "python data_scripts/download_dvs.py --dataset cifar10dvs",
    "nmnist": "the offline folder nmnist_small/ (see data_scripts/README.md)",
    "cifar10dvs-sim": "the CIFAR-10 data it is simulated from: python data_scripts/download_cifar.py",
}


def default_data(preset):
    return PRESET_DATA[preset.split("-")[0]]


# The official code has no DVS128 Gesture script. Sec. 4.2 gives it 200 epochs (106 for CIFAR10-DVS) and
# applies the data augmentation to CIFAR10-DVS only (Table 4's *): the rest is cifar10dvs/train.py.
PAPER_DATA_CHANGES = {
    "dvsgesture": dict(epochs=190, augment="none", mixup_alpha=0.0, mixup_prob=0.0, mixup_off_epoch=0,
                       source="official cifar10dvs/train.py, with sec. 4.2's 200 epochs and no augmentation "
                              "(the paper augments CIFAR10-DVS only)"),
}


def get_recipe(data, name, **overrides):
    """The recipe ``name`` ("paper" or "quick") for data set ``data``, fields overridden by keyword."""
    kind = DATASETS[data][0]
    if (kind, name) not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted({r for _, r in RECIPES})}")
    recipe = RECIPES[(kind, name)]
    if name == "paper" and data in PAPER_DATA_CHANGES:
        recipe = replace(recipe, **PAPER_DATA_CHANGES[data])
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def lr_at(epoch, recipe):
    """The learning rate at (fractional) ``epoch``, as timm's CosineLRScheduler with warmup.

    Linear from ``warmup_lr`` to ``lr`` over ``warmup_epochs``; then
    min_lr + (lr - min_lr) (1 + cos(pi epoch / epochs)) / 2 (the warmup is not a prefix: the
    cosine is over all ``epochs``, as timm's default); ``min_lr`` in the cooldown after ``epochs``.
    """
    r = recipe
    if epoch < r.warmup_epochs:
        return r.warmup_lr + epoch * (r.lr - r.warmup_lr) / r.warmup_epochs
    if epoch >= r.epochs:
        return r.min_lr
    return r.min_lr + 0.5 * (r.lr - r.min_lr) * (1 + math.cos(math.pi * epoch / r.epochs))


def make_optimizer(model, recipe):
    """The recipe's AdamW. With ``recipe.filter_bias_and_bn`` (the paper recipes) parameters are split into two
    groups as timm's ``create_optimizer_v2`` does by default in the official scripts: biases and every 1-D
    parameter (BatchNorm's weight and bias) get no weight decay; the rest decay by ``recipe.weight_decay``.
    Otherwise one group, every parameter decayed (torch's default; the quick recipes)."""
    # On a GPU, torch's fused AdamW: one kernel for every parameter instead of a few per tensor. The CPU
    # keeps the default implementation, so CPU runs (and their bit-exact resume) are unchanged.
    fused = {"fused": True} if next(model.parameters()).device.type == "cuda" else {}
    if not recipe.filter_bias_and_bn:
        return torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, **fused)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return torch.optim.AdamW([dict(params=no_decay, weight_decay=0.0), dict(params=decay, weight_decay=recipe.weight_decay)],
                             lr=recipe.lr, **fused)


# ---------------------------------------------------------------- data

@dataclass
class Split:
    """One split of a data set: ``x`` uint8 (N, H, W, 3) images in memory, or event frames (N, T, P, H, W),
    either a ``FrameStore`` on disk (integer counts, read a batch at a time) or a tensor in memory;
    ``y`` int64 (N,); and ``source``, the label every result made with it carries."""
    x: object
    y: torch.Tensor
    kind: str  # "cifar" or "events"
    source: str
    num_classes: int

    def __len__(self):
        return len(self.y)

    def subset(self, n, seed=0):
        """The first ``n`` of a fixed random order: a class-balanced-in-expectation subset."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        from .data.framestore import FrameStore

        x = self.x.subset(idx) if isinstance(self.x, FrameStore) else self.x[idx]
        return Split(x, self.y[idx], self.kind, f"{self.source} (subset of {n:,})", self.num_classes)


def _event_split(samples, labels, sensor_size, T, source, key, root, progress=True):
    """Recordings framed into a ``FrameStore`` in the cache folder, keyed by ``key`` (built on first use)."""
    from .data import cache_folder
    from .data.events import FrameCache, to_frames, validate_events
    from .data.framestore import FrameStore

    folder = FrameCache(cache_folder(root) / "frames", T=T, by="number", sensor_size=tuple(sensor_size), **key).folder
    store = FrameStore.build(folder / "store", len(samples),
                             lambda i: to_frames(validate_events(samples[i], sensor_size), sensor_size, T),
                             progress=progress, desc=f"framing {key['dataset']} {key['split']} (T={T}, once)")
    return Split(store, torch.from_numpy(np.asarray(labels, np.int64)), "events", source, 10)


def load_split(data, split, T=None, root=None, sim_size=2000, progress=True):
    """Split ``split`` ("train" or "test") of data set ``data`` (a key of ``DATASETS``).

    CIFAR images are held in memory as uint8. Event data sets are framed into ``T`` bins of equal
    event count once, into a ``FrameStore`` on disk (integer counts; a progress bar while it is
    built; a killed build resumes), and read a batch at a time, so memory does not grow with the
    number of recordings. Raises FileNotFoundError that names what fetches the data.
    """
    from .data import data_root

    if data not in DATASETS:
        raise ValueError(f"unknown data set {data!r}; choose one of {sorted(DATASETS)}")
    root = data_root(root)
    try:
        if data in ("cifar10", "cifar100"):
            from .data import load_cifar

            d = load_cifar(data, split, root)
            return Split(torch.from_numpy(d.images), torch.from_numpy(d.labels), "cifar", d.source, len(d.classes))
        if data == "nmnist":
            from .data.events import load_nmnist_small, nmnist_fingerprint

            samples, labels, sensor_size = load_nmnist_small(split, root)
            return _event_split(samples, labels, sensor_size, T,
                                f"N-MNIST, real recordings: the offline subset's {len(labels):,} {split} samples",
                                dict(dataset="nmnist", split=split, source=nmnist_fingerprint(root)), root, progress)
        if data == "cifar10dvs-sim":
            return simulated_cifar10dvs(split, T, root, n=sim_size if split == "train" else sim_size // 5)
        from .data.neuromorphic import EventFrames

        ds = EventFrames(data, split, root, T=T)
        if len(ds) == 0:
            raise FileNotFoundError(f"no {split} recordings of {data!r} were found under {root or 'the data root'}")
        return Split(ds.store(progress), torch.from_numpy(ds.labels.astype(np.int64)), "events",
                     f"{data} ({split}, {len(ds):,} recordings)", DATASETS[data][1]["num_classes"])
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e}\nData set {data!r} is missing; it comes from: {DATA_HINTS[data]}") from None


def simulated_cifar10dvs(split, T, root=None, n=2000):
    """``n`` CIFAR-10 images (a fixed class-balanced selection) through the DVS emulator, as (T, 2, 32, 32) frames.

    Simulated events, not CIFAR10-DVS recordings: every result says so.
    """
    from .data import cifar10_examples
    from .data.cifar import cifar10_source
    from .data.emulator import SIMULATED_PREFIX, emulate_events
    from .data.events import to_frames

    per_class, total = n // 10, 5000 if split == "train" else 1000
    indices = np.concatenate([c * total + np.arange(per_class) for c in range(10)])
    images, labels = cifar10_examples(indices, split, root)
    frames = []
    for i, img in enumerate(images):
        events, sensor = emulate_events(img, seed=i)
        frames.append(to_frames(events, sensor, T))
    return Split(torch.from_numpy(np.stack(frames)), torch.from_numpy(labels), "events",
                 f"{SIMULATED_PREFIX}{cifar10_source(root)}: {len(labels):,} {split} images (simulated CIFAR10-DVS)", 10)


def make_batch(split, idx, train, recipe, epoch, generator, cfg, device=None):
    """Inputs (T, B, C, H, W) and targets for the samples ``idx`` of ``split``.

    Training batches are augmented as ``recipe.augment`` says; targets are soft (label
    smoothing, mixup) in training and class indices in evaluation. Event frames are read as
    integer counts, moved to ``device`` (if given) and made float there, then augmented; the
    random draws come from ``generator`` on the CPU whatever the device.
    """
    from .data import augment
    from .data.cifar import normalize

    y = split.y[idx]
    if split.kind == "cifar":
        x = split.x[idx].permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W) in [0, 1]
        if train and recipe.augment == "official":
            x, _ = _official_cifar_augment(split.num_classes)(x, y, epoch, generator=generator)
        else:
            if train and recipe.augment == "flip_crop":
                x = augment.flip_crop(x, generator)
            elif train and recipe.augment == "flip":
                x = augment.hflip(x, 0.5, generator)
            x = normalize(x)
        if device is not None:
            x = x.to(device, non_blocking=True)  # one image per sample travels, not T copies
    else:
        x = split.x[idx]  # (B, T, P, H, W): integer counts from a FrameStore, or frames held in memory
        if device is not None:
            x = x.to(device, non_blocking=True)
        if not x.is_floating_point():
            x = x.float()  # counts are exact in float32: the same frames as framing straight to float
        if train and recipe.augment in ("official", "flip", "flip_crop"):
            x = augment.hflip(x, 0.5, generator)
            if recipe.augment == "official":
                x = augment.snn_augment_wide(x, generator=generator)
        x = x.transpose(0, 1)  # (T, B, P, H, W)
    direct = split.kind == "cifar"  # x is still (B, 3, H, W): direct encoding repeats it over T at the end
    target = None
    if train:
        target = augment.smooth_one_hot(y, split.num_classes, recipe.smoothing)
        if recipe.mixup_alpha > 0 and epoch < recipe.mixup_off_epoch:
            if float(torch.rand(1, generator=generator)) < recipe.mixup_prob:
                lam = float(torch.distributions.Beta(recipe.mixup_alpha, recipe.mixup_alpha).sample())
                x = lam * x + (1 - lam) * x.flip(0 if direct else 1)  # the batch axis
                target = lam * target + (1 - lam) * target.flip(0)
    if direct:
        x = x.unsqueeze(0).expand(cfg.T, *x.shape)  # direct encoding: (T, B, 3, H, W), a view
    return (x, target) if train else (x, y)


@functools.lru_cache(maxsize=4)
def _official_cifar_augment(num_classes):
    """The official CIFAR augmentation without its mixup (make_batch mixes for both kinds of data), built once."""
    from .data import augment

    return augment.CifarTrainAugment(num_classes=num_classes, mixup_alpha=0.0)


# ---------------------------------------------------------------- one epoch

def soft_cross_entropy(logits, target):
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


def autocast(device, recipe, bf16=False, amp_dtype=None):
    """On CUDA when the recipe says amp: autocast to ``amp_dtype``, by default bfloat16 where the GPU has
    it and float16 where not (``gpu.amp_dtype``; float16 needs a GradScaler). On CPU: bfloat16 when
    asked (``bf16``). Else a no-op."""
    if device.type == "cuda" and recipe.amp:
        return torch.autocast("cuda", dtype=amp_dtype or gpu.amp_dtype(device))
    if device.type == "cpu" and bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def epoch_order(n, epoch, seed, batch_size, rank=0, world=1):
    """The batches of ``epoch``: a permutation seeded by (seed, epoch), cut into global batches of
    ``batch_size`` (the last, incomplete one is dropped, as the official loaders do); each process
    takes its ``rank``-th share of every global batch."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    steps = n // batch_size
    per = batch_size // world
    return [perm[s * batch_size + rank * per: s * batch_size + (rank + 1) * per] for s in range(steps)]


def _reduce(values, device):
    """Sum a list of floats over all processes (a no-op without torch.distributed)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


@dataclass
class EpochState:
    """Where a run stands inside an epoch, so that a checkpoint taken mid-epoch can continue it."""
    step: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    time_s: float = 0.0
    gen_state: object = None  # the epoch's augmentation generator at ``step`` (a uint8 tensor)


def train_one_epoch(model, split, optimizer, recipe, epoch, cfg, device=torch.device("cpu"), seed=0, scaler=None,
                    bf16=False, rank=0, world=1, state=None, on_step=None, progress=True, max_steps=None,
                    amp_dtype=None, sync_every=None):
    """One epoch of training. Returns dict(loss, acc, img_per_s, time_s, steps, lr).

    ``state``: an ``EpochState`` to continue from (a mid-epoch checkpoint). ``on_step(state)`` is
    called after every step (the CLI saves checkpoints there). A non-finite loss raises TrainingError
    naming the epoch and step; nothing is written after it.
    """
    from .progress import tqdm

    model.train()
    batches = epoch_order(len(split), epoch, seed, recipe.batch_size, rank, world)
    if max_steps is not None:
        batches = batches[:max_steps]
    state = state or EpochState()
    gen = torch.Generator().manual_seed((seed * 100_003 + epoch) * 64 + rank)
    if state.step == 0:  # the global RNG (kornia's erasing, the Beta draw) is seeded per epoch too
        torch.manual_seed((seed * 100_003 + epoch) * 64 + rank + 1)
    else:  # a mid-epoch checkpoint restored the global RNG; the epoch's generator continues here
        gen.set_state(state.gen_state)
    bar = tqdm(total=len(batches), initial=state.step, desc=f"epoch {epoch}", disable=not progress or rank != 0,
               leave=False, dynamic_ncols=True)
    steps_per_epoch = len(batches)
    # The host reads the steps' losses and accuracies every ``sync_every`` steps: every step on the CPU,
    # where reading costs nothing; in blocks of SYNC_EVERY on a GPU, which computes asynchronously: while
    # it runs a step, the CPU makes the next batch and queues its kernels, and a read would make it wait.
    # Checkpoints (on_step) are taken only after a read, so a non-finite loss is found before anything
    # is written after it.
    sync_every = sync_every or (1 if device.type == "cpu" else SYNC_EVERY)
    pending, block_t0 = [], None

    def read_pending():
        nonlocal block_t0
        losses = torch.stack([loss for _, loss, _, _ in pending]).tolist()  # the one synchronisation
        corrects = torch.stack([c for _, _, c, _ in pending]).tolist()
        _check_deferred_input(model)
        for (step, _, _, B), loss, correct in zip(pending, losses, corrects):
            if not math.isfinite(loss):
                raise TrainingError(f"non-finite loss ({loss}) at epoch {epoch}, step {step}: the run stops; "
                                    "the last checkpoint written before this step is kept")
            state.loss_sum += loss * B
            state.correct += correct
            state.seen += B
        state.time_s += time.perf_counter() - block_t0
        state.step = pending[-1][0] + 1
        bar.set_postfix(loss=f"{state.loss_sum / state.seen:.3f}", acc=f"{state.correct / state.seen:.3f}",
                        img_s=f"{state.seen * world / state.time_s:.0f}", refresh=False)
        bar.update(len(pending))
        pending.clear()
        block_t0 = None

    for step in range(state.step, len(batches)):
        if block_t0 is None:
            block_t0 = time.perf_counter()
        lr = lr_at(epoch + step / steps_per_epoch if recipe.per_step_lr else epoch, recipe)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, target = make_batch(split, batches[step], True, recipe, epoch, gen, cfg, device)
        x, target = x.to(device, non_blocking=True), target.to(device, non_blocking=True)
        with autocast(device, recipe, bf16, amp_dtype):
            logits = model(x)
        loss = soft_cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        pending.append((step, loss.detach(), (logits.argmax(1) == target.argmax(1)).sum(), len(target)))
        if len(pending) == sync_every or step + 1 == len(batches):
            read_pending()
            if on_step is not None and state.step < len(batches):
                state.gen_state = gen.get_state()
                on_step(state)
    bar.close()
    loss_sum, correct, seen = _reduce([state.loss_sum, state.correct, float(state.seen)], device)
    return dict(loss=loss_sum / seen, acc=correct / seen, img_per_s=seen / max(state.time_s, 1e-9),
                time_s=state.time_s, steps=len(batches), lr=optimizer.param_groups[0]["lr"])


@torch.no_grad()
def evaluate(model, split, batch_size=256, device=torch.device("cpu"), cfg=None, bf16=False, progress=True,
             rank=0, world=1, recipe=None, amp_dtype=None):
    """Top-1 accuracy and mean cross-entropy on every sample of ``split``. Returns dict(loss, acc, n, time_s)."""
    from .progress import tqdm

    cfg = cfg or _unwrap(model).cfg
    recipe = recipe or RECIPES[("cifar", "quick")]
    model.eval()
    idx = torch.arange(len(split))[rank::world]
    losses, corrects = [], []  # per batch, on the device: read once at the end (no sync per batch)
    t0 = time.perf_counter()
    for start in tqdm(range(0, len(idx), batch_size), desc="evaluate", disable=not progress or rank != 0,
                      leave=False, dynamic_ncols=True):
        x, y = make_batch(split, idx[start:start + batch_size], False, recipe, 0, None, cfg, device)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, recipe, bf16, amp_dtype):
            logits = model(x)
        losses.append(F.cross_entropy(logits.float(), y, reduction="sum"))
        corrects.append((logits.argmax(1) == y).sum())
    _check_deferred_input(model)
    loss_sum = sum(torch.stack(losses).tolist()) if losses else 0.0
    correct = float(sum(torch.stack(corrects).tolist())) if corrects else 0.0
    loss_sum, correct, n = _reduce([loss_sum, correct, float(len(idx))], device)
    return dict(loss=loss_sum / n, acc=correct / n, n=int(n), time_s=time.perf_counter() - t0)


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _check_deferred_input(model):
    """Raise a GPU forward pass's deferred NaN/Inf input error (``Spikformer.check_deferred_input``)."""
    check = getattr(_unwrap(model), "check_deferred_input", None)
    if check is not None:
        check()


# ---------------------------------------------------------------- the run

def parse_overrides(items):
    """["depth=2", "sps_pool=(True, True, False, False)"] -> {"depth": 2, "sps_pool": (True, True, False, False)}."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects FIELD=VALUE (for example depth=2), got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k.strip()] = v
    return out


def hardware():
    """A one-line description of the machine: CPU model and cores, or the GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        desc += f"; GPU {torch.cuda.get_device_name(0)}"
    return desc


def git_commit():
    """HEAD of the checkout the package runs from, marked when its package code has uncommitted changes."""
    here = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=here).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(here)], capture_output=True, text=True,
                               check=True, cwd=here).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes" if dirty else head


def build_parser():
    p = argparse.ArgumentParser(prog="python -m spikformer_lite.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True, help=f"a create_model name: {', '.join(list_models())}")
    p.add_argument("--recipe", default="quick", choices=("paper", "quick"),
                   help="paper: the official settings for the data set; quick: small and CPU-friendly")
    p.add_argument("--data", choices=sorted(DATASETS), help="data set (default: the preset's)")
    p.add_argument("--set", nargs="*", metavar="FIELD=VALUE", default=[],
                   help="model config overrides, e.g. depth=2 embed_dim=128 (after the recipe's own)")
    p.add_argument("--epochs", type=int, help="cosine epochs (the recipe's cooldown follows)")
    p.add_argument("--cooldown-epochs", type=int)
    p.add_argument("--warmup-epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch size over all processes")
    p.add_argument("--lr", type=float)
    p.add_argument("--T", type=int, help="time steps")
    p.add_argument("--augment", choices=("official", "flip_crop", "flip", "none"))
    p.add_argument("--train-subset", type=int, help="train on this many samples (a fixed random subset)")
    p.add_argument("--test-subset", type=int, help="evaluate on this many test samples")
    p.add_argument("--max-steps", type=int, help="stop each epoch after this many steps (smoke tests)")
    p.add_argument("--data-root", help="data folder (default: $SPIKFORMER_DATA or ~/.cache/spikformer_lite)")
    p.add_argument("--out", required=True, help="output folder: last.pt, log.csv, log.json")
    p.add_argument("--device", default=str(gpu.default_device()))
    p.add_argument("--backend", choices=BACKENDS,
                   help="LIF backend (default: numba on CPU; auto on CUDA, which is triton when triton imports, "
                        "else torch; fused: torch.compile)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for the training steps on CPU (where the CPU has bf16); the test set is "
                        "still evaluated in float32, as the published model and the engine run")
    p.add_argument("--no-amp", action="store_true", help="no autocast on CUDA: float32 (matmuls in TF32)")
    p.add_argument("--amp-dtype", choices=("bf16", "fp16"),
                   help="autocast dtype on CUDA (default: bf16 where the GPU has it, else fp16 with a GradScaler)")
    p.add_argument("--deterministic", action="store_true",
                   help="CUDA: deterministic algorithms (torch.use_deterministic_algorithms, cuBLAS workspace, no "
                        "cuDNN autotuner), so that a resumed run matches an uninterrupted one where torch can "
                        "guarantee it. CPU runs are deterministic without it")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes (CUDA only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from the weights of a finished run's epoch.pt (or a published file): a further "
                        "training stage with its own schedule and a fresh optimizer; the manifest records both")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="also checkpoint inside an epoch this often (0: only at epoch ends)")
    p.add_argument("--stop-after-epochs", type=int,
                   help="end this invocation after this many epochs (the schedule still spans --epochs)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _setup_distributed(device_arg):
    """DDP from torchrun's environment: NCCL on CUDA, gloo on CPU. Returns (rank, world, local_rank, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0, torch.device(device_arg)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(device_arg)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, local_rank, device


def run(argv=None):
    """The CLI: parse, check, train, checkpoint, log. Returns the final log rows."""
    args = build_parser().parse_args(argv)
    if args.preset not in list_models():
        raise SystemExit(f"error: unknown preset {args.preset!r}; choose one of {list_models()}")
    data = args.data or default_data(args.preset)
    kind, data_fields = DATASETS[data]
    recipe = get_recipe(data, args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        augment=args.augment, cooldown_epochs=args.cooldown_epochs,
                        warmup_epochs=args.warmup_epochs)
    if args.no_amp:
        recipe = replace(recipe, amp=False)
    try:
        user = parse_overrides(args.set)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    overrides = {**recipe.model_overrides, **data_fields, **user}
    if args.T is not None:
        overrides["T"] = args.T
    device_type = torch.device(args.device).type
    overrides.setdefault("backend", gpu.lif_backend(device_type))
    if args.backend:
        overrides["backend"] = args.backend
    problems = []
    if device_type == "cuda" and not torch.cuda.is_available():
        problems.append("--device cuda, but CUDA is not available here")
    if device_type == "cuda" and overrides["backend"] == "numba":
        problems.append("--backend numba runs on CPU only; use --backend torch with --device cuda")
    if args.bf16 and device_type != "cpu":
        problems.append("--bf16 is for CPU; on CUDA the recipe's autocast applies (--amp-dtype to choose, "
                        "--no-amp to disable)")
    if args.amp_dtype and device_type != "cuda":
        problems.append("--amp-dtype is for CUDA; on CPU use --bf16")
    if overrides["backend"] == "triton" and device_type != "cuda":
        problems.append("--backend triton runs on CUDA only; use numba or torch on the CPU")
    if args.amp_dtype == "bf16" and device_type == "cuda" and torch.cuda.is_available() and not gpu.bf16_supported():
        problems.append(f"--amp-dtype bf16, but {torch.cuda.get_device_name(0)} has no bfloat16; use fp16")
    if args.sync_bn and device_type != "cuda":
        problems.append("--sync-bn needs CUDA (torch's SyncBatchNorm has no CPU path)")
    if recipe.warmup_epochs > recipe.epochs:
        problems.append(f"warmup ({recipe.warmup_epochs} epochs) is longer than the schedule ({recipe.epochs})")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if recipe.batch_size % world:
        problems.append(f"the global batch size {recipe.batch_size} is not divisible by the {world} processes")
    if problems:
        raise SystemExit("error: " + "; ".join(problems))
    try:
        cfg = get_config(args.preset, **overrides)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    if kind == "cifar" and cfg.encoding != "direct" or kind == "events" and cfg.encoding != "events":
        raise SystemExit(f"error: preset {args.preset!r} takes {cfg.encoding!r} input, but data set {data!r} gives "
                         f"{'images' if kind == 'cifar' else 'events'}; choose a matching --preset or --data")
    if args.threads:  # numba's LIF kernels too: two thread pools on too few cores stall each other
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))

    rank, world, _, device = _setup_distributed(args.device)
    cuda_settings = gpu.setup_cuda(args.deterministic) if device.type == "cuda" else {}
    amp_dtype = None
    if device.type == "cuda" and recipe.amp:
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp_dtype) or gpu.amp_dtype(device)
    out = Path(args.out)
    ckpt_path = out / "last.pt"
    if ckpt_path.exists() and not args.resume:
        raise SystemExit(f"error: {ckpt_path} exists; pass --resume to continue that run or choose another --out")
    if args.resume and not ckpt_path.exists():
        raise SystemExit(f"error: --resume, but there is no checkpoint at {ckpt_path}")

    try:
        show = not args.no_progress and rank == 0
        train_split = load_split(data, "train", cfg.T, args.data_root, progress=show).subset(args.train_subset, args.seed)
        test_split = load_split(data, "test", cfg.T, args.data_root, progress=show).subset(args.test_subset, args.seed + 1)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}")
    if len(train_split) < recipe.batch_size:
        raise SystemExit(f"error: {len(train_split)} training samples are fewer than one batch ({recipe.batch_size})")

    torch.manual_seed(args.seed)
    model = Spikformer(cfg).to(device)
    optimizer = make_optimizer(model, recipe)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    meta = dict(preset=args.preset, data=data, recipe_name=args.recipe, recipe=asdict(recipe), argv=list(argv or sys.argv[1:]),
                commit=git_commit(), hardware=hardware(), world_size=world, data_source=train_split.source,
                test_source=test_split.source, bf16=bool(args.bf16), seed=args.seed,
                amp_dtype=str(amp_dtype).replace("torch.", "") if amp_dtype else None,
                deterministic=bool(args.deterministic), cuda=cuda_settings)
    if args.init_from:
        meta["init_from"] = _init_from(model, args.init_from, cfg, args.preset, device, start=not args.resume)
    rows, epoch, epoch_state, wall_s = [], 0, EpochState(), 0.0
    if args.resume:
        ckpt = load_checkpoint(ckpt_path, map_location=device)
        check_same_model(ckpt, cfg, args.preset, ckpt_path)
        # a checkpoint written before a Recipe field existed ran with that field's default
        stored = {**{f.name: f.default for f in fields(Recipe) if f.default is not MISSING}, **ckpt["meta"]["recipe"]}
        if stored != asdict(recipe):
            raise SystemExit(f"error: {ckpt_path} was written with recipe {ckpt['meta']['recipe']}, not {asdict(recipe)}; "
                             "resume with the same flags")
        if ckpt["meta"].get("init_from", {}).get("sha256") != meta.get("init_from", {}).get("sha256"):
            raise SystemExit(f"error: {ckpt_path} started from {ckpt['meta'].get('init_from', {}).get('path')}, "
                             f"not from {args.init_from}; resume with the same --init-from")
        if ckpt["meta"].get("amp_dtype") != meta["amp_dtype"]:
            raise SystemExit(f"error: {ckpt_path} was trained with autocast dtype {ckpt['meta'].get('amp_dtype')}, "
                             f"this run would use {meta['amp_dtype']}; resume with the same --amp-dtype/--no-amp")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        rows, epoch, wall_s = ckpt["meta"]["log"], ckpt["epoch"], ckpt["meta"]["wall_s"]
        if ckpt["step"]:
            epoch_state = EpochState(**ckpt["epoch_state"], gen_state=ckpt["gen_state"])
        if rank == 0:
            print(f"resumed {ckpt_path}: epoch {epoch}, step {ckpt['step']}", flush=True)
    train_model = model
    if world > 1:
        if args.sync_bn:
            train_model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(train_model)
        train_model = torch.nn.parallel.DistributedDataParallel(
            train_model, device_ids=[device.index] if device.type == "cuda" else None)

    def checkpoint(epoch, state):
        if rank != 0:
            return
        save_checkpoint(ckpt_path, dict(
            model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=dict(epoch=epoch),
            scaler=scaler.state_dict() if scaler is not None else {}, rng=rng_state(), epoch=epoch,
            step=state.step, epoch_state={k: v for k, v in vars(state).items() if k != "gen_state"},
            gen_state=state.gen_state if state.gen_state is not None else torch.zeros(0, dtype=torch.uint8),
            config=config_to_dict(cfg), preset=args.preset, meta={**meta, "log": rows, "wall_s": wall_s}))

    last_save = [time.monotonic()]

    def on_step(state):
        if args.checkpoint_minutes and time.monotonic() - last_save[0] > 60 * args.checkpoint_minutes:
            checkpoint(epoch, state)
            last_save[0] = time.monotonic()

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(dict(config=config_to_dict(cfg), **meta), indent=1))
        print(f"{args.preset} ({sum(p.numel() for p in model.parameters()) / 1e6:.3f}M parameters, T={cfg.T}) on "
              f"{train_split.source}: {len(train_split):,} train / {len(test_split):,} test; "
              f"{recipe.epochs}+{recipe.cooldown_epochs} epochs of {recipe.batch_size}; {meta['hardware']}",
              flush=True)
    total = recipe.epochs + recipe.cooldown_epochs
    done_now = 0
    while epoch < total:
        if args.stop_after_epochs is not None and done_now >= args.stop_after_epochs:
            break
        t0 = time.perf_counter()
        tr = train_one_epoch(train_model, train_split, optimizer, recipe, epoch, cfg, device, args.seed, scaler,
                             args.bf16, rank, world, epoch_state, on_step, not args.no_progress, args.max_steps,
                             amp_dtype)
        te = evaluate(train_model, test_split, recipe.eval_batch_size, device, cfg, False,
                      not args.no_progress, rank, world, recipe, amp_dtype)
        wall_s += time.perf_counter() - t0
        rows.append(dict(epoch=epoch, lr=tr["lr"], train_loss=tr["loss"], train_acc=tr["acc"],
                         test_loss=te["loss"], test_acc=te["acc"], train_img_s=tr["img_per_s"],
                         epoch_s=time.perf_counter() - t0, wall_s=wall_s))
        epoch, epoch_state, done_now = epoch + 1, EpochState(), done_now + 1
        checkpoint(epoch, epoch_state)
        if rank == 0:  # the last finished epoch stays in epoch.pt while last.pt moves on inside the next one
            shutil.copyfile(ckpt_path, out / "epoch.pt")
        last_save[0] = time.monotonic()
        if rank == 0:
            write_logs(out, rows)
            r = rows[-1]
            print(f"epoch {r['epoch']}: lr {r['lr']:.2e}  train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f}  "
                  f"test loss {r['test_loss']:.4f} acc {r['test_acc']:.4f}  {r['train_img_s']:.0f} img/s  "
                  f"{r['epoch_s']:.0f} s", flush=True)
    if world > 1:
        torch.distributed.destroy_process_group()
    return rows


def _init_from(model, path, cfg, preset, device, start):
    """Check the checkpoint a further stage starts from; load its weights when ``start``. Returns its record."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: --init-from {path}: no such file")
    parent = load_checkpoint(path, map_location=device)
    check_same_model(parent, cfg, preset, path)
    if parent.get("step"):
        raise SystemExit(f"error: --init-from {path} is a mid-epoch checkpoint; use the epoch.pt of a finished epoch")
    pm = parent["meta"]
    if start:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in parent["model"].items()})
    return dict(path=str(path), sha256=sha256sum(path), epochs=parent["epoch"], wall_s=pm.get("wall_s", 0.0),
                command="python -m spikformer_lite.train " + " ".join(pm["argv"]), commit=pm["commit"],
                hardware=pm["hardware"], recipe=pm["recipe"], log=pm.get("log", []), init_from=pm.get("init_from"))


def write_logs(out, rows):
    """log.csv and log.json: one row per finished epoch (each written atomically)."""
    out = Path(out)
    tmp = out / ".log.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tmp.replace(out / "log.csv")
    tmp = out / ".log.json.tmp"
    tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(out / "log.json")


def main(argv=None):
    try:
        run(argv)
    except (TrainingError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
