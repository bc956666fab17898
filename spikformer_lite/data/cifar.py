"""CIFAR-10 and CIFAR-100.

Two sources, in order of preference:
- the official "python version" archives, fetched by ``python -m spikformer_lite.data.fetch cifar10``
  or ``data_scripts/download_cifar.py`` into ``<root>/cifar10/`` and ``<root>/cifar100/``, MD5-checked;
- for CIFAR-10 only, the offline copy ``<root>/cifar10/cifar10_jpeg.npz``: all 60,000
  images as JPEG (quality 75, 4:2:0) re-encodings of a public mirror. Real images,
  slightly lossy, so results made with them say "CIFAR-10, JPEG re-encoded".
Nothing downloads unless asked (``download=True``, ``data.fetch.ensure``, or the scripts).
"""

import pickle
import tarfile
import urllib.request
from dataclasses import dataclass

import numpy as np

from .._files import file_hash

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
JPEG_SOURCE = "CIFAR-10, JPEG re-encoded (quality 75)"


def _jpeg_path(root):
    from . import data_root

    return data_root(root) / "cifar10" / "cifar10_jpeg.npz"


def cifar10_source(root=None):
    """Which CIFAR-10 copy ``cifar10_examples`` reads under ``root``, as a short label for results."""
    return "CIFAR-10, JPEG re-encoded" if _jpeg_path(root).is_file() else "CIFAR-10, official python archive"


def cifar10_examples(indices, split="test", root=None, download=False):
    """Decode a few CIFAR-10 images, from whichever copy is under the data root.

    Returns ``(images, labels)``: uint8 ``(n, 32, 32, 3)`` and int64 ``(n,)``. ``indices`` number the
    images **by class**: the offline JPEG copy is stored sorted by class (all airplanes, then all
    automobiles, ...), and the official archive is put in the same order (a stable sort by label, so
    within a class its own order is kept). Record 3007 of the test split is therefore always a cat.
    With ``download=True`` a missing copy is fetched first (``data.fetch.ensure("cifar10")``).
    """
    from . import data_root

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if download:
        from .fetch import ensure_cifar10

        ensure_cifar10(root)
    path = _jpeg_path(root)
    official = data_root(root) / "cifar10" / ARCHIVES["cifar10"].filename
    if path.is_file():
        buf, offsets, labels = _jpeg_split(path, split)
        decode = lambda idx: _decode_jpegs(buf, offsets, idx)
    elif official.is_file():
        d = load_cifar("cifar10", split, root)
        order = np.argsort(d.labels, kind="stable")
        labels = d.labels[order]
        decode = lambda idx: d.images[order[idx]]
    else:
        raise FileNotFoundError(
            f"CIFAR-10 not found: neither the offline JPEG copy {path} nor the official archive {official}. "
            f"Run: python -m spikformer_lite.data.fetch cifar10 --root {data_root(root)}  (163 MB), "
            "or set SPIKFORMER_DATA to the folder that holds cifar10/.")
    indices = np.atleast_1d(np.asarray(indices))
    if indices.size and (indices.min() < 0 or indices.max() >= len(labels)):
        raise IndexError(f"indices must be in [0, {len(labels)}) for the {split} split, got {indices.tolist()}")
    return decode(indices), labels[indices].astype(np.int64)


def _jpeg_split(path, split):
    """The joined JPEG bytes, record offsets and labels of one split of the offline copy."""
    with np.load(path) as archive:
        return archive[f"{split}_jpeg"], archive[f"{split}_offsets"], archive[f"{split}_labels"]


def _decode_jpegs(buf, offsets, indices, progress=None):
    """Decode records ``indices`` of a joined JPEG buffer into uint8 (n, 32, 32, 3).

    Calls Pillow's JPEG decoder directly on each record (no header parsing per file).
    """
    from PIL import Image

    buf = buf.tobytes() if isinstance(buf, np.ndarray) else buf
    images = np.empty((len(indices), 32, 32, 3), np.uint8)
    for n, i in enumerate(indices if progress is None else progress(indices)):
        images[n] = np.asarray(Image.frombytes("RGB", (32, 32), buf[offsets[i]:offsets[i + 1]], "jpeg", "RGB", ""))
    return images


# Per-channel statistics of the CIFAR-10 training set, as the official recipe normalises.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def normalize(images, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """(B, C, H, W) float images in [0, 1] -> (images - mean) / std, per channel, on their device."""
    import torch

    m = torch.tensor(mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - m) / s


def to_tensor(images, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """uint8 (n, H, W, 3) images -> normalised float32 (n, 3, H, W) tensor."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    return normalize(x, mean, std)


# ---------------------------------------------------------------- full data sets

@dataclass(frozen=True)
class Archive:
    filename: str
    url: str
    md5: str
    folder: str  # top-level folder inside the tar file


# The official "python version" archives of https://www.cs.toronto.edu/~kriz/cifar.html.
ARCHIVES = {
    "cifar10": Archive("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"),
    "cifar100": Archive("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                        "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python"),
}
DOWNLOAD_HINT = "python data_scripts/download_cifar.py --dataset {name} --root {root}"  # CIFAR-100 too
FETCH_HINT = {"cifar10": "python -m spikformer_lite.data.fetch cifar10 --root {root}"}


@dataclass(frozen=True)
class CifarData:
    images: np.ndarray  # uint8 (N, 32, 32, 3)
    labels: np.ndarray  # int64 (N,)
    classes: tuple
    source: str  # which files these came from, for labelling results


class ChecksumError(RuntimeError):
    pass


def md5sum(path):
    return file_hash(path, "md5")


def download(name, root=None, urlretrieve=None):
    """Download the official archive of ``name`` into ``<root>/<name>/``, checked by MD5. Idempotent.

    Returns the archive's path. A file that is already there and passes the check is kept.
    """
    from . import data_root

    archive = _archive(name)
    folder = data_root(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / archive.filename
    if path.is_file() and md5sum(path) == archive.md5:
        return path
    partial = path.with_suffix(path.suffix + ".part")
    (urlretrieve or urllib.request.urlretrieve)(archive.url, partial)
    got = md5sum(partial)
    if got != archive.md5:
        partial.unlink()
        raise ChecksumError(f"{archive.filename} downloaded from {archive.url} has MD5 {got}, expected "
                            f"{archive.md5}; the partial file was removed, try again")
    partial.replace(path)
    return path


def load_cifar(name="cifar10", split="train", root=None, cache_dir=None):
    """CIFAR-10 or CIFAR-100 as uint8 arrays, decoded once and cached.

    Uses the official python archive in ``<root>/<name>/`` when present. For
    CIFAR-10 without it, falls back to the offline JPEG copy
    ``<root>/cifar10/cifar10_jpeg.npz`` and says so in ``source``. Otherwise
    raises FileNotFoundError naming the download script.
    """
    from . import cache_folder, data_root

    archive = _archive(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = data_root(root)
    official = root / name / archive.filename
    if official.is_file():
        source, tag = f"{'CIFAR-10' if name == 'cifar10' else 'CIFAR-100'}, official python archive", "official"
    elif name == "cifar10" and _jpeg_path(root).is_file():
        source, tag = JPEG_SOURCE, "jpeg"
    else:
        raise FileNotFoundError(f"{name} not found under {root}: expected {official}"
                                + (f" or {_jpeg_path(root)}" if name == "cifar10" else "")
                                + f". Run: {FETCH_HINT.get(name, DOWNLOAD_HINT).format(name=name, root=root)}")
    cache = cache_folder(root, cache_dir) / f"{name}_{split}_{tag}.npz"
    if cache.is_file():
        with np.load(cache) as f:
            return CifarData(f["images"], f["labels"], tuple(f["classes"].tolist()), source)
    if tag == "official":
        images, labels, classes = _read_official(official, archive, name, split)
    else:
        images, labels, classes = _read_jpeg(root, split)
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    np.savez(tmp, images=images, labels=labels, classes=np.array(classes))
    tmp.replace(cache)  # a cache file is complete or absent
    return CifarData(images, labels, tuple(classes), source)


def _archive(name):
    if name not in ARCHIVES:
        raise ValueError(f"unknown CIFAR data set {name!r}; choose one of {sorted(ARCHIVES)}")
    return ARCHIVES[name]


def _read_official(path, archive, name, split):
    """Read the pickled batches straight out of the tar file (numpy arrays, no code executed but pickle's)."""
    if name == "cifar10":
        members = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        label_key, meta_name, names_key = b"labels", "batches.meta", b"label_names"
    else:
        members = [split]
        label_key, meta_name, names_key = b"fine_labels", "meta", b"fine_label_names"
    with tarfile.open(path, "r:gz") as tar:
        def unpickle(member):
            return pickle.load(tar.extractfile(f"{archive.folder}/{member}"), encoding="bytes")

        batches = [unpickle(m) for m in members]
        classes = tuple(c.decode() for c in unpickle(meta_name)[names_key])
    data = np.concatenate([b[b"data"] for b in batches])  # (N, 3072): 1024 R, 1024 G, 1024 B
    labels = np.concatenate([np.asarray(b[label_key], np.int64) for b in batches])
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels, classes


def _read_jpeg(root, split):
    from ..progress import tqdm

    buf, offsets, labels = _jpeg_split(_jpeg_path(root), split)
    images = _decode_jpegs(buf, offsets, range(len(labels)),
                           progress=lambda it: tqdm(it, desc=f"decoding CIFAR-10 {split} JPEGs", leave=False))
    return images, labels.astype(np.int64), CIFAR10_CLASSES
