"""Events: validation, frames (tonic, checked against a naive split_by='number'), N-MNIST, splits, emulator."""

import os
from pathlib import Path

import numpy as np
import pytest
import fake_data
from reference import frames_split_by_number, frames_split_by_time

from spikformer_lite.data import emulator
from spikformer_lite.data.events import (EVENT_DTYPE, FrameCache, class_split, load_nmnist_small, mask_pixels,
                                         to_frames, validate_events)

ROOT = os.environ.get("SPIKFORMER_DATA")
needs_nmnist = pytest.mark.skipif(not ROOT or not (Path(ROOT) / "nmnist_small/nmnist_small.npz").is_file(),
                                  reason="SPIKFORMER_DATA does not hold nmnist_small/nmnist_small.npz")


def random_events(n, sensor=(10, 8, 2), seed=0):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n)
    ev["t"] = np.sort(rng.integers(0, 10_000, n))
    ev["p"] = rng.integers(0, 2, n).astype(bool)
    return ev


@pytest.mark.parametrize("n, T", [(100, 4), (103, 4), (7, 16), (1, 3), (64, 1)])
def test_frames_count_every_event_like_split_by_number(n, T):
    ev = random_events(n)
    frames = to_frames(ev, (10, 8, 2), T)
    assert frames.shape == (T, 2, 8, 10) and frames.dtype == np.float32
    assert frames.sum() == n  # nothing silently dropped (tonic alone drops the N mod T tail)
    np.testing.assert_array_equal(frames, frames_split_by_number(ev, (10, 8, 2), T))


@pytest.mark.parametrize("n, T", [(100, 4), (103, 7), (500, 16)])
def test_time_binning_counts_every_event(n, T):
    ev = random_events(n)
    frames = to_frames(ev, (10, 8, 2), T, by="time")
    assert frames.sum() == n
    np.testing.assert_array_equal(frames, frames_split_by_time(ev, (10, 8, 2), T))


def test_time_binning_needs_a_long_enough_recording():
    ev = random_events(5)
    ev["t"] = [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="cannot be cut into 4 time bins"):
        to_frames(ev, (10, 8, 2), 4, by="time")
    with pytest.raises(ValueError, match="by must be"):
        to_frames(ev, (10, 8, 2), 4, by="space")


def test_empty_recording_gives_empty_frames():
    frames = to_frames(np.empty(0, EVENT_DTYPE), (10, 8, 2), 5)
    assert frames.shape == (5, 2, 8, 10) and frames.sum() == 0


@pytest.mark.parametrize("mutate, match", [
    (lambda e: e.__setitem__("t", e["t"][::-1].copy()), "timestamps must not decrease"),
    (lambda e: e.__setitem__("x", np.where(np.arange(len(e)) == 3, -1, e["x"])), r"x\[3\] = -1 lies outside"),
    (lambda e: e.__setitem__("y", np.where(np.arange(len(e)) == 2, 8, e["y"])), r"y\[2\] = 8 lies outside"),
])
def test_bad_events_are_rejected(mutate, match):
    ev = random_events(20)
    mutate(ev)
    with pytest.raises(ValueError, match=match):
        to_frames(ev, (10, 8, 2), 4)


def test_missing_field_and_wrong_sensor_are_rejected():
    ev = random_events(20)
    no_p = np.empty(20, [("x", "<i2"), ("y", "<i2"), ("t", "<i8")])
    with pytest.raises(ValueError, match=r"lacks field\(s\) \['p'\]"):
        validate_events(no_p, (10, 8, 2))
    with pytest.raises(ValueError, match="outside the sensor"):
        validate_events(ev, (5, 8, 2))  # a sensor too small for these events
    with pytest.raises(ValueError, match=r"\(W, H, P\)"):
        validate_events(ev, (10, 8))
    with pytest.raises(ValueError, match="structured numpy array"):
        validate_events(np.zeros((20, 4)), (10, 8, 2))


def test_frame_cache_keys_on_parameters(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return np.arange(6.0)

    a = FrameCache(tmp_path, dataset="x", T=4)
    assert np.array_equal(a.get("train_0", make), np.arange(6.0))
    assert np.array_equal(FrameCache(tmp_path, T=4, dataset="x").get("train_0", make), np.arange(6.0))
    FrameCache(tmp_path, dataset="x", T=8).get("train_0", make)
    assert len(calls) == 2  # computed once per parameter set


def test_official_cifar10dvs_split_is_first_90_percent_per_class():
    labels = np.repeat(np.arange(10), 1000)  # stored class by class, 1,000 each, like CIFAR10-DVS
    train, test = class_split(labels)
    assert len(train) == 9000 and len(test) == 1000
    for c in range(10):
        assert np.array_equal(test[labels[test] == c], np.arange(c * 1000 + 900, c * 1000 + 1000))
    assert np.array_equal(class_split(labels)[0], train)  # deterministic


@needs_nmnist
def test_nmnist_subset_frames_and_hot_pixel():
    samples, labels, sensor = load_nmnist_small("test")
    assert len(samples) == 100 and sensor == (34, 34, 2) and labels[:5].tolist() == [7, 2, 1, 0, 4]
    ev = validate_events(samples[0], sensor)
    frames = to_frames(ev, sensor, 16)
    assert frames.sum() == len(ev)
    hot = sum(((s["x"] == 18) & (s["y"] == 30)).sum() > 0 for s in samples)
    assert hot > 90  # the README's hot pixel fires in nearly every sample
    masked = mask_pixels(ev, [(18, 30)])
    assert not ((masked["x"] == 18) & (masked["y"] == 30)).any()
    assert len(ev) - len(masked) == ((ev["x"] == 18) & (ev["y"] == 30)).sum()


# ---------------------------------------------------------------- emulator

def edge_image(W=32, H=16, split=16):
    img = np.full((H, W), 0.1)
    img[:, :split] = 0.9  # bright left half, dark right half
    return img


def test_static_image_gives_no_events():
    ev, sensor = emulator.emulate_events(edge_image(), path=np.zeros((20, 2)))
    assert len(ev) == 0 and sensor == (32, 16, 2)


@pytest.mark.parametrize("dx, column, polarity", [(1.0, 16, True), (-1.0, 15, False)])
def test_moving_edge_gives_events_at_the_edge_with_the_right_polarity(dx, column, polarity):
    path = np.array([[0.0, 0.0], [dx, 0.0]])
    ev, sensor = emulator.emulate_events(edge_image(), path=path, threshold=0.2)
    validate_events(ev, sensor)
    assert len(ev) > 0
    assert set(ev["x"].tolist()) == {column}  # only the pixels the edge crossed
    assert set(ev["p"].tolist()) == {polarity}  # brighter -> ON, darker -> OFF
    assert set(ev["y"].tolist()) == set(range(16))
    # log(0.9 + eps) - log(0.1 + eps) = 2.19: floor(2.19 / 0.2) = 10 events per pixel, capped by the refractory
    assert len(ev) == 16 * min(10, 5000 // 1000)


def test_noise_and_cifar_sized_output():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ev, sensor = emulator.emulate_events(image, n_steps=30, scale=4, noise_rate_hz=1.0)
    assert sensor == (128, 128, 2)
    validate_events(ev, sensor)
    assert len(ev) > 1000 and 0.2 < ev["p"].mean() < 0.8
    quiet, _ = emulator.emulate_events(np.full((8, 8), 0.5), n_steps=30, noise_rate_hz=50.0, seed=3)
    assert len(quiet) > 0  # a uniform image emits only noise


# ---------------------------------------------------------------- DVS128 Gesture through tonic, offline

def test_dvsgesture_frames_from_tonic_layout(tmp_path):
    from spikformer_lite.data.neuromorphic import EventFrames

    fake_data.write_dvsgesture(tmp_path, "train")
    ds = EventFrames("dvsgesture", "train", root=tmp_path, T=4, cache_dir=tmp_path / "cache")
    assert len(ds) == 100 and ds.sensor_size == (128, 128, 2)
    frames, label = ds[0]
    assert frames.shape == (4, 2, 128, 128) and frames.dtype.is_floating_point and 0 <= label < 11
    events, _ = ds.source[int(ds.indices[0])]
    assert frames.sum() == len(events)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1  # cached after the first pass
    again, _ = ds[0]
    assert torch_equal(again, frames)


def torch_equal(a, b):
    return bool((a == b).all())


def test_missing_dvs_data_names_the_script(tmp_path):
    from spikformer_lite.data.neuromorphic import EventFrames

    with pytest.raises(FileNotFoundError, match="data_scripts/download_dvs.py --dataset cifar10dvs"):
        EventFrames("cifar10dvs", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="ibmGestureTest"):
        EventFrames("dvsgesture", "test", root=tmp_path)


def test_download_dvs_script_with_stubbed_network(tmp_path, monkeypatch):
    import importlib.util

    import tonic

    downloads = []

    def fake_download(self):  # what tonic would fetch, written locally instead
        downloads.append(self.filename)
        fake_data.write_dvsgesture(Path(self.location_on_system).parent, "train" if self.train else "test")

    monkeypatch.setattr(tonic.datasets.DVSGesture, "download", fake_download)
    spec = importlib.util.spec_from_file_location("download_dvs", Path(__file__).parents[1] / "data_scripts/download_dvs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--dataset", "dvsgesture", "--root", str(tmp_path)])
    assert downloads == ["ibmGestureTrain.tar.gz", "ibmGestureTest.tar.gz"]
    script.main(["--dataset", "dvsgesture", "--root", str(tmp_path)])
    assert len(downloads) == 2  # idempotent: present data is not fetched again


def test_cifar10dvs_from_aedat4_files_with_the_official_split(tmp_path):
    pytest.importorskip("aedat")
    pytest.importorskip("flatbuffers")
    from spikformer_lite.data.neuromorphic import EventFrames

    written = fake_data.write_cifar10dvs(tmp_path, per_class=100)  # 1,000 files, as tonic requires
    with pytest.warns(UserWarning, match="100 recordings per class, not the published 1,000"):
        train = EventFrames("cifar10dvs", "train", root=tmp_path, T=4, cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match="results are on this subset"):
        test = EventFrames("cifar10dvs", "test", root=tmp_path, T=4, cache_dir=tmp_path / "cache")
    assert len(train) == 900 and len(test) == 100
    assert np.bincount(test.labels).tolist() == [10] * 10
    # the test set is the last 10% of each class in recording order: files 90..99
    numbers = sorted(int(Path(test.source.data[i]).stem.split("_")[-1]) for i in test.indices[test.labels == 3])
    assert numbers == list(range(90, 100))
    frames, label = test[0]
    i = int(Path(test.source.data[test.indices[0]]).stem.split("_")[-1])
    t, x, y, on = written[(label, i)]
    assert frames.shape == (4, 2, 128, 128) and frames.sum() == len(t)
    np.testing.assert_array_equal(frames.numpy(), frames_split_by_number(
        np.rec.fromarrays([x, y, t, on.astype(bool)], names="x,y,t,p"), (128, 128, 2), 4))


def test_download_dvs_script_cifar10dvs_with_stubbed_network(tmp_path, monkeypatch):
    pytest.importorskip("aedat")
    import importlib.util

    import tonic
    import tonic.datasets.cifar10dvs as tonic_c10dvs

    calls = []
    monkeypatch.setattr(tonic.datasets.CIFAR10DVS, "download",
                        lambda self: calls.append("download") or fake_data.write_cifar10dvs(Path(self.location_on_system).parent))
    monkeypatch.setattr(tonic_c10dvs, "extract_archive", lambda path: calls.append(Path(path).name))  # the per-class zips
    spec = importlib.util.spec_from_file_location("download_dvs", Path(__file__).parents[1] / "data_scripts/download_dvs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--dataset", "cifar10dvs", "--root", str(tmp_path)])
    assert calls[0] == "download" and calls[1:] == [f"{c}.zip" for c in fake_data.CIFAR10DVS_CLASSES]
    script.main(["--dataset", "cifar10dvs", "--root", str(tmp_path)])
    assert calls.count("download") == 1  # present data is not fetched again


def test_denoise_is_optional_and_changes_the_cache_key(tmp_path):
    from spikformer_lite.data.neuromorphic import EventFrames

    fake_data.write_dvsgesture(tmp_path, "test")
    plain = EventFrames("dvsgesture", "test", root=tmp_path, T=2, cache_dir=tmp_path / "cache")
    denoised = EventFrames("dvsgesture", "test", root=tmp_path, T=2, denoise_us=100, cache_dir=tmp_path / "cache")
    assert plain.cache.folder != denoised.cache.folder
    events, _ = plain.source[0]
    assert plain[0][0].sum() == len(events)
    assert denoised[0][0].sum() < len(events)  # random sparse events are mostly isolated: Denoise drops them


def test_rcls_path_is_a_smooth_repeated_closed_loop():
    path = emulator.rcls_path(81, amplitude=2.0, loops=2)
    assert np.allclose(path[0], 0) and np.allclose(path[-1], 0) and np.allclose(path[40], 0, atol=1e-12)  # closed, twice
    assert np.abs(np.diff(path, axis=0)).max() < 0.35                       # smooth: small steps, no jumps
    assert np.allclose(np.hypot(path[:, 0], path[:, 1] - 2.0), 2.0)         # a circle of radius 2
    image = np.zeros((16, 16))
    image[4:12, 4:12] = 1.0
    ev, _ = emulator.emulate_events(image, path=path)
    assert len(ev) > 0 and ev["p"].any() and (~ev["p"]).any()               # moving edges give ON and OFF
