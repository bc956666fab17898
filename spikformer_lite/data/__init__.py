"""Data sets. Nothing here downloads at import time.

The data root is, in order: the ``root`` argument, the ``SPIKFORMER_DATA``
environment variable, ``~/.cache/spikformer_lite``.
"""

import os
from pathlib import Path

from .cifar import (
    CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, JPEG_SOURCE, ChecksumError, cifar10_examples, cifar10_source, download,
    load_cifar, to_tensor,
)

from .fetch import DataUnavailable, ensure  # noqa: E402  (fetch imports data_root lazily)

DEFAULT_ROOT = Path("~/.cache/spikformer_lite")


def data_root(root=None):
    """The data root as a Path (it need not exist yet)."""
    return Path(root or os.environ.get("SPIKFORMER_DATA") or DEFAULT_ROOT).expanduser()


def _writable(folder):
    """Whether ``folder`` may be written: its mode allows it (a folder marked read-only is left alone even by
    root, whom os.access lets write anywhere) and os.access agrees."""
    try:
        return bool(os.stat(folder).st_mode & 0o222) and os.access(folder, os.W_OK)
    except OSError:
        return False


def cache_folder(root, cache_dir=None):
    """Where decoded data is cached, created if needed: ``cache_dir`` if given, else
    ``<root>/cache`` when the data root is writable (CI's is not), else ~/.cache/spikformer_lite/cache."""
    if cache_dir is not None:
        folder = Path(cache_dir)
    elif _writable(root):
        folder = Path(root) / "cache"
    else:
        folder = (DEFAULT_ROOT / "cache").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Every data set of the paper: where it comes from, its size, and whether this book has it offline.
DATASET_TABLE = [
    dict(data="CIFAR-10", kind="static images 32x32", size="50,000 train / 10,000 test", paper="Tables 1, 3, 5",
         source="official python archive (data_scripts/download_cifar.py)",
         offline="yes: all 60,000 as JPEG quality-75 re-encodings (results labelled 'CIFAR-10, JPEG re-encoded')"),
    dict(data="CIFAR-100", kind="static images 32x32", size="50,000 train / 10,000 test", paper="Tables 3, 5",
         source="official python archive (data_scripts/download_cifar.py)", offline="no"),
    dict(data="ImageNet-1k", kind="static images 224x224", size="1.28 M train / 50,000 val", paper="Tables 2, 5",
         source="image-net.org (registration)", offline="no"),
    dict(data="DVS128 Gesture", kind="events 128x128, 11 gestures", size="1,342 gestures by 29 people (subjects 1-23 train, 24-29 test)",
         paper="Table 4", source="tonic.datasets.DVSGesture (data_scripts/download_dvs.py)", offline="no"),
    dict(data="CIFAR10-DVS", kind="events 128x128, 10 classes", size="10,000 recordings (9,000 / 1,000 split)",
         paper="Tables 1, 4", source="tonic.datasets.CIFAR10DVS (data_scripts/download_dvs.py)",
         offline="no; a simulated version comes from the emulator (labelled 'simulated')"),
    dict(data="N-MNIST (subset)", kind="events 34x34, 10 digits", size="1,000 train / 100 test recordings",
         paper="not in the paper; real event data for demos and tests", source="slayerPytorch example folder",
         offline="yes"),
]

__all__ = ["DATASET_TABLE", "data_root", "ensure", "DataUnavailable", "cifar10_examples", "to_tensor", "load_cifar", "download", "ChecksumError",
           "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "JPEG_SOURCE",
           "cifar10_source"]
