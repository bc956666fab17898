"""Event streams in tonic's layout, and their frames.

An event camera reports, per pixel and asynchronously, when the log intensity
changes by more than a contrast threshold: an event (x, y, t, p) with p = 1 for
brighter (ON) and 0 for darker (OFF). tonic stores a recording as a structured
array with fields x, y (int16), t (int64, microseconds) and p (bool), sorted
by t. Spikformer turns a recording into T frames with equal event counts
(SpikingJelly's ``split_by='number'``, as the official CIFAR10-DVS code does).
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])  # tonic's events_struct


def validate_events(events, sensor_size, name="events"):
    """Check a recording: fields x, y, t, p; t non-decreasing; 0 <= x < W, 0 <= y < H; p in {0, 1}.

    ``sensor_size`` is tonic's ``(W, H, P)``. Returns ``events`` unchanged; raises
    ValueError that names the first offending event otherwise.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise ValueError(f"{name} must be a structured numpy array with fields x, y, t, p (tonic's layout), "
                         f"got {type(events).__name__}")
    missing = [f for f in ("x", "y", "t", "p") if f not in events.dtype.names]
    if missing:
        raise ValueError(f"{name} lacks field(s) {missing}; expected x, y, t, p, got {events.dtype.names}")
    if len(sensor_size) != 3 or min(sensor_size) < 1:
        raise ValueError(f"sensor_size must be (W, H, P) with positive entries, got {tuple(sensor_size)}")
    W, H, P = (int(s) for s in sensor_size)
    if len(events) == 0:
        return events
    dt = np.diff(events["t"].astype(np.int64))  # int64: tonic's CIFAR10-DVS reader gives uint64 times
    if (dt < 0).any():
        i = int(np.argmax(dt < 0))
        raise ValueError(f"{name}: timestamps must not decrease, but t[{i + 1}] = {events['t'][i + 1]} < "
                         f"t[{i}] = {events['t'][i]}")
    for field, size in (("x", W), ("y", H)):
        coord = events[field].astype(np.int64)
        bad = (coord < 0) | (coord >= size)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}: {field}[{i}] = {events[field][i]} lies outside the sensor "
                             f"(0 <= {field} < {size} for sensor_size (W, H, P) = {(W, H, P)})")
    p = events["p"].astype(np.int64)
    if ((p < 0) | (p >= P)).any():
        i = int(np.argmax((p < 0) | (p >= P)))
        raise ValueError(f"{name}: p[{i}] = {p[i]} is not a polarity of a {P}-polarity sensor")
    return events


def to_frames(events, sensor_size, T, by="number"):
    """Integrate a recording into T frames: float32 (T, P, H, W). Every event is counted.

    ``by="number"`` (the paper's): frame i holds events [i*k, (i+1)*k) with k = N // T, and the
    last frame also the N mod T events after them, as SpikingJelly's ``split_by='number'``.
    ``by="time"``: T windows of equal duration w = (t_last - t_first) // T, the last one also
    taking the events after T*w. The binning is tonic's ``ToFrame`` (``n_event_bins`` or
    ``n_time_bins``), which leaves those last events out; they are added back here. An empty
    recording gives T empty frames.
    """
    import tonic

    validate_events(events, sensor_size)
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if by not in ("number", "time"):
        raise ValueError(f"by must be 'number' or 'time', got {by!r}")
    W, H, P = (int(s) for s in sensor_size)
    if len(events) == 0:
        return np.zeros((T, P, H, W), np.float32)
    t = events["t"].astype(np.int64)
    if by == "number":
        frames = tonic.transforms.ToFrame(sensor_size=(W, H, P), n_event_bins=T)(events)
        first_left_out = (len(events) // T) * T
    else:
        window = (t[-1] - t[0]) // T
        if window < 1:
            raise ValueError(f"a recording of {t[-1] - t[0]} us cannot be cut into {T} time bins; use by='number'")
        frames = tonic.transforms.ToFrame(sensor_size=(W, H, P), n_time_bins=T)(events)
        first_left_out = int(np.searchsorted(t, t[0] + T * window))
    frames = frames.astype(np.float32)
    tail = events[first_left_out:]
    np.add.at(frames[-1], (tail["p"].astype(np.int64), tail["y"].astype(np.int64), tail["x"].astype(np.int64)), 1)
    return frames


def mask_pixels(events, pixels):
    """Drop the events of the given (x, y) pixels, e.g. N-MNIST's hot pixel (18, 30)."""
    keep = np.ones(len(events), bool)
    for x, y in pixels:
        keep &= ~((events["x"] == x) & (events["y"] == y))
    return events[keep]


class FrameCache:
    """Frames saved on disk after the first pass, in a folder keyed by the framing parameters.

    ``cache.get(key, make)`` returns ``make()``'s array, computing and saving it only
    the first time for that key under these parameters.
    """

    def __init__(self, folder, **params):
        digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
        self.folder = Path(folder) / digest
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "params.json").write_text(json.dumps(params, sort_keys=True, default=str, indent=1))

    def path(self, key):
        return self.folder / f"{key}.npy"

    def get(self, key, make):
        path = self.path(key)
        if path.is_file():
            return np.load(path)
        frames = make()
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")  # one per process: workers may race
        np.save(tmp, frames)
        tmp.replace(path)
        return frames


def load_nmnist_small(split="train", root=None):
    """The offline N-MNIST subset: (list of event arrays, int64 labels, sensor_size (34, 34, 2))."""
    from . import data_root

    path = data_root(root) / "nmnist_small" / "nmnist_small.npz"
    if not path.is_file():
        raise FileNotFoundError(f"N-MNIST subset not found at {path}. Run: python -m spikformer_lite.data.fetch "
                                f"nmnist_small --root {data_root(root)}  (builds it from the official N-MNIST "
                                "archives), or set SPIKFORMER_DATA to the folder that holds nmnist_small/")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with np.load(path) as d:
        events, offsets, labels = d[f"{split}_events"], d[f"{split}_offsets"], d[f"{split}_labels"]
        sensor_size = tuple(int(v) for v in d["sensor_size"])
    samples = [events[offsets[i]:offsets[i + 1]] for i in range(len(labels))]
    return samples, labels.astype(np.int64), sensor_size


def nmnist_fingerprint(root=None):
    """A digest of the offline N-MNIST file, so that its frame cache is rebuilt if the file changes."""
    from .._files import file_hash
    from . import data_root

    return file_hash(data_root(root) / "nmnist_small" / "nmnist_small.npz", "sha1")[:16]


def class_split(labels, train_fraction=0.9):
    """The official CIFAR10-DVS split: per class, the first 90% of samples (in stored order) train,
    the rest test. Deterministic; returns (train_indices, test_indices)."""
    labels = np.asarray(labels)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_train = int(round(train_fraction * len(idx)))
        train.append(idx[:n_train])
        test.append(idx[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
