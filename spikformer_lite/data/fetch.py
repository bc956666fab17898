"""Data a chapter needs, fetched on first use when there is a network.

``ensure(name)`` makes sure data set ``name`` is under the data root and returns where it is:

- ``"cifar10"``: the offline JPEG copy or the official archive, whichever is there; otherwise the
  official archive (``cifar-10-python.tar.gz``, 163 MB, MD5-checked) is downloaded.
- ``"nmnist_small"``: the 1,000 + 100 N-MNIST recordings of ``nmnist_small/nmnist_small.npz``; if it is
  missing, the official N-MNIST archives (the files and MD5s that ``tonic.datasets.NMNIST`` uses) are
  downloaded, and the first 1,000 training and first 100 test recordings are read out of them into that
  file. The archives hold all 70,000 recordings, so this is a large download; the size is printed first.

Each download says what it fetches, from where, and how many bytes before it starts, shows a progress
bar, writes to a ``.part`` file, checks the hash and only then moves the file into place: an interrupted
or corrupted download leaves nothing behind that could be mistaken for data. Without a network the error
says exactly what is missing and the one command that fetches it::

    python -m spikformer_lite.data.fetch cifar10 [--root DIR]

Tests and CI have no network: they set ``SPIKFORMER_DOWNLOAD_MIRROR`` to a local folder or http URL that
serves files under their own names, with a ``checksums.json`` naming each file's MD5 (the mirror's files
are built from the offline copies, so their hashes differ from the official ones), and the same code runs.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIRROR_ENV = "SPIKFORMER_DOWNLOAD_MIRROR"


class DataUnavailable(FileNotFoundError):
    """The data is not on disk and could not be downloaded."""


@dataclass(frozen=True)
class Remote:
    filename: str
    url: str
    md5: str
    approx_mb: int  # what we tell readers before the server reports a size


CIFAR10_ARCHIVE = Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                         "c58f30108f718f92721af3b95e74349a", 163)
# The N-MNIST archives as tonic.datasets.NMNIST (1.7) downloads them (tests/test_fetch.py checks that they agree).
_NMNIST_BASE = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
NMNIST_TRAIN = Remote("train.zip", _NMNIST_BASE + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
                      "20959b8e626244a1b502305a9e6e2031", 1011)
NMNIST_TEST = Remote("test.zip", _NMNIST_BASE + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
                     "69ca8762b2fe404d9b9bad1103e97832", 169)
NMNIST_SUBSET = {"train": (NMNIST_TRAIN, "Train", 1000), "test": (NMNIST_TEST, "Test", 100)}


def _source(remote):
    """(url, md5) to fetch ``remote`` from: the official address, or the mirror and its checksum."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return remote.url, remote.md5
    base = mirror if "://" in mirror else Path(mirror).resolve().as_uri()
    base = base.rstrip("/") + "/"
    with urllib.request.urlopen(base + "checksums.json") as f:
        sums = json.load(f)
    if remote.filename not in sums:
        raise DataUnavailable(f"the mirror {mirror} ({MIRROR_ENV}) has no checksum for {remote.filename}")
    return base + remote.filename, sums[remote.filename]


def command(name, root=None):
    return f"python -m spikformer_lite.data.fetch {name}" + (f" --root {root}" if root else "")


def download_file(remote, dest, what, name, root=None, progress=True):
    """Fetch ``remote`` to ``dest`` (a file path), MD5-checked, atomically. Returns ``dest``."""
    from ..progress import tqdm

    from .cifar import ChecksumError, md5sum

    dest = Path(dest)
    if dest.is_file() and md5sum(dest) == remote.md5:
        return dest  # the official file is already here
    try:
        url, md5 = _source(remote)
        if dest.is_file() and md5sum(dest) == md5:
            return dest  # the mirror's file is already here
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, OSError) as err:
        raise DataUnavailable(
            f"{what} is not under {dest.parent} and could not be downloaded ({err}). "
            f"On a machine with a network run: {command(name, root)}  (about {remote.approx_mb} MB from "
            f"{remote.url}), then copy {dest} here, or set SPIKFORMER_DATA to a folder that has it.") from err
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    with response:
        size = int(response.headers.get("Content-Length") or 0)
        print(f"downloading {what}: {remote.filename}, "
              + (f"{size / 1e6:,.1f} MB" if size else f"about {remote.approx_mb} MB") + f", from {url}", flush=True)
        try:
            with open(partial, "wb") as out, tqdm(total=size or None, unit="B", unit_scale=True, desc=remote.filename,
                                                  disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        except BaseException:
            partial.unlink(missing_ok=True)  # an interrupted download leaves nothing that looks like data
            raise
    got = md5sum(partial)
    if got != md5:
        partial.unlink()
        raise ChecksumError(f"{remote.filename} from {url} has MD5 {got}, expected {md5}; the partial file was "
                            f"removed, try again: {command(name, root)}")
    partial.replace(dest)
    return dest


def ensure_cifar10(root=None, progress=True):
    """The CIFAR-10 file this book reads: the offline JPEG copy if present, else the official archive,
    downloaded if missing. Returns its path."""
    from . import data_root
    from .cifar import _jpeg_path

    root = data_root(root)
    if _jpeg_path(root).is_file():
        return _jpeg_path(root)
    return download_file(CIFAR10_ARCHIVE, root / "cifar10" / CIFAR10_ARCHIVE.filename, "CIFAR-10", "cifar10",
                         root, progress)


def read_nmnist_bin(data):
    """Events of one N-MNIST ``.bin`` recording (5 bytes per event: x 8 bits, y 8 bits, polarity 1 bit
    and a 23-bit timestamp in µs), in tonic's layout."""
    from .events import EVENT_DTYPE

    raw = np.frombuffer(data, np.uint8)
    if raw.size % 5:
        raise ValueError(f"an N-MNIST recording has 5 bytes per event; got {raw.size} bytes")
    raw = raw.reshape(-1, 5).astype(np.int64)
    ev = np.empty(len(raw), EVENT_DTYPE)
    ev["x"], ev["y"] = raw[:, 0], raw[:, 1]
    ev["p"] = (raw[:, 2] >> 7).astype(bool)
    ev["t"] = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    return ev


def _subset_from_zip(path, folder, count):
    """The first ``count`` recordings (MNIST order: files 00001.bin ...) of an N-MNIST archive, with labels."""
    wanted = {f"{i:05d}.bin": i for i in range(1, count + 1)}
    found = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            if len(parts) >= 3 and parts[-3] == folder and parts[-1] in wanted:
                found[wanted[parts[-1]]] = (int(parts[-2]), read_nmnist_bin(z.read(info)))
    if len(found) != count:
        missing = sorted(set(range(1, count + 1)) - set(found))[:5]
        raise DataUnavailable(f"{path.name} lacks {count - len(found)} of the first {count} {folder} recordings "
                              f"(e.g. {missing}); is it the official N-MNIST archive?")
    labels = np.array([found[i][0] for i in range(1, count + 1)], np.uint8)
    samples = [found[i][1] for i in range(1, count + 1)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in samples])]).astype(np.int64)
    return np.concatenate(samples), offsets, labels


def ensure_nmnist_small(root=None, progress=True, keep_archives=False):
    """``<root>/nmnist_small/nmnist_small.npz``, built from the official archives if missing."""
    from . import data_root

    root = data_root(root)
    target = root / "nmnist_small" / "nmnist_small.npz"
    if target.is_file():
        return target
    total = sum(r.approx_mb for r, _, _ in NMNIST_SUBSET.values())
    print(f"N-MNIST subset not found at {target}: building it from the official N-MNIST archives "
          f"(about {total:,} MB to download; the archives hold all 70,000 recordings)", flush=True)
    arrays = {}
    for split, (remote, folder, count) in NMNIST_SUBSET.items():
        archive = download_file(remote, root / "nmnist_small" / "download" / remote.filename,
                                f"N-MNIST {split}", "nmnist_small", root, progress)
        arrays[f"{split}_events"], arrays[f"{split}_offsets"], arrays[f"{split}_labels"] = \
            _subset_from_zip(archive, folder, count)
    tmp = target.with_name(target.stem + ".tmp.npz")
    np.savez_compressed(tmp, sensor_size=np.array([34, 34, 2]), **arrays)
    tmp.replace(target)
    if not keep_archives:
        shutil.rmtree(root / "nmnist_small" / "download", ignore_errors=True)
    return target


ENSURE = {"cifar10": ensure_cifar10, "nmnist_small": ensure_nmnist_small}


def ensure(name, root=None, progress=True):
    """Make sure data set ``name`` ("cifar10" or "nmnist_small") is on disk; returns its path."""
    if name not in ENSURE:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(ENSURE)}")
    return ENSURE[name](root, progress=progress)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fetch a data set the book needs into the data root.")
    parser.add_argument("name", choices=sorted(ENSURE))
    parser.add_argument("--root", default=None, help="data root (default: $SPIKFORMER_DATA or ~/.cache/spikformer_lite)")
    args = parser.parse_args(argv)
    print(ensure(args.name, args.root))


if __name__ == "__main__":
    sys.exit(main())
