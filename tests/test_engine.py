"""The event-driven engine: every kernel against a naive reference, then the whole engine against the torch path.

Kernel tests are marked ``numba`` and run again with NUMBA_DISABLE_JIT=1 (the kernels as plain Python).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import spikformer_lite as sl
from spikformer_lite.engine import Engine, compare_predictions, fold_bn, sop_estimate, trace_disagreements
from spikformer_lite.kernels import events as K

import reference as ref

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
LIF64 = (np.float64(2.0), np.float64(0.5), True, np.float64(1.0), np.float64(0.0))  # tau, 1/tau, pow2, V_th, V_reset


def lif_args(v_threshold=1.0, dtype=np.float64):
    f = np.dtype(dtype).type
    return f(2.0), f(0.5), True, f(v_threshold), f(0.0)


def random_spikes(shape, rate, rng, counts=1):
    """uint8 spikes (or counts up to ``counts``) with the given density; rate 0 and 1 give all-zero and all-one."""
    x = (rng.random(shape) < rate).astype(np.uint8)
    if counts > 1:
        x *= rng.integers(1, counts + 1, shape, dtype=np.uint8)
    return x


def strided(x):
    """The same values as x in a non-contiguous view (channels stored first)."""
    y = np.moveaxis(np.moveaxis(x, -1, 0).copy(), 0, -1)
    assert not y.flags.c_contiguous and np.array_equal(y, x)
    return y


def to_torch_grid(x, H):
    """(T, B, H*W, C) uint8 -> (T, B, C, H, W) float64."""
    T, B, P, C = x.shape
    return torch.from_numpy(x.astype(np.float64)).reshape(T, B, H, P // H, C).permute(0, 1, 4, 2, 3)


# ---------------------------------------------------------------------------- kernels
@pytest.mark.numba
def test_popcount_of_and_words_matches_naive_count():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, (5, 3), dtype=np.uint64) | np.uint64(1 << 63)  # the top bit set too
    b = rng.integers(0, 2**63, (4, 3), dtype=np.uint64)
    b[0] = np.uint64(2**64 - 1)  # all ones
    b[1] = 0
    out = np.empty((5, 4), np.int32)
    K._and_popcount(a, b, out)
    expected = [[sum(ref.popcount(int(a[i, w]) & int(b[j, w])) for w in range(3)) for j in range(4)] for i in range(5)]
    assert out.tolist() == expected


@pytest.mark.numba
@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_events_lists_the_active_channels(rate):
    rng = np.random.default_rng(1)
    x = random_spikes((2, 3, 5, 7), rate, rng, counts=3)
    nnz, idx = K.events(x)
    for t, b, p in np.ndindex(2, 3, 5):
        active = np.flatnonzero(x[t, b, p])
        assert nnz[t, b, p] == len(active) and idx[t, b, p, :nnz[t, b, p]].tolist() == active.tolist()
    x_strided = x.transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)  # the same values, not C-contiguous
    assert not x_strided.flags.c_contiguous
    nnz2, idx2 = K.events(x_strided)
    assert np.array_equal(nnz2, nnz) and all(
        np.array_equal(idx2[t, b, p, :n], idx[t, b, p, :n]) for (t, b, p), n in np.ndenumerate(nnz))


@pytest.mark.numba
@pytest.mark.parametrize("T,B,H,W,C_in,C_out,rate", [
    (2, 2, 6, 6, 4, 8, 0.3), (3, 1, 5, 7, 3, 5, 0.5), (1, 2, 4, 4, 2, 3, 0.0), (2, 1, 3, 3, 2, 4, 1.0)])
def test_conv3x3_lif_matches_conv2d_and_lif(T, B, H, W, C_in, C_out, rate):
    rng = np.random.default_rng(2)
    x = random_spikes((T, B, H * W, C_in), rate, rng)
    weight = torch.from_numpy(rng.normal(0, 0.6, (C_out, C_in, 3, 3)))
    bias = torch.from_numpy(rng.normal(0.3, 0.3, C_out))
    w = np.ascontiguousarray(weight.permute(2, 3, 1, 0).reshape(9, C_in, C_out).numpy())
    spikes, h, ops = K.conv3x3_lif(strided(x), H, W, w, bias.numpy(), LIF64, record=True)
    xt = to_torch_grid(x, H)
    s_ref, h_ref = ref.lif_steps(ref.spike_conv3x3(xt, weight, bias))
    torch.testing.assert_close(to_torch_grid(spikes, H), s_ref, rtol=0, atol=0)
    torch.testing.assert_close(torch.from_numpy(h).reshape(T, B, H, W, C_out).permute(0, 1, 4, 2, 3), h_ref)
    assert ops == ref.conv3x3_accumulates(xt, C_out)
    if rate == 0.0:
        assert ops == 0


@pytest.mark.numba
@pytest.mark.parametrize("T,B,N,D_in,D_out,rate", [(2, 2, 5, 7, 9, 0.3), (1, 1, 3, 4, 4, 0.0), (2, 1, 4, 3, 5, 1.0)])
def test_linear_lif_matches_matmul_and_lif_on_counts(T, B, N, D_in, D_out, rate):
    rng = np.random.default_rng(3)
    x = random_spikes((T, B, N, D_in), rate, rng, counts=3)  # token counts after residual connections
    weight = rng.normal(0, 0.5, (D_in, D_out))
    bias = rng.normal(0.2, 0.3, D_out)
    spikes, h, ops = K.linear_lif(strided(x), weight, bias, LIF64, record=True)
    s_ref, h_ref = ref.lif_steps(torch.from_numpy(x.astype(np.float64)) @ torch.from_numpy(weight) + torch.from_numpy(bias))
    torch.testing.assert_close(torch.from_numpy(spikes.astype(np.float64)), s_ref, rtol=0, atol=0)
    torch.testing.assert_close(torch.from_numpy(h), h_ref)
    assert ops == int(x.astype(np.int64).sum()) * D_out  # each count adds its row once: additions only


@pytest.mark.numba
@pytest.mark.parametrize("kv_first", [True, False])
@pytest.mark.parametrize("N,D,heads,rate", [(70, 12, 2, 0.3), (5, 140, 1, 0.4), (9, 8, 4, 0.0), (6, 8, 2, 1.0)])
def test_ssa_lif_bit_packed_equals_float_attention(kv_first, N, D, heads, rate):
    """Both orders on N and d across the 64-bit word boundary (70 tokens, 140 channels), empty and full spikes."""
    rng = np.random.default_rng(4)
    T, B = 2, 2
    q, k, v = (random_spikes((T, B, N, D), rate, rng) for _ in range(3))
    scale = np.float64(0.125)
    spikes, h, acc_ops, word_ops = K.ssa_lif(strided(q), k, strided(v), heads, scale, kv_first, lif_args(0.5),
                                             record=True)
    f = lambda a: torch.from_numpy(a.astype(np.float64))
    s_ref, h_ref = ref.lif_steps(ref.spiking_attention_counts(f(q), f(k), f(v), heads) * 0.125, v_threshold=0.5)
    torch.testing.assert_close(f(spikes), s_ref, rtol=0, atol=0)
    torch.testing.assert_close(torch.from_numpy(h), h_ref, rtol=0, atol=0)  # integer counts: exact
    d = D // heads
    if kv_first:
        assert word_ops == T * B * heads * d * d * -(-N // 64) and acc_ops == int(q.sum()) * d
    else:
        assert word_ops == T * B * heads * N * N * -(-d // 64) and acc_ops == int(v.sum()) * N


@pytest.mark.numba
@pytest.mark.parametrize("H,W", [(8, 8), (7, 5), (1, 3)])
def test_max_pool_of_spikes_matches_torch(H, W):
    rng = np.random.default_rng(5)
    s = random_spikes((2, 3, H * W, 4), 0.2, rng)
    out, Ho, Wo = K.max_pool3x3s2(strided(s), H, W)
    expected = F.max_pool2d(to_torch_grid(s, H).flatten(0, 1), 3, 2, 1)
    assert expected.shape[-2:] == (Ho, Wo)
    torch.testing.assert_close(to_torch_grid(out, Ho).flatten(0, 1), expected, rtol=0, atol=0)


@pytest.mark.numba
def test_lif_dense_broadcasts_one_input_over_time():
    rng = np.random.default_rng(6)
    current = rng.normal(0.8, 0.7, (1, 2, 5, 3))
    spikes, h = K.lif_dense(current, 4, LIF64, record=True)
    s_ref, h_ref = ref.lif_steps(torch.from_numpy(current).expand(4, 2, 5, 3))
    torch.testing.assert_close(torch.from_numpy(spikes.astype(np.float64)), s_ref, rtol=0, atol=0)
    torch.testing.assert_close(torch.from_numpy(h), h_ref)


def test_binary_kernels_refuse_counts_and_wrong_dtypes():
    rng = np.random.default_rng(7)
    counts = random_spikes((1, 1, 9, 2), 0.5, rng, counts=2)
    counts[0, 0, 0, 0] = 2
    w, b = np.zeros((9, 2, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="binary spikes .* values up to 2"):
        K.conv3x3_lif(counts, 3, 3, w, b, LIF64)
    with pytest.raises(ValueError, match="ssa_lif Q must be binary"):
        K.ssa_lif(counts, counts, counts, 1, np.float64(0.125), True, LIF64)
    with pytest.raises(ValueError, match="binary"):
        K.max_pool3x3s2(counts, 3, 3)
    with pytest.raises(ValueError, match="uint8 array"):
        K.linear_lif(counts.astype(np.float32), np.zeros((2, 3)), b, LIF64)
    with pytest.raises(ValueError, match="does not fit weight"):
        K.linear_lif(counts, np.zeros((3, 3)), b, LIF64)


def test_kernels_pass_without_jit():
    """Run every numba-marked test of this file again with NUMBA_DISABLE_JIT=1."""
    if NO_JIT:
        pytest.skip("already running without JIT")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "numba", "-p", "no:cacheprovider", __file__],
                          env=env, capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


# ---------------------------------------------------------------------------- the engine
def small_model(preset="cifar10-4-384", dtype=torch.float64, seed=0, **overrides):
    torch.manual_seed(seed)
    sizes = dict(depth=2, embed_dim=32, num_heads=2, T=2)
    model = sl.create_model(preset, **{**sizes, **overrides}).to(dtype)
    cfg = model.cfg
    brightness = torch.linspace(0.5, 3, 6, dtype=dtype).reshape(1, 6, 1, 1, 1)  # samples that differ
    x = torch.rand(cfg.T, 6, cfg.in_channels, cfg.image_size, cfg.image_size, dtype=dtype) * brightness
    if cfg.encoding == "direct":
        x = model.encode(x[0])
    sl.calibrate_batchnorm(model, x)
    with torch.no_grad():  # BN shifts that make the neurons fire often enough to test something
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.bias.add_(0.6)
    return model.eval(), x


def check_engine_equals_torch(model, x, images=None):
    engine = Engine(model)
    run = engine.run(images if images is not None else x, record=True)
    with torch.no_grad(), sl.record_spikes(model, membrane=True) as rec:
        logits = model(x)
    assert list(run.spikes) == list(rec.spikes)  # every LIF layer, in the order of the forward pass
    for name in rec.spikes:
        assert torch.equal(run.spikes[name], rec.spikes[name]), name
        torch.testing.assert_close(run.h[name], rec.membrane[name], rtol=1e-9, atol=1e-9)
    rates = sl.firing_rates(rec)
    assert min(rates.values()) > 0.01 and max(rates.values()) < 0.9, rates  # a test with spikes in it
    torch.testing.assert_close(run.logits, logits, rtol=1e-9, atol=1e-9)
    return engine, run


def test_engine_equals_torch_path_in_float64():
    model, x = small_model()
    engine, run = check_engine_equals_torch(model, x, images=x[0])  # static images: the first conv runs once
    assert run.macs["sps.stages.0.conv"] == 6 * 4 * 3 * (3 * 32 - 2) ** 2  # 1 step, not T; taps on the image
    run_frames = engine.run(x)  # the same images as (T, B, ...) frames
    torch.testing.assert_close(run_frames.logits, run.logits, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("preset", ["cifar10dvs-2-256", "dvs128-2-256"])
def test_engine_equals_torch_path_on_event_presets(preset):
    """Event frames differ per step; DVS128 Gesture also max-pools Q and K over tokens."""
    model, x = small_model(preset, image_size=32, embed_dim=32, num_heads=2)
    check_engine_equals_torch(model, x)


def test_both_attention_orders_give_the_same_spikes():
    model, x = small_model(num_heads=1)  # d = 32 < N = 64: Q (K^T V) is the cheaper order
    engine = Engine(model)
    assert engine.kv_first
    a = engine.run(x[0], record=True)
    engine.kv_first = False
    b = engine.run(x[0], record=True)
    assert all(torch.equal(a.spikes[n], b.spikes[n]) for n in a.spikes)
    assert a.word_ops["blocks.0.attn.ssa"] < b.word_ops["blocks.0.attn.ssa"]


@pytest.mark.parametrize("preset,sizes", [("cifar10-4-384", {}),
                                          ("dvs128-2-256", dict(image_size=64, embed_dim=32, num_heads=2))])
def test_engine_operation_counts_agree_with_eq21(preset, sizes):
    """Linear layers and SSA: rate x T x FLOPs exactly. Convolutions: within 10%, the estimate assuming the
    spikes spread evenly over the image; border pixels reach fewer outputs, which the exact count knows.
    DVS128 Gesture pools Q over tokens before SSA, and d = N there, so SSA runs Q (K^T V) on the pooled Q."""
    from spikformer_lite.engine import conv_accumulates

    model, x = small_model(preset, **sizes)
    images = x[0] if model.cfg.encoding == "direct" else x
    engine = Engine(model)
    run = engine.run(images, record=True)
    est = sop_estimate(model, images)
    assert set(est) == set(run.ops) and engine.kv_first
    for name, ops in run.ops.items():
        if name.endswith(".conv"):
            assert abs(ops / est[name] - 1) < 0.10, (name, ops, est[name])
            spikes = run.inputs[name]
            side = int(round(spikes.shape[2] ** 0.5))
            C_out = model.get_submodule(name).out_channels
            assert ops == conv_accumulates(spikes, side, side, C_out), name
        else:
            assert ops == pytest.approx(est[name], rel=1e-9), name
    if preset == "cifar10-4-384":
        T, B = model.cfg.T, 6
        stage2_in = F.max_pool2d(run.spikes["sps.stages.2.lif"].flatten(0, 1), 3, 2, 1).reshape(T, B, 16, 16, 16)
        assert run.ops["sps.stages.3.conv"] == ref.conv3x3_accumulates(stage2_in, 32)


def test_engine_rejects_what_it_cannot_run():
    model, x = small_model()
    with pytest.raises(ValueError, match="eval"):
        Engine(model.train())
    model.eval()
    with pytest.raises(ValueError, match=r"images \(B, 3, 32, 32\) or frames"):
        Engine(model).run(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="non-finite"):
        Engine(model).run(torch.full((1, 3, 32, 32), float("nan")))
    vsa, _ = small_model(attention="vsa")
    with pytest.raises(ValueError, match="spiking self-attention"):
        Engine(vsa)
    with pytest.raises(TypeError, match="Spikformer"):
        Engine(torch.nn.Linear(2, 2))
    odd, _ = small_model(scale=0.1)
    with pytest.raises(ValueError, match="power-of-two scale"):
        Engine(odd)
    dvs, frames = small_model("cifar10dvs-2-256", image_size=32)
    with pytest.raises(ValueError, match="T=2 event frames, got 1"):
        Engine(dvs).run(frames[:1])


def test_fold_bn_is_bn_of_the_layer():
    bn = torch.nn.BatchNorm1d(5).double().eval()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.normal_()
    bn.bias.data.normal_()
    lin = torch.nn.Linear(4, 5).double()
    w, b = fold_bn(lin.weight, lin.bias, bn)
    x = torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(F.linear(x, w, b), bn(lin(x)))


def test_disagreement_tracer_finds_the_first_layer_that_differs():
    """An engine whose first-layer bias is off by 0.3: the tracer must point at that layer and say that the
    flipped neurons were not near their threshold (not a rounding flip)."""
    model, x = small_model(dtype=torch.float32)
    with torch.no_grad():  # a nearest-centroid head that tells the 6 samples apart (an untrained one does not)
        feats = []
        handle = model.head.register_forward_hook(lambda m, i, o: feats.append(i[0]))
        model(x)
        handle.remove()
        f = feats[0]  # (6, D)
        model.head.weight.zero_()
        model.head.bias.fill_(-1e9)
        model.head.weight[:6] = 2 * f  # logit c = -|f_b - f_c|^2 + |f_b|^2: largest for c = b
        model.head.bias[:6] = -(f * f).sum(1)
        assert model(x).argmax(1).tolist() == list(range(6))
    agreement, traces, _ = trace_disagreements(model, x[0])
    assert agreement == 1.0 and traces == []
    engine = Engine(model)
    w0, b0 = engine.conv0
    engine.conv0 = (w0, b0 + 0.3)
    agreement, traces, _ = trace_disagreements(model, x[0], engine)
    assert agreement < 1 and len(traces) == round((1 - agreement) * 6)
    for t in traces:
        assert t["layer"] == "sps.stages.0.lif" and t["t"] == 0 and t["n_flipped"] > 0
        assert not t["within_rounding"] and t["max_margin"] > 1e-4


ROOT = os.environ.get("SPIKFORMER_DATA")


@pytest.mark.skipif(not ROOT or not os.path.isfile(os.path.join(ROOT, "cifar10", "cifar10_jpeg.npz")),
                    reason="SPIKFORMER_DATA does not hold cifar10/cifar10_jpeg.npz")
def test_published_checkpoint_same_predictions_on_test_images():
    """The published CIFAR-10 model on 200 test images: the engine predicts what the torch path predicts,
    and any disagreement is a membrane potential within rounding of its threshold."""
    from spikformer_lite.published import load_published
    from spikformer_lite.train import RECIPES, load_split, make_batch

    model, entry = load_published("cifar10-quick")
    test = load_split("cifar10", "test", model.cfg.T)
    x, _ = make_batch(test, torch.arange(0, 10_000, 50), False, RECIPES[("cifar", "quick")], 0, None, model.cfg)
    agreement, traces, _ = trace_disagreements(model.set_backend("numba"), x[0])
    assert all(t["within_rounding"] for t in traces), traces
    assert agreement >= 0.99


def test_crossover_interpolates_where_the_event_kernel_stops_winning():
    from spikformer_lite.benchmark import crossover

    rates = [0.01, 0.1, 0.5]
    c = crossover(rates, [1.0, 2.0, 8.0], [4.0, 4.0, 4.0])
    assert 0.1 < c < 0.5 and abs(np.log(2.0 / 4.0) + (np.log(8.0 / 4.0) - np.log(2.0 / 4.0)) *
                                  (np.log(c) - np.log(0.1)) / (np.log(0.5) - np.log(0.1))) < 1e-12
    assert crossover(rates, [1, 1, 1], [2, 2, 2]) is None  # events faster everywhere
    assert crossover(rates, [3, 3, 3], [2, 2, 2]) is None  # slower everywhere


def test_tracer_with_every_flip_traces_samples_whose_predictions_agree():
    model, x = small_model(dtype=torch.float32)
    engine = Engine(model)
    w0, b0 = engine.conv0
    engine.conv0 = (w0, b0 + 1e-3)  # small: spikes flip near the threshold, most predictions stay
    agreement, traces, _ = trace_disagreements(model, x[0], engine, every_flip=True)
    assert len(traces) >= round((1 - agreement) * 6) and len(traces) > 0
    for t in traces:
        assert t["layer"] == "sps.stages.0.lif" and t["max_margin"] <= 1e-3 + 1e-6


def test_compare_predictions_traces_only_the_disagreements():
    model, x = small_model(dtype=torch.float32)
    result = compare_predictions(model, x[0], batch_size=4)
    assert result["n"] == 6 and result["agreed"] == 6 and result["traces"] == []
    assert result["max_logit_diff"] < 1e-4 and torch.equal(result["engine_pred"], result["torch_pred"])
    assert result["n_logits_moved"] == 0


def test_compare_predictions_lists_the_samples_whose_logits_moved():
    """``moved`` holds the index in the whole input (across batches) of every sample whose logits moved."""
    model, x = small_model(dtype=torch.float32)
    engine = Engine(model)
    w0, b0 = engine.conv0
    engine.conv0 = (w0, b0 + 1e-3)  # spikes flip near the threshold in some samples
    with torch.no_grad():
        gap = (model(x) - engine(x[0])).abs().amax(1)
    expected = torch.nonzero(gap > 1e-4).flatten().tolist()
    result = compare_predictions(model, x[0], engine, batch_size=4)  # 6 samples: batches of 4 and 2
    assert result["moved"] == expected and result["n_logits_moved"] == len(expected) > 0
    assert max(expected) >= 4  # a sample of the second batch: its index counts the first batch's 4
    _, traces, _ = trace_disagreements(model, x[0][expected], engine, every_flip=True)
    assert len(traces) == len(expected)
