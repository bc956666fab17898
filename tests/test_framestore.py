"""Event frames on disk: integer counts, a resumable build, the same batches as frames held in float32,
and clear errors for incomplete data folders (never a download)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import fake_data
from spikformer_lite import train
from spikformer_lite.data.events import to_frames, validate_events
from spikformer_lite.data.framestore import FrameStore, count_dtype, to_counts

ROOT = os.environ.get("SPIKFORMER_DATA")
needs_nmnist = pytest.mark.skipif(not ROOT or not (Path(ROOT) / "nmnist_small/nmnist_small.npz").is_file(),
                                  reason="SPIKFORMER_DATA does not hold nmnist_small/nmnist_small.npz")
needs_aedat = pytest.mark.skipif(not all(__import__("importlib").util.find_spec(m) for m in ("aedat", "flatbuffers")),
                                 reason="aedat and flatbuffers read and write AEDAT 4 files")


def random_counts(n, shape=(3, 2, 5, 7), high=4, seed=0):
    return np.random.default_rng(seed).integers(0, high, (n, *shape))


# ---------------------------------------------------------------- counts and their type

def test_count_dtype_is_the_smallest_that_holds_the_count():
    assert count_dtype(0) == np.uint8 and count_dtype(255) == np.uint8
    assert count_dtype(256) == np.uint16 and count_dtype(65535) == np.uint16
    assert count_dtype(65536) == np.uint32
    with pytest.raises(OverflowError, match="does not fit in uint32"):
        count_dtype(2 ** 32)


def test_to_counts_checks_every_value():
    assert to_counts(np.array([0.0, 3.0, 255.0], np.float32), np.uint8).tolist() == [0, 3, 255]
    with pytest.raises(OverflowError, match="a count of 256 does not fit in uint8.*needs uint16"):
        to_counts(np.array([1.0, 256.0]), np.uint8)
    with pytest.raises(ValueError, match="whole numbers"):
        to_counts(np.array([1.5]), np.uint8)
    with pytest.raises(ValueError, match="whole numbers"):
        to_counts(np.array([-1]), np.uint8)


# ---------------------------------------------------------------- the store

def test_store_round_trip_views_and_numpy(tmp_path):
    data = random_counts(10)
    store = FrameStore.build(tmp_path / "s", 10, lambda i: data[i].astype(np.float32), progress=False)
    assert store.dtype == np.uint8 and store.shape == (10, 3, 2, 5, 7) and len(store) == 10
    assert store.nbytes_on_disk < data.size + 200  # one byte a count, plus the .npy header
    assert torch.equal(store[4], torch.from_numpy(data[4].astype(np.uint8)))
    for idx in ([7, 1, 1], np.array([0, 9]), torch.tensor([3, 2]), slice(2, 5), -1):
        expect = data[np.arange(10)[idx] if isinstance(idx, slice) else np.asarray(idx)]
        assert np.array_equal(store[idx].numpy(), expect)
    view = store.subset(torch.tensor([8, 2, 5]))
    assert view.shape == (3, 3, 2, 5, 7) and np.array_equal(view[[1, 0]].numpy(), data[[2, 8]])
    assert np.array_equal(view.subset([2])[0].numpy(), data[5])
    with pytest.raises(IndexError, match="out of range"):
        view[3]
    assert np.array_equal(np.load(store.path, mmap_mode="r"), data)  # an ordinary .npy file
    assert json.loads((store.folder / "meta.json").read_text())["max_count"] == data.max()
    assert FrameStore.build(tmp_path / "s", 10, None).shape == store.shape  # finished: opened, not rebuilt


def test_store_without_pread_and_pwrite(tmp_path, monkeypatch):
    """Systems without os.preadv / os.pwrite (Windows) seek, then read or write."""
    monkeypatch.delattr(os, "preadv")
    monkeypatch.delattr(os, "pwrite")
    data = random_counts(5, high=300)
    store = FrameStore.build(tmp_path / "s", 5, lambda i: data[i], progress=False)
    assert store.dtype == np.uint16 and np.array_equal(store[[4, 0, 2]].numpy(), data[[4, 0, 2]])


def test_wide_stores_on_a_torch_without_uint16_tensors(tmp_path, monkeypatch):
    data = random_counts(2, high=300)
    store = FrameStore.build(tmp_path / "s", 2, lambda i: data[i], progress=False)
    real = torch.from_numpy

    def torch_before_2_3(array):
        if array.dtype in (np.uint16, np.uint32):
            raise TypeError("can't convert np.ndarray of type numpy.uint16")
        return real(array)

    monkeypatch.setattr(torch, "from_numpy", torch_before_2_3)
    x = store[[1, 0]]
    assert x.dtype == torch.int32 and np.array_equal(x.numpy(), data[[1, 0]])


def test_store_refuses_masks_and_fractional_indices(tmp_path):
    store = FrameStore.build(tmp_path / "s", 4, lambda i: np.full((2, 2), i), progress=False)
    with pytest.raises(TypeError, match="must be integers.*flatnonzero"):
        store[np.array([True, False, True, False])]
    with pytest.raises(TypeError, match="must be integers"):
        store.subset([0.5, 1.0])
    assert store[np.flatnonzero([True, False, True, False])][:, 0, 0].tolist() == [0, 2]


def test_a_count_beyond_uint32_is_a_clear_error(tmp_path):
    big = np.array([[1, 2 ** 32]], np.uint64)
    with pytest.raises(OverflowError, match="does not fit in uint32"):
        FrameStore.build(tmp_path / "s", 2, lambda i: big if i else np.ones((1, 2)), progress=False)
    assert not (tmp_path / "s" / "meta.json").exists()


def test_short_writes_are_continued_and_a_full_disk_raises(tmp_path, monkeypatch):
    real = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: real(fd, bytes(data[:3]), offset))  # 3 bytes a call
    data = random_counts(3)
    store = FrameStore.build(tmp_path / "s", 3, lambda i: data[i], progress=False)
    assert np.array_equal(store[[0, 1, 2]].numpy(), data)
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: 0)  # nothing written: a full disk
    with pytest.raises(OSError, match="is the disk full"):
        FrameStore.build(tmp_path / "t", 3, lambda i: data[i], progress=False)
    assert not (tmp_path / "t" / "meta.json").exists()


def test_store_widens_its_type_when_a_later_count_needs_it(tmp_path):
    data = random_counts(6)
    data[3, 0, 0, 0, 0] = 300
    data[5, 1, 1, 1, 1] = 70_000
    store = FrameStore.build(tmp_path / "s", 6, lambda i: data[i], progress=False)
    assert store.dtype == np.uint32 and np.array_equal(store[list(range(6))].numpy(), data)
    small = FrameStore.build(tmp_path / "t", 6, lambda i: np.minimum(data[i], 300), progress=False)
    assert small.dtype == np.uint16 and small[5].numpy().max() == 300 and small[5].float().max() == 300


def test_store_rejects_frames_of_another_shape_or_non_counts(tmp_path):
    with pytest.raises(ValueError, match="sample 1 has frames of shape"):
        FrameStore.build(tmp_path / "a", 2, lambda i: np.zeros((2, 2) if i == 0 else (2, 3)), progress=False)
    with pytest.raises(ValueError, match="whole numbers"):
        FrameStore.build(tmp_path / "b", 2, lambda i: np.full((2, 2), 0.5 * i), progress=False)
    assert not (tmp_path / "b" / "meta.json").exists()  # a failed build is never a store


def test_a_build_that_fails_midway_resumes_without_redoing_committed_samples(tmp_path):
    data = random_counts(20)
    calls, fail = [], [True]

    def make(i):
        calls.append(i)
        if i == 12 and fail[0]:
            raise RuntimeError("killed")
        return data[i]

    with pytest.raises(RuntimeError, match="killed"):
        FrameStore.build(tmp_path / "s", 20, make, progress=False, commit_every_s=0)
    assert (tmp_path / "s" / "frames.partial.npy").is_file() and not (tmp_path / "s" / "frames.npy").exists()
    with pytest.raises(FileNotFoundError, match="no finished frame store"):
        FrameStore(tmp_path / "s")  # a half-written store is never read as valid
    done = json.loads((tmp_path / "s" / "progress.json").read_text())["done"]
    assert done == 12
    calls.clear()
    fail[0] = False
    store = FrameStore.build(tmp_path / "s", 20, make, progress=False)
    assert calls == list(range(12, 20)) and np.array_equal(store[np.arange(20)].numpy(), data)
    assert not (tmp_path / "s" / "progress.json").exists()


def test_a_build_killed_with_sigkill_resumes_to_the_same_file(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from spikformer_lite.data.framestore import FrameStore
        data = np.random.default_rng(0).integers(0, 250, (60, 2, 3, 4, 4))
        data[30:, 0, 0, 0, 0] = 300                                          # uint8, widened to uint16 at sample 30
        def make(i):
            if len(sys.argv) > 1:
                time.sleep(0.05)
            print(i, flush=True)
            return data[i]
        FrameStore.build({str(tmp_path / 's')!r}, 60, make, progress=False, commit_every_s=0)
        """))
    proc = subprocess.Popen([sys.executable, str(script), "slow"], stdout=subprocess.PIPE, text=True)
    progress = tmp_path / "s" / "progress.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if progress.is_file() and json.loads(progress.read_text() or "{}").get("done", 0) >= 40:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the build ended before it could be killed: the test would prove nothing"
    done = json.loads(progress.read_text())["done"]
    assert 40 <= done < 60 and not (tmp_path / "s" / "meta.json").exists()
    assert np.load(tmp_path / "s" / "frames.partial.npy", mmap_mode="r").dtype == np.uint16  # killed after widening
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) == done  # it went on from the last committed sample
    data = np.random.default_rng(0).integers(0, 250, (60, 2, 3, 4, 4))
    data[30:, 0, 0, 0, 0] = 300
    store = FrameStore(tmp_path / "s")
    assert store.dtype == np.uint16 and np.array_equal(store[np.arange(60)].numpy(), data)


def test_a_damaged_store_says_so(tmp_path):
    store = FrameStore.build(tmp_path / "s", 4, lambda i: np.ones((2, 3)), progress=False)
    with open(store.path, "r+b") as f:
        f.truncate(store.nbytes_on_disk - 1)
    with pytest.raises(ValueError, match="damaged; delete"):
        FrameStore(tmp_path / "s")


def test_store_reads_in_forked_dataloader_workers(tmp_path):
    data = random_counts(8)
    store = FrameStore.build(tmp_path / "s", 8, lambda i: data[i], progress=False)
    store[0]  # opens the file in this process
    loader = torch.utils.data.DataLoader(store, batch_size=None, num_workers=2,
                                         multiprocessing_context="fork")
    assert all(np.array_equal(x.numpy(), data[i]) for i, x in enumerate(loader))


def test_the_fast_aedat4_writer_writes_the_same_bytes():
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 10 ** 6, 2500))
    x, y, on = rng.integers(0, 128, 2500), rng.integers(0, 128, 2500), rng.integers(0, 2, 2500)
    assert fake_data.aedat4_bytes(t, x, y, on, fast=True) == fake_data.aedat4_bytes(t, x, y, on)


# ---------------------------------------------------------------- the same frames and batches as before

def float_frames(ds):
    """What load_split held before the store: every sample framed straight to float32, in memory."""
    return torch.from_numpy(np.stack([ds.frames(i) for i in range(len(ds))]))


@needs_aedat
def test_cifar10dvs_batches_equal_the_float_path_bit_for_bit(tmp_path):
    from spikformer_lite.data.neuromorphic import EventFrames

    fake_data.write_cifar10dvs(tmp_path, per_class=100, events=(50, 3000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 100 per class, not 1,000
        split = train.load_split("cifar10dvs", "train", T=4, root=tmp_path, progress=False)
        ds = EventFrames("cifar10dvs", "train", root=tmp_path, T=4)
    assert isinstance(split.x, FrameStore) and split.x.shape == (900, 4, 2, 128, 128)
    old = train.Split(float_frames(ds), split.y, "events", split.source, 10)
    assert torch.equal(split.x[np.arange(900)].float(), old.x)
    assert split.x.nbytes_on_disk < old.x.numel() * old.x.element_size() / 3.9  # counts fit uint8
    cfg = train.get_config("cifar10dvs-2-256", T=4)
    recipe = train.get_recipe("cifar10dvs", "paper", mixup_prob=1.0)  # official augmentation and mixup every batch
    sub_new, sub_old = split.subset(64, seed=3), old.subset(64, seed=3)
    for train_mode in (True, False):
        g_new, g_old = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        for idx in train.epoch_order(64, 0, 0, 16)[:3]:
            torch.manual_seed(1)
            a = train.make_batch(sub_new, idx, train_mode, recipe, 0, g_new, cfg, torch.device("cpu"))
            torch.manual_seed(1)
            b = train.make_batch(sub_old, idx, train_mode, recipe, 0, g_old, cfg)
            assert a[0].dtype == torch.float32 and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert torch.equal(g_new.get_state(), g_old.get_state())  # the same draws, in the same order
    # EventFrames keeps its API: float frames, with or without the store, equal to framing straight to float
    assert torch.equal(ds[5][0], old.x[5]) and ds[5][1] == int(split.y[5])


def test_dvsgesture_goes_through_the_store(tmp_path):
    from spikformer_lite.data.neuromorphic import EventFrames

    fake_data.write_dvsgesture(tmp_path, "test", n=110)
    split = train.load_split("dvsgesture", "test", T=3, root=tmp_path, progress=False)
    ds = EventFrames("dvsgesture", "test", root=tmp_path, T=3)
    assert isinstance(split.x, FrameStore) and split.x.shape == (110, 3, 2, 128, 128) and split.num_classes == 11
    assert torch.equal(split.x[np.arange(110)].float(), float_frames(ds))
    assert torch.equal(split.y, torch.from_numpy(ds.labels)) and sorted(set(split.y.tolist())) == list(range(11))


@needs_nmnist
def test_nmnist_goes_through_the_store(tmp_path):
    from spikformer_lite.data.events import load_nmnist_small

    split = train.load_split("nmnist", "test", T=3, root=ROOT, progress=False)
    assert isinstance(split.x, FrameStore) and split.x.shape == (100, 3, 2, 34, 34)
    samples, labels, sensor = load_nmnist_small("test", ROOT)
    for i in (0, 57, 99):
        assert np.array_equal(split.x[i].numpy(), to_frames(validate_events(samples[i], sensor), sensor, 3))
    assert torch.equal(split.y, torch.from_numpy(labels))
    again = train.load_split("nmnist", "test", T=3, root=ROOT, progress=False)
    assert again.x.folder == split.x.folder  # built once, keyed by (data set, split, T, binning, file)
    assert train.load_split("nmnist", "test", T=2, root=ROOT, progress=False).x.folder != split.x.folder


@needs_nmnist
def test_event_training_resumes_bit_for_bit_from_the_store(tmp_path):
    """Two epochs straight, against one epoch, a new process with --resume, and the second: the same weights."""
    args = ["--preset", "cifar10dvs-2-256", "--data", "nmnist", "--recipe", "paper", "--T", "2", "--train-subset",
            "64", "--test-subset", "16", "--batch-size", "16", "--epochs", "2", "--warmup-epochs", "1",
            "--set", "depth=1", "embed_dim=32", "num_heads=2", "--no-progress", "--threads", "1",
            "--data-root", ROOT, "--max-steps", "2"]

    def run(*a):
        proc = subprocess.run([sys.executable, "-m", "spikformer_lite.train", *args, *a], capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    run("--out", str(tmp_path / "a"))
    run("--out", str(tmp_path / "b"), "--stop-after-epochs", "1")
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["epoch"] == 1
    assert "resumed" in run("--out", str(tmp_path / "b"), "--resume")
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- incomplete folders: our error, no download

@needs_aedat
def test_a_partial_cifar10dvs_folder_names_what_is_missing_and_never_downloads(tmp_path, monkeypatch):
    import tonic

    monkeypatch.setattr(tonic.datasets.CIFAR10DVS, "download",
                        lambda self: pytest.fail("tonic tried to download CIFAR10-DVS"))
    fake_data.write_cifar10dvs(tmp_path, per_class=34, keep=False)  # 340 files, as a reader had
    with pytest.raises(FileNotFoundError) as err:
        train.load_split("cifar10dvs", "train", T=2, root=tmp_path, progress=False)
    message = str(err.value)
    assert "found 340 recordings" in message and "airplane 34" in message
    assert "1,000 per class, 10,000 in all" in message
    assert f"download_dvs.py --dataset cifar10dvs --root {tmp_path}" in message
    # a class folder missing: a partly extracted set
    fake_data.write_cifar10dvs(tmp_path / "b", per_class=120, keep=False,
                               classes=fake_data.CIFAR10DVS_CLASSES[:9])
    with pytest.raises(FileNotFoundError, match="found 1,080 recordings .*truck 0"):
        train.load_split("cifar10dvs", "test", T=2, root=tmp_path / "b", progress=False)


def test_a_partial_dvsgesture_folder_names_what_is_missing_and_never_downloads(tmp_path, monkeypatch):
    import tonic

    monkeypatch.setattr(tonic.datasets.DVSGesture, "download",
                        lambda self: pytest.fail("tonic tried to download DVS128 Gesture"))
    fake_data.write_dvsgesture(tmp_path, "train", n=40)
    with pytest.raises(FileNotFoundError, match="found 40 recordings of 11 of the 11 gestures.*"
                                                "download_dvs.py --dataset dvsgesture"):
        train.load_split("dvsgesture", "train", T=2, root=tmp_path, progress=False)


@needs_aedat
def test_recordings_read_what_tonic_reads(tmp_path):
    import tonic

    from spikformer_lite.data.neuromorphic import Recordings

    fake_data.write_cifar10dvs(tmp_path, per_class=100, keep=False)
    fake_data.write_dvsgesture(tmp_path, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = Recordings("cifar10dvs", "train", tmp_path)
    theirs = tonic.datasets.CIFAR10DVS(save_to=str(tmp_path))  # the archive stub is there: tonic reads, no download
    assert sorted(ours.data) == sorted(theirs.data)
    where = {p: i for i, p in enumerate(theirs.data)}
    for i in (0, 450, 999):
        (a, la), (b, lb) = ours[i], theirs[where[ours.data[i]]]
        assert la == lb and a.dtype.names == b.dtype.names and all(np.array_equal(a[f], b[f]) for f in a.dtype.names)
    g_ours, g_theirs = Recordings("dvsgesture", "test", tmp_path), tonic.datasets.DVSGesture(str(tmp_path), train=False)
    where = {p: i for i, p in enumerate(g_theirs.data)}
    for i in (0, 99):
        (a, la), (b, lb) = g_ours[i], g_theirs[where[g_ours.data[i]]]
        assert la == lb and a.dtype == b.dtype and all(np.array_equal(a[f], b[f]) for f in a.dtype.names)


def test_a_read_only_data_root_is_never_written_even_by_root(tmp_path, monkeypatch):
    from spikformer_lite.data import cache_folder

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("spikformer_lite.data.DEFAULT_ROOT", tmp_path / "home" / ".cache" / "spikformer_lite")
    root = tmp_path / "data"
    root.mkdir()
    assert cache_folder(root) == root / "cache"  # writable: the cache sits beside the data
    root.chmod(0o555)  # marked read-only, as CI's shared data (os.access lets root write there anyway)
    try:
        assert cache_folder(root) == tmp_path / "home" / ".cache" / "spikformer_lite" / "cache"
    finally:
        root.chmod(0o755)


def test_readme_event_benchmark_numbers_are_the_saved_run():
    """The README's event-data table states the numbers of the newest spikformer_lite/results/benchmarks/*-events.txt."""
    repo = Path(__file__).resolve().parents[1]
    from spikformer_lite.benchmark import RESULTS

    result = sorted(RESULTS.glob("*-events.txt"))[-1]
    rows = {}
    for line in result.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 5 and cells[0].replace(",", "").isdigit():
            rows[(int(cells[0].replace(",", "")), cells[1])] = cells[2].split()[0] if cells[2] else "", cells[3]
    readme = repo / "README.md"
    section = readme.read_text().split("## Benchmark: event data")[1].split("\n## ")[0]
    assert f"`{result.relative_to(repo)}`" in section
    for n in (900, 9000):
        build = rows[(n, "build the frame store (first load_split)")]
        warm, cold = (rows[(n, f"read + float, no augmentation ({w})")][0] for w in ("warm", "cold"))
        aug = rows[(n, "read + float + paper augmentation & mixup")][0]
        for number in (build[0], warm, cold, aug):
            assert f"{int(number):,}" in section, f"{number} (for {n} recordings) is not in the README"
        for key, (rate, peak) in rows.items():
            if key[0] == n:
                assert peak.replace(" GB", "") in section, f"peak {peak} of {key} is not in the README"
