"""The fetch path: data downloaded on first use, checked, atomic; offline, a clear error. Served locally."""

import json
import os

import numpy as np
import pytest

from mirror import build, encode_nmnist_bin, serve
from spikformer_lite.data import ChecksumError, DataUnavailable, cifar10_examples, ensure
from spikformer_lite.data import fetch
from spikformer_lite.data.events import load_nmnist_small

SHARED = os.environ.get("SPIKFORMER_DATA")
needs_data = pytest.mark.skipif(not SHARED or not os.path.isfile(os.path.join(SHARED, "nmnist_small", "nmnist_small.npz")),
                                reason="needs the offline copies in SPIKFORMER_DATA")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    folder = build(tmp_path_factory.mktemp("mirror"), SHARED)
    server, url = serve(folder)
    yield folder, url
    server.shutdown()


def test_nmnist_addresses_are_tonics():
    tonic_nmnist = pytest.importorskip("tonic.datasets").NMNIST
    assert (fetch.NMNIST_TRAIN.url, fetch.NMNIST_TRAIN.md5) == (tonic_nmnist.train_url, tonic_nmnist.train_md5)
    assert (fetch.NMNIST_TEST.url, fetch.NMNIST_TEST.md5) == (tonic_nmnist.test_url, tonic_nmnist.test_md5)


def test_nmnist_bin_reader_matches_tonics(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    from spikformer_lite.data.events import EVENT_DTYPE

    rng = np.random.default_rng(0)
    ev = np.zeros(500, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, 34, 500), rng.integers(0, 34, 500)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 1 << 23, 500)), rng.integers(0, 2, 500).astype(bool)
    (tmp_path / "r.bin").write_bytes(encode_nmnist_bin(ev))
    ours = fetch.read_nmnist_bin((tmp_path / "r.bin").read_bytes())
    theirs = tonic_io.read_mnist_file(str(tmp_path / "r.bin"), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    for field in "xytp":
        assert np.array_equal(ours[field].astype(np.int64), theirs[field].astype(np.int64)), field
    with pytest.raises(ValueError, match="5 bytes per event"):
        fetch.read_nmnist_bin(b"1234")


@needs_data
def test_a_chapter_on_an_empty_data_root_fetches_what_it_needs(mirror, tmp_path, monkeypatch):
    folder, url = mirror
    monkeypatch.setenv(fetch.MIRROR_ENV, url)
    root = tmp_path / "empty"
    with pytest.raises(FileNotFoundError, match="python -m spikformer_lite.data.fetch cifar10"):
        cifar10_examples([0], root=root)
    path = ensure("cifar10", root=root, progress=False)
    assert path.name == "cifar-10-python.tar.gz" and not list(path.parent.glob("*.part"))
    # the official-format archive is read in the offline copy's class-sorted numbering
    got, got_labels = cifar10_examples([3007, 0, 9999], root=root)
    want, want_labels = cifar10_examples([3007, 0, 9999], root=SHARED)
    assert np.array_equal(got, want) and np.array_equal(got_labels, want_labels) and got_labels[0] == 3
    # N-MNIST: built from the (mirrored) official archives, the same recordings as the offline subset
    ensure("nmnist_small", root=root, progress=False)
    for split in ("train", "test"):
        s_new, l_new, sensor = load_nmnist_small(split, root)
        s_old, l_old, _ = load_nmnist_small(split, SHARED)
        assert sensor == (34, 34, 2) and np.array_equal(l_new, l_old) and len(s_new) == len(s_old)
        assert all(np.array_equal(a, b) for a, b in zip(s_new, s_old))
    assert not (root / "nmnist_small" / "download").exists()  # the 1 GB archives are not kept
    assert ensure("nmnist_small", root=root, progress=False) == root / "nmnist_small" / "nmnist_small.npz"


def test_offline_the_error_says_what_is_missing_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.MIRROR_ENV, "http://127.0.0.1:9/")  # the discard port: nothing answers
    with pytest.raises(DataUnavailable) as err:
        ensure("cifar10", root=tmp_path)
    assert "python -m spikformer_lite.data.fetch cifar10" in str(err.value) and "163 MB" in str(err.value)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="unknown data set"):
        ensure("imagenet")


@needs_data
def test_a_corrupt_download_is_removed(mirror, tmp_path, monkeypatch):
    folder, url = mirror
    bad = tmp_path / "badmirror"
    bad.mkdir()
    (bad / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    (bad / "checksums.json").write_text(json.dumps({"cifar-10-python.tar.gz": "0" * 32}))
    monkeypatch.setenv(fetch.MIRROR_ENV, str(bad))  # a folder works as a mirror too
    with pytest.raises(ChecksumError, match="removed"):
        ensure("cifar10", root=tmp_path / "root")
    assert not any(p.is_file() for p in (tmp_path / "root").rglob("*"))
