"""CIFAR-10 examples from the offline JPEG copy (``<root>/cifar10/cifar10_jpeg.npz``).

That archive holds all 60,000 CIFAR-10 images as the JPEG (quality 75, 4:2:0)
re-encodings of a public mirror: real images, slightly lossy, so results made
with them say "CIFAR-10, JPEG re-encoded".
"""

import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
JPEG_SOURCE = "CIFAR-10, JPEG re-encoded (quality 75)"


def _jpeg_path(root):
    from . import data_root

    return data_root(root) / "cifar10" / "cifar10_jpeg.npz"


def cifar10_examples(indices, split="test", root=None):
    """Decode a few CIFAR-10 images from the offline JPEG copy.

    Returns ``(images, labels)``: uint8 ``(n, 32, 32, 3)`` and int64 ``(n,)``.
    The records are sorted by class; ``indices`` index into that order.
    """
    from PIL import Image

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = _jpeg_path(root)
    if not path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 JPEG copy not found at {path}. Set SPIKFORMER_DATA (or pass root=) to the folder "
            "that holds cifar10/cifar10_jpeg.npz."
        )
    with np.load(path) as archive:
        buf, offsets, labels = archive[f"{split}_jpeg"], archive[f"{split}_offsets"], archive[f"{split}_labels"]
    indices = np.atleast_1d(np.asarray(indices))
    if indices.size and (indices.min() < 0 or indices.max() >= len(labels)):
        raise IndexError(f"indices must be in [0, {len(labels)}) for the {split} split, got {indices.tolist()}")
    images = np.stack([
        np.asarray(Image.frombytes("RGB", (32, 32), buf[offsets[i]:offsets[i + 1]].tobytes(), "jpeg", "RGB", ""))
        for i in indices
    ]) if indices.size else np.empty((0, 32, 32, 3), np.uint8)
    return images, labels[indices].astype(np.int64)


# Per-channel statistics of the CIFAR-10 training set, as the official recipe normalises.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def to_tensor(images, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """uint8 (n, H, W, 3) images -> normalised float32 (n, 3, H, W) tensor."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
