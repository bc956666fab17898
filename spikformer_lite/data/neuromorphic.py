"""DVS128 Gesture and CIFAR10-DVS through tonic, as (T, 2, H, W) frame sequences.

tonic downloads the recordings (``tonic.datasets.DVSGesture``, ``tonic.datasets.CIFAR10DVS``);
``data_scripts/download_dvs.py`` runs that for users with a network. This module never downloads:
it lists what is under ``<root>/DVSGesture`` or ``<root>/CIFAR10DVS`` itself, reads each recording
as tonic does, and, when the folder is missing or incomplete, says what it found and which command
fetches the rest. Frames are T bins of equal event count (``events.to_frames``), framed once per
(data set, split, T, binning, denoising, recordings) and kept on disk as integer counts
(``framestore.FrameStore``).
"""

import functools
import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from numpy.lib import recfunctions

from .events import FrameCache, class_split, to_frames, validate_events
from .framestore import FrameStore, count_dtype, to_counts

DATASETS = {
    # name: (tonic class name, folder of the recordings under <root>/<class name> per split, file type)
    "dvsgesture": ("DVSGesture", {"train": "ibmGestureTrain", "test": "ibmGestureTest"}, ".npy"),
    "cifar10dvs": ("CIFAR10DVS", {"train": "", "test": ""}, ".aedat4"),
}
DOWNLOAD_HINT = "python data_scripts/download_dvs.py --dataset {name} --root {root}"
CIFAR10DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10DVS_PER_CLASS = 1000  # the published set: 10,000 recordings, 1,000 per class
# tonic treats a folder with fewer recordings than this as not extracted, and downloads the archive again
TONIC_MINIMUM = {"cifar10dvs": 1000, "dvsgesture": 100}
DVSGESTURE_CLASSES = 11


def _number(path):
    """The last number in a file name, for natural ordering (-1 if none)."""
    numbers = re.findall(r"\d+", Path(path).stem)
    return int(numbers[-1]) if numbers else -1


class Recordings:
    """The recordings of one split of DVS128 Gesture or CIFAR10-DVS in tonic's on-disk layout, read with tonic.

    Offline by design: it lists the files itself and never constructs a tonic data set, so nothing is
    downloaded. A folder that is missing or incomplete (where tonic would fetch the archive again)
    raises FileNotFoundError that says what was found, what was expected, and which command fetches
    the rest. Like a tonic data set it has ``data`` (paths), ``targets``, ``sensor_size`` and
    ``self[i] -> (events, target)``; its order is fixed (class, then the number in the file name, for
    CIFAR10-DVS; user folder, then label, for DVS128 Gesture), not the file system's.
    """

    sensor_size = (128, 128, 2)

    def __init__(self, name, split, root):
        if name not in DATASETS:
            raise ValueError(f"unknown event data set {name!r}; choose one of {sorted(DATASETS)}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        cls_name, folders, suffix = DATASETS[name]
        self.name, self.split, self.root = name, split, Path(root)
        self.folder = self.root / cls_name / folders[split]
        hint = DOWNLOAD_HINT.format(name=name, root=root)
        files = sorted(self.folder.rglob(f"*{suffix}")) if self.folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"{cls_name} recordings not found under {self.folder}. Run: {hint}")
        if name == "cifar10dvs":
            by_class = {c: [] for c in CIFAR10DVS_CLASSES}
            strays = [f for f in files if f.parent.name not in by_class]
            if strays:
                raise FileNotFoundError(f"{len(strays)} .aedat4 file(s) under {self.folder} are not in a class folder "
                                        f"({', '.join(CIFAR10DVS_CLASSES)}), e.g. {strays[0]}")
            for f in files:
                by_class[f.parent.name].append(f)
            counts = {c: len(v) for c, v in by_class.items()}
            if len(files) < TONIC_MINIMUM[name] or len(set(counts.values())) > 1:
                found = ", ".join(f"{c} {k}" for c, k in counts.items())
                raise FileNotFoundError(
                    f"CIFAR10-DVS under {self.folder} is incomplete: found {len(files):,} recordings ({found}); "
                    f"expected {CIFAR10DVS_PER_CLASS:,} per class, {10 * CIFAR10DVS_PER_CLASS:,} in all. "
                    f"Fetch the rest with: {hint}")
            per_class = len(files) // 10
            if per_class < CIFAR10DVS_PER_CLASS:
                warnings.warn(f"CIFAR10-DVS under {self.folder} has {per_class:,} recordings per class, not the "
                              f"published {CIFAR10DVS_PER_CLASS:,}: results are on this subset", stacklevel=3)
            self.data = [f for c in CIFAR10DVS_CLASSES for f in sorted(by_class[c], key=lambda f: (_number(f), f.name))]
            self.targets = [CIFAR10DVS_CLASSES.index(f.parent.name) for f in self.data]
        else:
            labels = {int(f.stem) for f in files if f.stem.isdigit()}
            if len(files) < TONIC_MINIMUM[name] or labels != set(range(DVSGESTURE_CLASSES)):
                raise FileNotFoundError(
                    f"DVS128 Gesture {split} under {self.folder} is incomplete: found {len(files):,} recordings of "
                    f"{len(labels)} of the {DVSGESTURE_CLASSES} gestures (labels {sorted(labels)}); expected the "
                    f"whole split (tonic treats fewer than {TONIC_MINIMUM[name]} recordings as not extracted). "
                    f"Fetch the rest with: {hint}")
            self.data = sorted(files, key=lambda f: (f.parent.name, _number(f)))
            self.targets = [int(f.stem) for f in self.data]
        self.data = [str(f) for f in self.data]

    @functools.cached_property
    def fingerprint(self):
        """A digest of the recordings' names and sizes: the frame cache is rebuilt when they change."""
        h = hashlib.sha1()
        for f in self.data:
            h.update(f"{Path(f).relative_to(self.folder)}:{Path(f).stat().st_size};".encode())
        return h.hexdigest()[:16]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        """(events, target): events in tonic's layout, read as tonic's own data set reads them."""
        import tonic

        path = self.data[i]
        if self.name == "cifar10dvs":
            events = tonic.io.read_aedat4(path)
            events.dtype.names = ["t", "x", "y", "p"]
        else:
            raw = np.load(path)
            raw[:, 3] *= 1000  # milliseconds to microseconds
            events = recfunctions.unstructured_to_structured(raw, tonic.datasets.DVSGesture.dtype)
        return events, self.targets[i]


class EventFrames(torch.utils.data.Dataset):
    """(frames, label) pairs: frames float32 (T, 2, H, W), T bins of equal event count.

    For CIFAR10-DVS, which has no official split, the first 90% of each class are the
    training set and the last 10% the test set (the official Spikformer recipe).
    ``denoise_us`` applies tonic's Denoise filter (events with no neighbour within
    that many microseconds are dropped) before framing.

    ``store()`` frames the whole split once into a ``FrameStore`` on disk (integer counts, read a
    batch at a time); ``train.load_split`` uses it. Until then, ``self[i]`` frames sample ``i``
    and caches it on disk as integer counts; once the store exists, ``self[i]`` reads from it.
    """

    def __init__(self, name, split="train", root=None, T=16, denoise_us=None, cache_dir=None):
        from . import cache_folder, data_root

        root = data_root(root)
        self.name, self.split, self.T, self.denoise_us = name, split, T, denoise_us
        self.source = Recordings(name, "train" if name == "cifar10dvs" else split, root)
        self.sensor_size = tuple(self.source.sensor_size)
        labels = np.asarray(self.source.targets, np.int64)
        if name == "cifar10dvs":  # the source is in recording order: class, then the number in the file name
            train, test = class_split(labels)
            self.indices = train if split == "train" else test
        else:
            self.indices = np.arange(len(labels))
        self.labels = labels[self.indices]
        cache_root = Path(cache_dir) if cache_dir else cache_folder(root) / "frames"
        self.cache = FrameCache(cache_root, dataset=name, split=split, T=T, by="number", denoise_us=denoise_us,
                                sensor_size=self.sensor_size, recordings=self.source.fingerprint)
        self._store = None

    def __len__(self):
        return len(self.indices)

    def frames(self, i):
        """Sample ``i`` framed from its recording: float32 (T, P, H, W) event counts."""
        events, _ = self.source[int(self.indices[i])]
        events = validate_events(events, self.sensor_size, name=f"{self.name} sample {int(self.indices[i])}")
        if self.denoise_us:
            import tonic

            events = tonic.transforms.Denoise(filter_time=self.denoise_us)(events)
        return to_frames(events, self.sensor_size, self.T)

    def _counts(self, i):
        """Sample ``i`` as integer counts: from the per-sample cache if it is there, else framed now."""
        path = self.cache.path(int(self.indices[i]))
        return np.load(path) if path.is_file() else self.frames(i)

    @property
    def store_folder(self):
        return self.cache.folder / "store"

    def store(self, progress=True):
        """The split's frames as a ``FrameStore`` on disk, built (or resumed) on first use."""
        if self._store is None:
            self._store = FrameStore.build(
                self.store_folder, len(self), self._counts, progress=progress,
                desc=f"framing {self.name} {self.split} (T={self.T}, once)",
                meta=dict(dataset=self.name, split=self.split, T=self.T, by="number", denoise_us=self.denoise_us,
                          recordings=self.source.fingerprint))
        return self._store

    def __getitem__(self, i):
        if self._store is None and (self.store_folder / "meta.json").is_file():
            self._store = FrameStore(self.store_folder)
        if self._store is not None:
            frames = self._store[int(i)].float()
        else:
            def make():
                counts = self.frames(i)
                return to_counts(counts, count_dtype(int(counts.max()) if counts.size else 0))

            frames = torch.from_numpy(self.cache.get(f"{int(self.indices[i])}", make).astype(np.float32))
        return frames, int(self.labels[i])
