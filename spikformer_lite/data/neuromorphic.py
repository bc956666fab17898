"""DVS128 Gesture and CIFAR10-DVS through tonic, as (T, 2, H, W) frame sequences.

tonic downloads and reads the recordings (``tonic.datasets.DVSGesture``,
``tonic.datasets.CIFAR10DVS``); ``data_scripts/download_dvs.py`` runs that for
users with a network. This module never downloads: it reads what is under
``<root>/DVSGesture`` or ``<root>/CIFAR10DVS`` and says which script to run
otherwise. Frames are T bins of equal event count (``events.to_frames``),
computed once and cached on disk under a folder keyed by the parameters.
"""

import re
from pathlib import Path

import numpy as np
import torch

from .events import FrameCache, class_split, to_frames, validate_events

DATASETS = {
    # name: (tonic class name, folder of the recordings under <root>/<class name> per split, file type)
    "dvsgesture": ("DVSGesture", {"train": "ibmGestureTrain", "test": "ibmGestureTest"}, ".npy"),
    "cifar10dvs": ("CIFAR10DVS", {"train": "", "test": ""}, ".aedat4"),
}
DOWNLOAD_HINT = "python data_scripts/download_dvs.py --dataset {name} --root {root}"


def tonic_dataset(name, split, root):
    """The tonic dataset object for ``name`` ('dvsgesture' or 'cifar10dvs'), without downloading."""
    import tonic

    if name not in DATASETS:
        raise ValueError(f"unknown event data set {name!r}; choose one of {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    cls_name, folders, suffix = DATASETS[name]
    folder = Path(root) / cls_name / folders[split]
    if not folder.is_dir() or next(folder.rglob(f"*{suffix}"), None) is None:
        raise FileNotFoundError(f"{cls_name} recordings not found under {folder}. "
                                f"Run: {DOWNLOAD_HINT.format(name=name, root=root)}")
    cls = getattr(tonic.datasets, cls_name)
    if name == "dvsgesture":
        return cls(save_to=str(root), train=split == "train")
    return cls(save_to=str(root))


def _number(path):
    """The last number in a file name, for natural ordering (-1 if none)."""
    numbers = re.findall(r"\d+", Path(path).stem)
    return int(numbers[-1]) if numbers else -1


class EventFrames(torch.utils.data.Dataset):
    """(frames, label) pairs: frames float32 (T, 2, H, W), T bins of equal event count.

    For CIFAR10-DVS, which has no official split, the first 90% of each class are the
    training set and the last 10% the test set (the official Spikformer recipe).
    ``denoise_us`` applies tonic's Denoise filter (events with no neighbour within
    that many microseconds are dropped) before framing.
    """

    def __init__(self, name, split="train", root=None, T=16, denoise_us=None, cache_dir=None):
        from . import cache_folder, data_root

        root = data_root(root)
        self.name, self.split, self.T, self.denoise_us = name, split, T, denoise_us
        self.source = tonic_dataset(name, "train" if name == "cifar10dvs" else split, root)
        self.sensor_size = tuple(self.source.sensor_size)
        labels = np.asarray(self.source.targets)
        if name == "cifar10dvs":
            # tonic lists a class folder's files in file-system order; the split needs the recording
            # order, so sort by class, then by the number in the file name (cifar10_cat_123.aedat4).
            order = np.array(sorted(range(len(labels)), key=lambda i: (labels[i], _number(self.source.data[i]))),
                             dtype=np.int64)
            train, test = class_split(labels[order])
            self.indices = order[train] if split == "train" else order[test]
        else:
            self.indices = np.arange(len(labels))
        self.labels = labels[self.indices]
        cache_root = Path(cache_dir) if cache_dir else cache_folder(root) / "frames"
        self.cache = FrameCache(cache_root, dataset=name, split=split, T=T, denoise_us=denoise_us,
                                sensor_size=self.sensor_size)

    def __len__(self):
        return len(self.indices)

    def frames(self, i):
        events, _ = self.source[int(self.indices[i])]
        events = validate_events(events, self.sensor_size, name=f"{self.name} sample {int(self.indices[i])}")
        if self.denoise_us:
            import tonic

            events = tonic.transforms.Denoise(filter_time=self.denoise_us)(events)
        return to_frames(events, self.sensor_size, self.T)

    def __getitem__(self, i):
        frames = self.cache.get(f"{int(self.indices[i])}", lambda: self.frames(i))
        return torch.from_numpy(frames), int(self.labels[i])
