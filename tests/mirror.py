"""A local download mirror, made from the offline copies, for the fetch path (spikformer_lite.data.fetch).

Tests and CI have no network. This builds the files the book downloads, in their official formats:

- ``cifar-10-python.tar.gz``: the official "python version" layout (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``, ``batches.meta``, pickled dicts of uint8 rows), filled with the decoded offline JPEG copy,
  in that copy's order;
- ``train.zip`` and ``test.zip``: the official N-MNIST layout (``Train/<digit>/<id>.bin``, 5 bytes per event)
  holding the 1,000 + 100 recordings of the offline subset;
- ``checksums.json``: the MD5 of each, which the fetch code checks instead of the official MD5s.

    python tests/mirror.py DEST [--data ../shared/data]           # build
    python tests/mirror.py DEST --serve PORT                      # build and serve over http on localhost
"""

import argparse
import functools
import hashlib
import http.server
import io
import json
import pickle
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikformer_lite.data import CIFAR10_CLASSES, load_cifar  # noqa: E402
from spikformer_lite.data.events import load_nmnist_small  # noqa: E402


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def encode_nmnist_bin(ev):
    """One recording in N-MNIST's .bin format: x, y, then polarity bit and 23-bit timestamp."""
    t = ev["t"].astype(np.int64)
    if t.min() < 0 or t.max() >= 1 << 23:
        raise ValueError("N-MNIST timestamps must fit 23 bits")
    out = np.empty((len(ev), 5), np.uint8)
    out[:, 0], out[:, 1] = ev["x"], ev["y"]
    out[:, 2] = (ev["p"].astype(np.int64) << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


def _cifar_archive(dest, data_root):
    path = dest / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        def add(name, obj):
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

        train, test = load_cifar("cifar10", "train", data_root), load_cifar("cifar10", "test", data_root)
        rows = lambda images: np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))
        for b in range(5):
            sl = slice(10000 * b, 10000 * (b + 1))
            add(f"data_batch_{b + 1}", {b"data": rows(train.images[sl]), b"labels": train.labels[sl].tolist()})
        add("test_batch", {b"data": rows(test.images), b"labels": test.labels.tolist()})
        add("batches.meta", {b"label_names": [c.encode() for c in CIFAR10_CLASSES]})
    return path


def _nmnist_archives(dest, data_root):
    paths = []
    for split, folder in (("train", "Train"), ("test", "Test")):
        samples, labels, _ = load_nmnist_small(split, data_root)
        path = dest / f"{split}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for i, (ev, label) in enumerate(zip(samples, labels)):
                z.writestr(f"{folder}/{label}/{i + 1:05d}.bin", encode_nmnist_bin(ev))
        paths.append(path)
    return paths


def build(dest, data_root):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files = [_cifar_archive(dest, data_root), *_nmnist_archives(dest, data_root)]
    (dest / "checksums.json").write_text(json.dumps({p.name: _md5(p) for p in files}, indent=1))
    return dest


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder, port=0):
    """Serve ``folder`` on 127.0.0.1 in a background thread; returns (server, base URL)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--serve", type=int, default=None, metavar="PORT")
    args = parser.parse_args()
    build(args.dest, args.data)
    if args.serve is not None:
        server, url = serve(args.dest, args.serve)
        print(url, flush=True)
        threading.Event().wait()
