"""Data sets. Nothing here downloads at import time.

The data root is, in order: the ``root`` argument, the ``SPIKFORMER_DATA``
environment variable, ``~/.cache/spikformer_lite``.
"""

import os
from pathlib import Path

from .cifar import (
    CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, JPEG_SOURCE, ChecksumError, cifar10_examples, download, load_cifar, to_tensor,
)

DEFAULT_ROOT = Path("~/.cache/spikformer_lite")


def data_root(root=None):
    """The data root as a Path (it need not exist yet)."""
    return Path(root or os.environ.get("SPIKFORMER_DATA") or DEFAULT_ROOT).expanduser()


__all__ = ["data_root", "cifar10_examples", "to_tensor", "load_cifar", "download", "ChecksumError",
           "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "JPEG_SOURCE"]
