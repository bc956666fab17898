"""Data root and the CIFAR-10 JPEG examples used by the chapters."""

import io
import os
from pathlib import Path

import numpy as np
import pytest

from spikformer_lite import data

ROOT = os.environ.get("SPIKFORMER_DATA")
needs_data = pytest.mark.skipif(not ROOT or not (Path(ROOT) / "cifar10/cifar10_jpeg.npz").is_file(),
                                reason="SPIKFORMER_DATA does not hold cifar10/cifar10_jpeg.npz")


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKFORMER_DATA", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("SPIKFORMER_DATA")
    assert data.data_root() == Path("~/.cache/spikformer_lite").expanduser()


def test_missing_archive_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "cifar10" / "cifar10_jpeg.npz")):
        data.cifar10_examples([0], root=tmp_path)


@needs_data
def test_cifar10_examples_decode_like_pillow():
    from PIL import Image

    images, labels = data.cifar10_examples([0, 999, 1000, 9999], split="test")
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 1, 9]  # records are sorted by class, 1,000 per class in test
    with np.load(Path(ROOT) / "cifar10/cifar10_jpeg.npz") as archive:
        buf, off = archive["test_jpeg"], archive["test_offsets"]
        portable = np.asarray(Image.open(io.BytesIO(buf[off[999]:off[1000]].tobytes())).convert("RGB"))
    assert np.array_equal(images[1], portable)
    assert 20 < images.mean() < 235  # a real image, not a blank


@needs_data
def test_cifar10_examples_reject_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        data.cifar10_examples([0], split="val")
    with pytest.raises(IndexError, match=r"\[0, 10000\)"):
        data.cifar10_examples([10000], split="test")


# ---------------------------------------------------------------- full CIFAR loaders, offline

import hashlib  # noqa: E402
import pickle  # noqa: E402
import tarfile  # noqa: E402

from spikformer_lite.data import cifar  # noqa: E402


def fake_official_archive(path, name, n=3, seed=0):
    """A tiny archive in the official python-version layout (pickled dicts of uint8 rows)."""
    rng = np.random.default_rng(seed)
    folder = cifar.ARCHIVES[name].folder
    if name == "cifar10":
        members = {f"data_batch_{i}": i for i in range(1, 6)} | {"test_batch": 9}
        label_key, meta = b"labels", ("batches.meta", {b"label_names": [c.encode() for c in data.CIFAR10_CLASSES]})
    else:
        members = {"train": 1, "test": 2}
        label_key, meta = b"fine_labels", ("meta", {b"fine_label_names": [f"class{i}".encode() for i in range(100)]})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        def add(member, obj):
            blob = pickle.dumps(obj)
            info = tarfile.TarInfo(f"{folder}/{member}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for member, k in members.items():
            add(member, {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         label_key: [int(v) for v in np.full(n, k)]})
        add(*meta)
    return path


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_load_official_archive_layout(tmp_path, name):
    archive = fake_official_archive(tmp_path / name / cifar.ARCHIVES[name].filename, name)
    train = data.load_cifar(name, "train", root=tmp_path)
    test = data.load_cifar(name, "test", root=tmp_path)
    assert train.images.shape == ((15 if name == "cifar10" else 3), 32, 32, 3) and train.images.dtype == np.uint8
    assert test.images.shape == (3, 32, 32, 3) and "official" in test.source
    assert len(train.classes) == (10 if name == "cifar10" else 100)
    # channel layout: row i is 1024 red, 1024 green, 1024 blue values in row-major order
    with tarfile.open(archive) as tar:
        first = pickle.load(tar.extractfile(f"{cifar.ARCHIVES[name].folder}/{'test_batch' if name == 'cifar10' else 'test'}"),
                            encoding="bytes")
    row = first[b"data"][1]
    assert test.images[1, 0, 5, 0] == row[5] and test.images[1, 0, 5, 1] == row[1024 + 5]
    assert test.images[1, 2, 3, 2] == row[2048 + 2 * 32 + 3]
    # decoded once: the second load reads the cache
    assert (tmp_path / "cache" / f"{name}_test_official.npz").is_file()
    again = data.load_cifar(name, "test", root=tmp_path)
    assert np.array_equal(again.images, test.images) and np.array_equal(again.labels, test.labels)


def test_missing_data_names_the_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_scripts/download_cifar.py --dataset cifar100"):
        data.load_cifar("cifar100", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar10_jpeg.npz"):
        data.load_cifar("cifar10", root=tmp_path)
    with pytest.raises(ValueError, match="unknown CIFAR"):
        data.load_cifar("cifar1000", root=tmp_path)


def test_download_checks_md5_and_is_idempotent(tmp_path, monkeypatch):
    fake = fake_official_archive(tmp_path / "src" / "fake.tar.gz", "cifar10")
    good = cifar.Archive("cifar-10-python.tar.gz", "https://example.invalid/c10.tar.gz",
                         hashlib.md5(fake.read_bytes()).hexdigest(), "cifar-10-batches-py")
    monkeypatch.setitem(cifar.ARCHIVES, "cifar10", good)
    calls = []

    def fake_urlretrieve(url, dest):  # the network, stubbed out
        calls.append(url)
        Path(dest).write_bytes(fake.read_bytes())

    path = data.download("cifar10", root=tmp_path / "root", urlretrieve=fake_urlretrieve)
    assert path == tmp_path / "root/cifar10/cifar-10-python.tar.gz" and path.read_bytes() == fake.read_bytes()
    data.download("cifar10", root=tmp_path / "root", urlretrieve=fake_urlretrieve)
    assert calls == ["https://example.invalid/c10.tar.gz"]  # the second call found a good file
    assert data.load_cifar("cifar10", "test", root=tmp_path / "root").images.shape == (3, 32, 32, 3)

    monkeypatch.setitem(cifar.ARCHIVES, "cifar10", cifar.Archive(good.filename, good.url, "0" * 32, good.folder))
    with pytest.raises(data.ChecksumError, match="cifar-10-python.tar.gz"):
        data.download("cifar10", root=tmp_path / "other", urlretrieve=fake_urlretrieve)
    assert list((tmp_path / "other/cifar10").iterdir()) == []  # nothing half-written is left


def test_download_script_runs_with_stubbed_network(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("download_cifar", Path(__file__).parents[1] / "data_scripts/download_cifar.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fake = fake_official_archive(tmp_path / "src" / "fake.tar.gz", "cifar100")
    monkeypatch.setitem(cifar.ARCHIVES, "cifar100", cifar.Archive(
        "cifar-100-python.tar.gz", "https://example.invalid/c100", hashlib.md5(fake.read_bytes()).hexdigest(), "cifar-100-python"))
    monkeypatch.setattr(cifar.urllib.request, "urlretrieve", lambda url, dest: Path(dest).write_bytes(fake.read_bytes()))
    script.main(["--dataset", "cifar100", "--root", str(tmp_path / "root")])
    assert (tmp_path / "root/cifar100/cifar-100-python.tar.gz").is_file()


@needs_data
def test_cifar10_falls_back_to_the_jpeg_copy(tmp_path):
    test = data.load_cifar("cifar10", "test", root=ROOT, cache_dir=tmp_path)
    assert test.source == data.JPEG_SOURCE and "JPEG" in test.source
    assert test.images.shape == (10000, 32, 32, 3) and np.bincount(test.labels).tolist() == [1000] * 10
    examples, labels = data.cifar10_examples([0, 4321, 9999], split="test")
    assert np.array_equal(test.images[[0, 4321, 9999]], examples) and np.array_equal(test.labels[[0, 4321, 9999]], labels)
    assert (tmp_path / "cifar10_test_jpeg.npz").is_file()
