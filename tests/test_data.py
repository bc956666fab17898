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
