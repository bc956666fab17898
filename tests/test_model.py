"""Spikformer: parameter parity with the paper, contract tests over every preset, SSA, backends."""

import pytest
import torch

import spikformer_lite as sl
from spikformer_lite.model import attention_map, spiking_attention

PRESET_NAMES = sl.list_models()


def small(name, **overrides):
    """A preset at a reduced input size (32 x 32, T=2) so that CPU tests stay fast."""
    return sl.create_model(name, image_size=32, T=2, **overrides)


def sample_input(model, B=2, seed=0):
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    if cfg.encoding == "direct":
        return model.encode(torch.rand(B, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g) * 2)
    # event frames: sparse non-negative counts
    return (torch.rand(cfg.T, B, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g) < 0.2).float() * 3


# ---------------------------------------------------------------- parameter parity (Tables 2, 3, 4)

@pytest.mark.parametrize("name", PRESET_NAMES)
def test_parameter_count_matches_paper(name):
    preset = sl.PRESETS[name]
    ours = sl.count_parameters(sl.create_model(name))
    assert abs(ours + preset.paper_params_offset - preset.paper_params_m * 1e6) <= 0.01e6, (
        f"{name}: ours {ours / 1e6:.4f}M (+ offset {preset.paper_params_offset}) vs paper {preset.paper_params_m}M")
    if preset.paper_params_offset:
        assert preset.notes, "an offset must be explained"


def test_offsets_are_what_the_notes_say():
    # CIFAR-100 differs from CIFAR-10 only by its head: 90 more classes x (D + 1).
    c10 = sl.count_parameters(sl.create_model("cifar10-4-384"))
    c100 = sl.count_parameters(sl.create_model("cifar100-4-384"))
    assert c100 - c10 == 90 * 385 == -sl.PRESETS["cifar100-4-384"].paper_params_offset
    # Only these three presets needed an explanation.
    explained = {n for n in PRESET_NAMES if sl.PRESETS[n].paper_params_offset}
    assert explained == {"cifar100-4-384", "dvs128-2-256", "cifar10dvs-2-256"}


def test_paper_counts_leave_out_unused_modules_for_cifar_and_imagenet_but_not_for_dvs():
    """The official code registers LayerNorms (and, for DVS, a position embedding) it never uses.
    Tables 2-3's counts match the model without them; sec. 4.2's 2.59M for the DVS models only with them."""
    from spikformer_lite.config import _DVS_UNUSED, official_unused_parameters

    for name in PRESET_NAMES:
        preset = sl.PRESETS[name]
        with torch.device("meta"):
            ours = sl.count_parameters(sl.create_model(name))
        official = ours + official_unused_parameters(name)
        paper = preset.paper_params_m * 1e6
        if name.startswith(("dvs", "cifar10dvs")):
            assert official_unused_parameters(name) == _DVS_UNUSED == preset.paper_params_offset
            assert abs(official - paper) <= 0.01e6 < abs(ours - paper), name
        elif name != "cifar100-4-384":
            assert abs(ours - paper) <= 0.01e6, name
    # cifar10-4-384 with its 6,144 unused LayerNorm parameters would be 9.33M, not Table 3's 9.32M
    with torch.device("meta"):
        c10 = sl.count_parameters(sl.create_model("cifar10-4-384"))
    assert official_unused_parameters("cifar10-4-384") == 6144 and round((c10 + 6144) / 1e6, 2) == 9.33
    assert official_unused_parameters("imagenet-8-512") == 16384


def test_presets_follow_the_paper():
    assert sl.get_config("cifar10-4-384").num_tokens == 64  # 32x32 -> 8x8 (pool after stages 3, 4)
    assert sl.get_config("imagenet-8-512").num_tokens == 196  # 224 -> 14x14
    assert sl.get_config("cifar10dvs-2-256").num_tokens == 64  # 128 -> 8x8
    assert sl.get_config("dvs128-2-256").qk_pool and sl.get_config("dvs128-2-256").T == 16
    assert sl.get_config("cifar10dvs-2-256").scale_after_v and sl.get_config("cifar10dvs-2-256").scale == 0.25
    assert all(sl.get_config(n).attn_v_threshold == 0.5 for n in PRESET_NAMES)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown model"):
        sl.create_model("cifar10-9-999")
    with pytest.raises(ValueError, match="unknown config field"):
        sl.create_model("cifar10-4-384", embed_dims=256)
    with pytest.raises(ValueError, match="num_heads"):
        sl.create_model("cifar10-4-384", num_heads=7)
    with pytest.raises(ValueError, match="attention must be one of"):
        sl.create_model("cifar10-4-384", attention="linear")


# ---------------------------------------------------------------- contract tests over every preset

@pytest.mark.parametrize("name", PRESET_NAMES)
def test_contract(name):
    model = small(name)
    cfg = model.cfg
    x = sample_input(model)

    with sl.record_spikes(model) as rec:
        logits = model(x)
    assert logits.shape == (2, cfg.num_classes)
    assert torch.isfinite(logits).all()

    # spikes are binary at every LIF output, and there is one recording per LIF layer
    n_lif = sum(isinstance(m, sl.LIF) for m in model.modules())
    assert len(rec.spikes) == n_lif
    for layer, s in rec.spikes.items():
        assert s.shape[0] == cfg.T, layer
        assert ((s == 0) | (s == 1)).all(), f"{layer} emits non-binary values"
    assert any(s.sum() > 0 for s in rec.spikes.values())

    # every parameter gets a gradient
    logits.logsumexp(-1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
    assert sum(p.grad.abs().sum() for p in model.parameters()) > 0


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_eval_is_deterministic_and_per_sample(name):
    model = small(name).double().eval()
    x = sample_input(model, B=3).double()
    with torch.no_grad():
        y = model(x)
        assert torch.equal(model(x), y)  # same output twice: no hidden state
        y_one = model(x[:, 1:2])  # the second sample alone, batch size 1
    torch.testing.assert_close(y_one, y[1:2], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["cifar10-4-256", "cifar10dvs-2-256"])
def test_rejects_mis_shaped_input(name):
    model = small(name)
    cfg = model.cfg
    x = sample_input(model, B=3)
    with pytest.raises(ValueError, match=r"\(T=2, B,"):
        model(x.flatten(0, 1))  # T*B folded into B
    with pytest.raises(ValueError, match="batch-first"):
        model(x.transpose(0, 1))  # (B=3, T=2, ...)
    with pytest.raises(ValueError, match="must have shape"):
        model(x[:, :, :1])  # wrong channel count
    with pytest.raises(ValueError, match="must have shape"):
        model(torch.cat([x, x]))  # T=4 for a T=2 model
    if cfg.encoding == "direct":
        with pytest.raises(ValueError, match="model.encode"):
            model(x[0])  # a static image batch without T
        with pytest.raises(ValueError, match="encode expects"):
            model.encode(x)
    with pytest.raises(ValueError, match="floating-point"):
        model(x.long())


# ---------------------------------------------------------------- SSA

def test_ssa_rejects_mis_shaped_tokens():
    ssa = small("cifar10-4-256").blocks[0].attn
    with pytest.raises(ValueError, match=r"SSA input must have shape \(T, B, N, D=256\)"):
        ssa(torch.rand(2, 3, 64, 128))
    with pytest.raises(ValueError, match="SSA input must have shape"):
        ssa(torch.rand(6, 64, 256))  # T*B folded

def random_spikes(*shape, p=0.3, seed=0):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


@pytest.mark.parametrize("scale_after_v", [False, True])
def test_both_computation_orders_are_equal(scale_after_v):
    q, k, v = (random_spikes(2, 3, 4, 64, 32, seed=i) for i in range(3))  # (T, B, Hd, N, d)
    a = spiking_attention(q, k, v, 0.125, "qk_first", scale_after_v)
    b = spiking_attention(q, k, v, 0.125, "kv_first", scale_after_v)
    assert torch.equal(a, b)  # integer counts times a power of two: exact in both orders
    reference = torch.einsum("tbhnd,tbhmd,tbhme->tbhne", q.double(), k.double(), v.double()) * 0.125
    assert torch.equal(a.double(), reference)


def test_attention_map_is_and_plus_count():
    q, k = random_spikes(1, 1, 1, 5, 16, seed=1), random_spikes(1, 1, 1, 5, 16, seed=2)
    attn = attention_map(q, k)
    for i in range(5):
        for j in range(5):
            both = [bool(a) and bool(b) for a, b in zip(q[0, 0, 0, i].tolist(), k[0, 0, 0, j].tolist())]
            assert attn[0, 0, 0, i, j] == sum(both)
    assert (attn >= 0).all()


def test_model_orders_give_identical_outputs():
    torch.manual_seed(0)
    a = small("cifar10-2-384").eval()
    b = small("cifar10-2-384", attention_order="kv_first").eval()
    b.load_state_dict(a.state_dict())
    x = sample_input(a)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_attention_maps_per_block_head_and_time_step():
    model = small("cifar10-2-384").eval()
    x = sample_input(model)
    with torch.no_grad():
        logits, maps = model(x, return_attn=True)
        assert torch.equal(logits, model(x))
    cfg = model.cfg
    assert len(maps) == cfg.depth
    for attn in maps:
        assert attn.shape == (cfg.T, 2, cfg.num_heads, cfg.num_tokens, cfg.num_tokens)
        assert (attn >= 0).all() and torch.equal(attn, attn.round())  # counts of shared spikes
        assert attn.max() <= cfg.head_dim


@pytest.mark.parametrize("variant", ["ssa", "vsa", "vsa_float_v", "identity", "relu", "leaky_relu"])
def test_attention_variants_run_and_differ_as_described(variant):
    model = small("cifar10-4-256", attention=variant)
    x = sample_input(model)
    logits, maps = model(x, return_attn=True)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    attn = maps[0]
    if variant in ("vsa", "vsa_float_v"):
        torch.testing.assert_close(attn.sum(-1), torch.ones_like(attn.sum(-1)))  # softmax rows
    if variant in ("ssa", "relu"):
        assert (attn >= 0).all()
    if variant in ("identity", "leaky_relu"):
        assert (attn < 0).any()  # keeps negative correlations


def test_qk_pool_makes_q_and_k_denser():
    model = small("dvs128-2-256").eval()
    x = sample_input(model)
    ssa = model.blocks[0].attn
    with torch.no_grad():
        tokens = model.sps(x)
        q_plain = ssa.q(tokens)
        q_pooled, _, _ = ssa.qkv(tokens)
    q_pooled = q_pooled.transpose(2, 3).flatten(3)  # (T, B, N, D)
    assert q_pooled.shape == q_plain.shape
    assert (q_pooled >= q_plain).all() and q_pooled.sum() >= q_plain.sum()
    assert torch.equal(q_pooled, torch.nn.functional.max_pool1d(
        q_plain.flatten(0, 1).transpose(1, 2), 3, 1, 1).transpose(1, 2).reshape(q_plain.shape))


# ---------------------------------------------------------------- backends

@pytest.mark.parametrize("name", ["cifar10-2-384", "cifar10dvs-2-256"])
def test_numba_backend_gives_identical_outputs(name):
    model = small(name).eval()
    x = sample_input(model)
    with torch.no_grad():
        y_torch = model(x)
        y_numba = model.set_backend("numba")(x)
    assert torch.equal(y_torch, y_numba)
    assert all(m.backend == "numba" for m in model.modules() if isinstance(m, sl.LIF))


def test_numba_backend_trains_like_torch():
    torch.manual_seed(0)
    a = small("cifar10-4-256")
    b = small("cifar10-4-256", backend="numba")
    b.load_state_dict(a.state_dict())
    x = sample_input(a)
    ya, yb = a(x), b(x)
    assert torch.equal(ya, yb)
    ya.square().sum().backward()
    yb.square().sum().backward()
    # Gradients agree to float rounding relative to the model's gradient scale. (A bias in
    # front of a BatchNorm has a gradient that is zero up to rounding, so per-tensor
    # relative errors would only compare noise.)
    scale = max(p.grad.abs().max().item() for p in a.parameters())
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)


def test_membrane_recording_matches_spikes():
    model = small("cifar10-4-256").eval()
    with torch.no_grad(), sl.record_spikes(model, membrane=True) as rec:
        model(sample_input(model))
    for name, s in rec.spikes.items():
        v_th = model.get_submodule(name).v_threshold
        assert torch.equal(s, (rec.membrane[name] >= v_th).float()), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_forward_backward():
    model = small("cifar10-4-256").cuda()
    x = sample_input(model).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x)
    assert torch.isfinite(logits).all()
    logits.float().sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fused_backend_model_equals_torch_backend():
    model = small("cifar10-4-256").cuda().eval()
    x = sample_input(model).cuda()
    with torch.no_grad():
        ref = model(x)
        fused = model.set_backend("fused")(x)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model.train()(x)
    logits.float().sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_preset_table_counts_match_built_models():
    rows = {r["model"]: r for r in sl.preset_table()}
    assert list(rows) == PRESET_NAMES
    for name in ("cifar10-4-256", "cifar10dvs-2-256"):
        assert rows[name]["params_ours"] == f"{sl.count_parameters(sl.create_model(name)) / 1e6:.3f}M"
    assert rows["imagenet-8-512"]["tokens"] == 196 and rows["dvs128-2-256"]["T"] == 16


def test_preset_diff_lists_exactly_the_differing_fields():
    diff = {r["field"]: r for r in sl.config.preset_diff("cifar10dvs-2-256", "dvs128-2-256")}
    assert set(diff) == {"num_heads", "num_classes", "qk_pool"}
    assert diff["qk_pool"]["dvs128-2-256"] is True and "C.1" in diff["qk_pool"]["source"]
    assert all(r["source"] for r in sl.config.preset_diff("cifar10-4-384", "cifar10dvs-2-256"))


def test_trace_shapes_keeps_T_first():
    model = small("cifar10-4-256").eval()
    with torch.no_grad():
        rows = sl.trace_shapes(model, sample_input(model), ["sps", "blocks.0.attn", "head"])
    assert [r[0] for r in rows] == ["sps", "blocks.0.attn", "head"]
    assert rows[0][2] == (2, 2, 64, 256) and rows[1][1] == rows[1][2] and rows[2][2] == (2, 10)


def test_calibrate_batchnorm_uses_batch_statistics():
    model = small("cifar10-4-256")
    x = sample_input(model, B=4)
    sl.calibrate_batchnorm(model, x)
    assert not model.training
    bn = model.sps.stages[0].bn
    with torch.no_grad():
        y = model.sps.stages[0].conv(x.flatten(0, 1))
    torch.testing.assert_close(bn.running_mean, y.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1  # restored
