"""Operations and energy as the paper counts them (appendix C.2, eq. 21-24).

    macs = ann_macs(get_config("imagenet-8-512"))      # {layer: MACs of one dense forward pass, one image}
    energy_mj(macs=..., sops=...)                      # eq. 22: 4.6 pJ per MAC + 0.9 pJ per AC, in mJ

Eq. 21 counts a spike-fed layer's synaptic operations as SOPs = fr x T x FLOPs, where FLOPs is "the
number of multiply-and-accumulate (MAC) operations" of the layer run densely; eq. 22 prices the first
convolution (it sees pixels) as MACs and everything else as ACs, at the 45 nm figures E_MAC = 4.6 pJ and
E_AC = 0.9 pJ. The engine (``spikformer_lite.engine``) counts the ACs it actually performs and compares
them with eq. 21 (``engine.sop_estimate``).

Two counting conventions matter for matching the paper's numbers, and both are parameters here:
- ``padding_taps``: a 3x3 convolution with padding 1 is usually counted as H W C_out C_in 9 MACs, taps on
  the zero padding included (what tools such as thop report); the engine only performs the taps that land
  on the image, (3H - 2)(3W - 2) C_out C_in.
- whether and how the attention products are counted: Q K^T and (Q K^T) V are N^2 D MACs each per block
  for a softmax transformer, N^2 D and N D d for the two products of SSA in Q (K^T V) order.
"""

import math

from .config import SpikformerConfig

E_MAC_PJ = 4.6  # picojoules per 32-bit floating-point multiply-accumulate, 45 nm (the paper, after Horowitz 2014)
E_AC_PJ = 0.9  # picojoules per 32-bit floating-point accumulate


def _conv_macs(side, c_in, c_out, padding_taps):
    taps = 9 * side * side if padding_taps else (3 * side - 2) ** 2
    return taps * c_in * c_out


def ann_macs(cfg: SpikformerConfig, padding_taps=True, attention=True):
    """MACs of one dense forward pass of the model's architecture for one image (one time step), per layer.

    This is the ANN view of the model: every convolution and linear layer as a dense product (with
    ``padding_taps``, the taps on the zero padding count too), the two attention products Q K^T and
    (Q K^T) V as N^2 D MACs each per block when ``attention``, and the head. BatchNorm, the nonlinearity,
    softmax and pooling are not counted. Names follow the model's modules.
    """
    D, N = cfg.embed_dim, cfg.num_tokens
    widths = (cfg.in_channels, D // 8, D // 4, D // 2, D)
    side = cfg.image_size
    out = {}
    for i in range(4):
        out[f"sps.stages.{i}.conv"] = _conv_macs(side, widths[i], widths[i + 1], padding_taps)
        if cfg.sps_pool[i]:
            side = (side - 1) // 2 + 1  # max-pool 3x3, stride 2, padding 1
    out["sps.rpe.conv"] = _conv_macs(side, D, D, padding_taps)
    hidden = cfg.mlp_ratio * D
    for b in range(cfg.depth):
        p = f"blocks.{b}"
        for name in ("q", "k", "v"):
            out[f"{p}.attn.{name}.linear"] = N * D * D
        if attention:
            out[f"{p}.attn.qk"] = N * N * D
            out[f"{p}.attn.av"] = N * N * D
        out[f"{p}.attn.proj.linear"] = N * D * D
        out[f"{p}.mlp.fc1.linear"] = N * D * hidden
        out[f"{p}.mlp.fc2.linear"] = N * hidden * D
    out["head"] = D * cfg.num_classes
    return out


def energy_mj(macs=0.0, sops=0.0):
    """Eq. 22-24: E = E_MAC x MACs + E_AC x SOPs, in millijoules."""
    return (E_MAC_PJ * macs + E_AC_PJ * sops) * 1e-9


def first_conv_macs(cfg: SpikformerConfig, padding_taps=True):
    """MACs of the first convolution for one image over all T steps, as eq. 22 counts it: with direct
    encoding the same image is convolved at every step (the official code does not reuse the result)."""
    return cfg.T * ann_macs(cfg, padding_taps, attention=False)["sps.stages.0.conv"]


def firing_rates(model, x):
    """Firing rates of the model on ``x`` (images or frames), from scoped hooks (``record_spikes``).

    Returns dict(layers={LIF name: rate}, blocks={b: rate over all of block b's LIF outputs},
    qkv={b: dict(q=, k=, v=)}): spikes per neuron per time step, averaged over the batch (Fig. 4 shows
    Q, K and V per block).
    """
    import torch

    from .probes import record_spikes

    with torch.no_grad(), record_spikes(model) as rec:
        model(x if x.dim() == 5 else model.encode(x))
    layers = {name: float(s.double().mean()) for name, s in rec.spikes.items()}
    blocks, qkv = {}, {}
    for b in range(model.cfg.depth):
        mine = {n: s for n, s in rec.spikes.items() if n.startswith(f"blocks.{b}.")}
        blocks[b] = float(sum(s.double().sum() for s in mine.values()) / sum(s.numel() for s in mine.values()))
        # attention ablations with float Q_F, K_F (or V_F) do not fire those LIFs: they are left out
        qkv[b] = {k: layers[f"blocks.{b}.attn.{k}.lif"] for k in ("q", "k", "v") if f"blocks.{b}.attn.{k}.lif" in layers}
    return dict(layers=layers, blocks=blocks, qkv=qkv)


def ops_table(model, x, padding_taps=False):
    """Eq. 21-22 for ``model`` on ``x``, one row per layer: dict(layer, kind, flops, rate, ops, energy_mj),
    per image. ``flops`` are the layer's MACs per time step run densely, ``rate`` its input firing rate
    (mean input value per neuron and step; a token count of 2 is two spikes), ``ops`` = rate x T x flops
    for AC layers (eq. 21) and T x flops for the first convolution, priced as MACs (eq. 22).

    SSA is two rows, in the model's cheaper order (the engine's): for Q (K^T V), K^T V at K's rate
    (each K spike adds a row of V) and Q (K^T V) at Q's rate; for (Q K^T) V, Q K^T at Q's rate and
    (Q K^T) V at V's rate. The attention ablations (``cfg.attention`` other than "ssa") multiply float
    Q_F K_F^T (N^2 D MACs per step), then A V as MACs with a float V_F or as ACs at V's rate. The head (a dense layer on averaged counts) is a MAC row.
    """
    import torch

    from .probes import record_spikes

    cfg = model.cfg
    T, N, D, d = cfg.T, cfg.num_tokens, cfg.embed_dim, cfg.head_dim
    dense = ann_macs(cfg, padding_taps, attention=False)
    seen = {}  # layer -> mean input value, from forward hooks on the spike-fed layers

    def keep(name):
        return lambda module, inputs, output: seen.__setitem__(name, float(inputs[0].double().mean()))

    hooks = [m.register_forward_hook(keep(n)) for n, m in model.named_modules()
             if n in dense and n not in ("sps.stages.0.conv", "head")]
    try:
        with torch.no_grad(), record_spikes(model) as rec:
            model(x if x.dim() == 5 else model.encode(x))
    finally:
        for h in hooks:
            h.remove()
    rows = [dict(layer="sps.stages.0.conv", kind="MAC", flops=dense["sps.stages.0.conv"], rate=None,
                 ops=T * dense["sps.stages.0.conv"])]
    kv_first = d <= N
    for name in dense:
        if name in ("sps.stages.0.conv", "head"):
            continue
        rows.append(dict(layer=name, kind="AC", flops=dense[name], rate=seen[name], ops=seen[name] * T * dense[name]))
        if name.endswith(".attn.v.linear"):  # SSA follows the V projection in the forward order
            p = name[: -len(".v.linear")]
            attn = model.get_submodule(p)

            def rate(k, p=p, attn=attn):  # Q and K are max-pooled over tokens first where cfg.qk_pool (DVS128)
                s = rec.spikes[f"{p}.{k}.lif"]
                return float((attn.pool_tokens(s) if cfg.qk_pool and k in "qk" else s).double().mean())
            if cfg.attention != "ssa":  # Table 1/5 ablations: float Q_F K_F^T is a MAC product (N^2 D)
                rows.append(dict(layer=f"{p}.qk", kind="MAC", flops=N * N * D, rate=None, ops=T * N * N * D))
                if cfg.attention == "vsa_float_v":
                    rows.append(dict(layer=f"{p}.av", kind="MAC", flops=N * N * D, rate=None, ops=T * N * N * D))
                else:  # float A times spike V: each V spike adds a column of A
                    rows.append(dict(layer=f"{p}.av", kind="AC", flops=N * N * D, rate=rate("v"), ops=rate("v") * T * N * N * D))
            elif kv_first:
                rows.append(dict(layer=f"{p}.kv", kind="AC", flops=N * D * d, rate=rate("k"), ops=rate("k") * T * N * D * d))
                rows.append(dict(layer=f"{p}.q_kv", kind="AC", flops=N * D * d, rate=rate("q"), ops=rate("q") * T * N * D * d))
            else:
                rows.append(dict(layer=f"{p}.qk", kind="AC", flops=N * N * D, rate=rate("q"), ops=rate("q") * T * N * N * D))
                rows.append(dict(layer=f"{p}.av", kind="AC", flops=N * N * D, rate=rate("v"), ops=rate("v") * T * N * N * D))
    rows.append(dict(layer="head", kind="MAC", flops=dense["head"], rate=None, ops=dense["head"]))
    for r in rows:
        r["energy_mj"] = energy_mj(macs=r["ops"]) if r["kind"] == "MAC" else energy_mj(sops=r["ops"])
    return rows


def totals(rows):
    """dict(macs, sops, energy_mj) summed over ``ops_table`` rows."""
    return dict(macs=sum(r["ops"] for r in rows if r["kind"] == "MAC"),
                sops=sum(r["ops"] for r in rows if r["kind"] == "AC"),
                energy_mj=sum(r["energy_mj"] for r in rows))


def spikingjelly_sops(model, x):
    """SpikingJelly 2.0's own synaptic-operation count of ``model`` on images ``x``: {module name: SOPs}.

    ``activation_based.op_counter.SynOpCounter`` counts an operation wherever an operand is binary, so it
    counts nothing on layers fed with the residual stream's token counts (Q, K, V, the first MLP layer) and
    counts SSA's products as they are computed, (Q K^T) V. The chapter on energy sets it beside our count.
    Each operation is counted once, under the innermost module that performs it (SSA's products under
    ``blocks.i.attn``), so the values sum to the model's total.
    """
    import torch
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    counter = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([counter]):
        model(x if x.dim() == 5 else model.encode(x))
    # The counter records each operation under its module's scope and again under every enclosing scope
    # ("Global", the model, "sps", ...). Keep each scope's own operations: its total minus those of the
    # nearest recorded scopes inside it, so that the values add up to the model's total once.
    totals = {scope: sum(ops.values()) for scope, ops in counter.get_counts().items()}

    def enclosing(scope):
        while "." in scope:
            scope = scope.rsplit(".", 1)[0]
            if scope in totals:
                return scope
        return "Global" if scope != "Global" and "Global" in totals else None

    own = dict(totals)
    for scope, n in totals.items():
        outer = enclosing(scope)
        if outer is not None:
            own[outer] -= n
    assert min(own.values(), default=0) >= 0, "SpikingJelly's scopes do not nest as expected"
    prefix = type(model).__name__ + "."
    return {scope.removeprefix(prefix): n for scope, n in own.items() if n and scope != "Global"}


def attention_macs(N, D, d, order):
    """MACs of the two attention products of one block at one time step, summed over the D / d heads:
    ``order="qk_first"`` is (Q K^T) V, 2 N^2 D; ``"kv_first"`` is Q (K^T V), 2 N D d. Softmax attention must
    take the first order (the softmax sits between the products); SSA has no softmax and may take either."""
    if order == "qk_first":
        return 2 * N * N * D
    if order == "kv_first":
        return 2 * N * D * d
    raise ValueError(f"order must be 'qk_first' or 'kv_first', got {order!r}")


def lif_neurons(cfg: SpikformerConfig):
    """LIF neurons the model updates per image and time step (each holds a membrane potential): the SPS
    stages at their convolution's resolution (eq. 10 pools after the LIF), the RPE, and per block Q, K, V,
    the attention LIF, the projection, and the two MLP layers."""
    D, N = cfg.embed_dim, cfg.num_tokens
    widths = (D // 8, D // 4, D // 2, D)
    side, total = cfg.image_size, 0
    for i in range(4):
        total += side * side * widths[i]
        if cfg.sps_pool[i]:
            side = (side - 1) // 2 + 1
    total += N * D
    return total + cfg.depth * (6 * N * D + N * cfg.mlp_ratio * D)


# Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm at 0.9 V, in pJ.
HOROWITZ_45NM_PJ = {
    "int8 add": 0.03, "int32 add": 0.1, "fp16 add": 0.4, "fp32 add": 0.9,
    "int8 mult": 0.2, "int32 mult": 3.1, "fp16 mult": 1.1, "fp32 mult": 3.7,
    "SRAM 8 KB, 64-bit read": 10.0, "SRAM 32 KB, 64-bit read": 20.0, "SRAM 1 MB, 64-bit read": 100.0,
}


def qnn_bits(T):
    """Activation bits of the quantised ANN that carries as much as a rate code over T steps (0..T spikes):
    ceil(log2(T + 1)) (Yan et al., arXiv 2409.08290)."""
    return max(1, math.ceil(math.log2(T + 1)))


def memory_model(cfg: SpikformerConfig, rate, T=None, weight_bits=8, membrane_bits=16,
                 pj_per_bit=HOROWITZ_45NM_PJ["SRAM 8 KB, 64-bit read"] / 64, qnn_weight_reuse=None):
    """Energy per image (mJ) of the model's spike-fed layers (everything but the first convolution and
    the head, SSA in Q (K^T V) order) with memory access counted, next to the paper's compute-only view.

    A deliberately small model, every assumption a parameter (the chapter's calculator moves them):
    - SNN, T steps, average input firing rate ``rate``: each input spike adds one weight to each of its
      targets, so rate x T x MACs accumulates (an int32 add, or an fp32 add for 32-bit weights) and as many
      weight reads; every LIF neuron reads and writes its membrane potential (``membrane_bits``) at every
      step and writes one spike bit.
    - QNN with qnn_bits(T) activation bits and the same weights: one MAC per connection per image (an int8
      multiply scaled by bits x weight_bits / 64, plus an int32 add; fp32 MAC for 32-bit weights); each
      weight read once per ``qnn_weight_reuse`` MACs (None: once per image, reused over all N tokens as a
      weight-stationary array does; 1: no reuse, like the SNN); each activation written and read once.
    - Memory: ``pj_per_bit`` for every bit moved (default: Horowitz's 8 KB SRAM, 10 pJ per 64-bit read,
      so a 32-bit load costs 5 pJ, about five fp32 adds); no DRAM, no network-on-chip.
    Returns dict of mJ: snn_compute, snn_memory, snn, qnn_compute, qnn_memory, qnn, and the paper's
    compute-only figures paper_snn (0.9 pJ x SOPs) and paper_ann (4.6 pJ x MACs, one step), plus
    break_even (the rate at which snn == qnn) and paper_break_even (the rate at which paper_snn == paper_ann).
    """
    T = cfg.T if T is None else T
    if not 0 <= rate <= 1:
        raise ValueError(f"rate is spikes per neuron per step, between 0 and 1; got {rate}")
    if weight_bits not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"weight_bits must be one of 1, 2, 4, 8, 16, 32; got {weight_bits}")
    e = HOROWITZ_45NM_PJ
    dense = ann_macs(cfg, padding_taps=False, attention=False)
    macs = sum(v for k, v in dense.items() if k not in ("sps.stages.0.conv", "head"))
    macs += cfg.depth * attention_macs(cfg.num_tokens, cfg.embed_dim, cfg.head_dim, "kv_first")
    neurons = lif_neurons(cfg)
    bits = qnn_bits(T)
    acc = e["fp32 add"] if weight_bits == 32 else e["int32 add"]
    mac = E_MAC_PJ if weight_bits == 32 else e["int8 mult"] * bits * weight_bits / 64 + e["int32 add"]
    reuse = cfg.num_tokens if qnn_weight_reuse is None else qnn_weight_reuse

    def snn(r):
        compute = r * T * macs * acc
        memory = (r * T * macs * weight_bits + T * neurons * (2 * membrane_bits + 1)) * pj_per_bit
        return compute, memory

    snn_compute, snn_memory = snn(rate)
    qnn_compute = macs * mac
    qnn_memory = (macs / reuse * weight_bits + 2 * neurons * bits) * pj_per_bit
    zero, one = sum(snn(0.0)), sum(snn(1.0))
    out = dict(snn_compute=snn_compute, snn_memory=snn_memory, snn=snn_compute + snn_memory,
               qnn_compute=qnn_compute, qnn_memory=qnn_memory, qnn=qnn_compute + qnn_memory,
               paper_snn=E_AC_PJ * rate * T * macs, paper_ann=E_MAC_PJ * macs)
    out = {k: v * 1e-9 for k, v in out.items()}
    out["break_even"] = (qnn_compute + qnn_memory - zero) / (one - zero)
    out["paper_break_even"] = E_MAC_PJ / (E_AC_PJ * T)
    return out
