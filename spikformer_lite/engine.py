"""Event-driven inference on a CPU: a trained Spikformer run as additions of weight rows.

    engine = Engine(model)                 # a Spikformer in eval mode: BatchNorm folded, weights copied
    logits = engine(images)                # (B, C, H, W) images or (T, B, C, H, W) frames -> (B, classes)
    run = engine.run(x, record=True)       # run.logits, run.spikes[name], run.h[name], run.ops[name], ...

What the paper's efficiency argument (sec. 3.3, eq. 21) says, done literally:
- BatchNorm is folded into the weights before it: W' = W gamma / sigma, b' = (b - mu) gamma / sigma + beta.
- The first convolution sees real-valued pixels and stays dense (multiply-accumulates, torch's conv2d).
  With direct encoding its input is the same image at every step, so it runs once, not T times.
- Every other convolution and linear layer is fed with spikes, or with the small spike counts the
  residual connections make: it adds the weight row of each active input, a count c adding it c times
  (``kernels/events.py``). Folding BatchNorm is what leaves these layers without a multiplication.
- SSA works on bit-packed Q, K and V: AND + popcount on uint64 words, in the cheaper order for the
  shape, and the integer result is exact; the LIF is fused into every kernel.
- The head averages the final token counts and applies one small dense linear layer.

Every kernel counts its synaptic operations, the ones eq. 21 counts: ``run.ops`` (accumulates, per layer),
``run.word_ops`` (AND + popcount on 64-bit words, per SSA) and ``run.macs`` (the two dense layers; like
``layer_flops``, only kernel taps that land on the image). Not counted, as eq. 21 does not count them: the
neuron updates (eq. 1-3: one multiplication by 1/tau per neuron and step, and SSA's multiplication by s,
both powers of two), the residual additions, the global average pool, and building the event lists and
bit words. ``sop_estimate`` computes eq. 21's firing rate x T x FLOPs for the same layers from the torch path.

Spikes equal the torch path's except where folding BatchNorm moves a membrane potential across its
threshold by a rounding error; ``trace_disagreements`` finds such neurons and reports how close to the
threshold they were.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .model import Spikformer
from .probes import record_spikes

_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def fold_bn(weight, bias, bn):
    """Fold an eval-mode BatchNorm into the layer before it: returns (W', b') as float tensors.

    BN(W x + b) = gamma (W x + b - mu) / sqrt(var + eps) + beta = W' x + b'.
    """
    sigma = torch.sqrt(bn.running_var + bn.eps)
    g = bn.weight / sigma
    w = weight * g.reshape(-1, *([1] * (weight.dim() - 1)))
    b = (bias if bias is not None else torch.zeros_like(bn.running_mean)) - bn.running_mean
    return w.detach(), (b * g + bn.bias).detach()


@dataclass
class _LIFArgs:
    tau: object
    inv_tau: object
    tau_is_pow2: bool
    v_threshold: object
    v_reset: object

    @classmethod
    def of(cls, lif, dtype):
        f = np.dtype(dtype).type
        return cls(f(lif.tau), f(1.0 / lif.tau), float(np.frexp(lif.tau)[0]) == 0.5, f(lif.v_threshold), f(lif.v_reset))

    def args(self):
        return self.tau, self.inv_tau, self.tau_is_pow2, self.v_threshold, self.v_reset


@dataclass
class EngineRun:
    """One forward pass: logits (B, classes) and what the engine did on the way."""

    logits: torch.Tensor
    recorded: bool = False  # whether spikes and h below were kept
    ops: dict = field(default_factory=dict)  # layer -> accumulates (AC) performed
    word_ops: dict = field(default_factory=dict)  # SSA layer -> AND + popcount operations on 64-bit words
    macs: dict = field(default_factory=dict)  # dense layer -> multiply-accumulates performed
    spikes: dict = field(default_factory=dict)  # LIF name (as in the model) -> spikes, torch layout
    h: dict = field(default_factory=dict)  # LIF name -> membrane potential H[t], torch layout
    inputs: dict = field(default_factory=dict)  # layer in ops -> the spikes or counts it was fed, (T, B, P, C) uint8

    @property
    def total_ops(self):
        return sum(self.ops.values())


class Engine:
    """Event-driven CPU inference over a trained :class:`Spikformer` (eval mode, SSA attention).

    The engine copies the weights (BatchNorm folded) into NumPy arrays in the model's float dtype
    (float32 or float64); later changes to the model do not reach it.
    """

    def __init__(self, model):
        if not isinstance(model, Spikformer):
            raise TypeError(f"Engine takes a spikformer_lite Spikformer, got {type(model).__name__}")
        if model.training:
            raise ValueError("Engine folds BatchNorm's running statistics, which is what eval mode uses: "
                             "call model.eval() first")
        cfg = model.cfg
        if cfg.attention != "ssa":
            raise ValueError(f"the engine runs spiking self-attention (attention='ssa'); this model uses "
                             f"{cfg.attention!r}, which needs float Q or K: run it with the torch path")
        if 2 + 2 * cfg.depth > 255:
            raise ValueError(f"token counts reach {2 + 2 * cfg.depth}, more than the engine's uint8 holds")
        dtype = model.head.weight.dtype
        if dtype not in _DTYPES:
            raise ValueError(f"the engine runs float32 or float64 models, got {dtype}")
        self.cfg, self.torch_dtype, self.dtype = cfg, dtype, _DTYPES[dtype]
        np_ = lambda t: np.ascontiguousarray(t.detach().cpu().numpy().astype(self.dtype))
        stage0 = model.sps.stages[0]
        self.conv0 = fold_bn(stage0.conv.weight, None, stage0.bn)  # dense, torch tensors
        self.lif0 = _LIFArgs.of(stage0.lif, self.dtype)
        self.convs = []  # (name, lif name, weight (9, C_in, C_out), bias, LIF, pool) for the spike-fed convs
        for i, stage in list(enumerate(model.sps.stages))[1:] + [("rpe", model.sps.rpe)]:
            prefix = f"sps.stages.{i}" if i != "rpe" else "sps.rpe"
            w, b = fold_bn(stage.conv.weight, None, stage.bn)
            C_out, C_in = w.shape[:2]
            self.convs.append((prefix, np_(w.permute(2, 3, 1, 0).reshape(9, C_in, C_out)), np_(b),
                               _LIFArgs.of(stage.lif, self.dtype), isinstance(stage.pool, torch.nn.MaxPool2d)))
        self.pool0 = isinstance(stage0.pool, torch.nn.MaxPool2d)

        def linear(prefix, layer):
            w, b = fold_bn(layer.linear.weight, layer.linear.bias, layer.bn)
            return prefix, np_(w.t()), np_(b), _LIFArgs.of(layer.lif, self.dtype)

        self.blocks = []
        for i, block in enumerate(model.blocks):
            p = f"blocks.{i}"
            a = block.attn
            self.blocks.append(dict(
                q=linear(f"{p}.attn.q", a.q), k=linear(f"{p}.attn.k", a.k), v=linear(f"{p}.attn.v", a.v),
                attn=(f"{p}.attn", _LIFArgs.of(a.attn_lif, self.dtype)), proj=linear(f"{p}.attn.proj", a.proj),
                fc1=linear(f"{p}.mlp.fc1", block.mlp.fc1), fc2=linear(f"{p}.mlp.fc2", block.mlp.fc2)))
        self.head = (model.head.weight.detach().clone(), model.head.bias.detach().clone())
        # (Q K^T) V costs N^2 d per head, Q (K^T V) N d^2 (the paper's argument, sec. 3.3): the cheaper order
        # by that count. Padding to 64-bit words can tip the word operations the other way near d = N.
        self.kv_first = cfg.head_dim <= cfg.num_tokens
        if float(np.frexp(cfg.scale)[0]) != 0.5:  # the kernels scale the exact integer product once, at the end
            raise ValueError(f"the engine needs a power-of-two scale s (every preset has one), got {cfg.scale}: "
                             "otherwise where s is applied changes the rounding")
        self.scale = self.dtype(cfg.scale)

    # ---- input -------------------------------------------------------------------------------
    def _frames(self, x):
        """(T', B, C, H, W) float tensor in the engine's dtype; T' = 1 for static images."""
        cfg = self.cfg
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        size = f"{cfg.in_channels}, {cfg.image_size}, {cfg.image_size}"
        if x.dim() == 4 and cfg.encoding == "direct":
            x = x.unsqueeze(0)  # direct encoding: the same image at every step, so the first conv runs once
        elif x.dim() == 4:
            raise ValueError(f"this model takes event frames (T={cfg.T}, B, {size}), got {tuple(x.shape)}")
        if x.dim() == 5 and cfg.encoding == "events" and x.shape[0] != cfg.T:
            raise ValueError(f"this model takes T={cfg.T} event frames, got {x.shape[0]}: (T, B, {size})")
        if x.dim() != 5 or x.shape[0] not in (1, cfg.T) or tuple(x.shape[2:]) != (cfg.in_channels, cfg.image_size,
                                                                                   cfg.image_size):
            raise ValueError(f"Engine input must be images (B, {size}) or frames (T={cfg.T}, B, {size}), "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"Engine input must be floating point, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError(f"Engine input has {(~torch.isfinite(x)).sum().item()} non-finite value(s) (NaN or Inf)")
        return x.detach().cpu().to(self.torch_dtype)

    # ---- forward -----------------------------------------------------------------------------
    def __call__(self, x):
        return self.run(x).logits

    def run(self, x, record=False):
        """One forward pass over ``x``; ``record`` keeps every LIF layer's spikes and H[t] (torch layout)."""
        from .kernels import events as K

        cfg, T = self.cfg, self.cfg.T
        x = self._frames(x)
        T_in, B = x.shape[:2]
        run = EngineRun(logits=None, recorded=record)
        H = W = cfg.image_size

        # The first convolution: dense, on pixels.
        w0, b0 = self.conv0
        current = F.conv2d(x.flatten(0, 1), w0, b0, padding=1)  # (T' B, C, H, W)
        C = current.shape[1]
        run.macs["sps.stages.0.conv"] = T_in * B * C * cfg.in_channels * (3 * H - 2) * (3 * W - 2)  # taps on the image
        current = current.reshape(T_in, B, C, H * W).permute(0, 1, 3, 2).numpy()  # (T', B, H*W, C)
        spikes, h = K.lif_dense(current, T, self.lif0.args(), record)
        self._store(run, "sps.stages.0.lif", spikes, h, H)
        pool = self.pool0
        for name, weight, bias, lif, next_pool in self.convs:
            if pool:
                spikes, H, W = K.max_pool3x3s2(spikes, H, W)
            s_out, h, run.ops[f"{name}.conv"] = K.conv3x3_lif(spikes, H, W, weight, bias, lif.args(), record)
            if record:
                run.inputs[f"{name}.conv"] = spikes
            self._store(run, f"{name}.lif", s_out, h, H)
            if name == "sps.rpe":
                tokens = spikes + s_out  # eq. 6: x + RPE, counts in {0, 1, 2}; (T, B, N, D)
            else:
                spikes, pool = s_out, next_pool
        for block in self.blocks:
            tokens = self._block(block, tokens, run, record)
        wh, bh = self.head
        mean = torch.from_numpy(tokens.astype(self.dtype)).mean(2).mean(0)  # GAP over N, mean over T: (B, D)
        run.macs["head"] = B * wh.numel()
        run.logits = F.linear(mean, wh, bh)
        return run

    def _store(self, run, name, spikes, h, grid=None):
        if not run.recorded:
            return
        s, hh = torch.from_numpy(spikes.astype(self.dtype)), torch.from_numpy(h)
        if grid is not None:  # (T, B, H*W, C) -> (T, B, C, H, W), as the model's conv layers hold them
            T, B = spikes.shape[:2]
            s, hh = (a.reshape(T, B, grid, grid, -1).permute(0, 1, 4, 2, 3) for a in (s, hh))
        run.spikes[name], run.h[name] = s, hh

    def _block(self, block, x, run, record):
        """One encoder block on token counts x (T, B, N, D) uint8 (eq. 7-8)."""
        from .kernels import events as K

        cfg = self.cfg
        shared = K.events(x)  # Q, K and V read the same input
        q, k, v = (self._linear(block[n], x, run, record, shared) for n in ("q", "k", "v"))
        if cfg.qk_pool:  # max-pool over neighbouring tokens (DVS128 Gesture): an OR of binary spikes
            q, k = self._pool_tokens(q), self._pool_tokens(k)
        name, lif = block["attn"]
        s, h, acc_ops, word_ops = K.ssa_lif(q, k, v, cfg.num_heads, self.scale, self.kv_first, lif.args(), record)
        run.ops[f"{name}.ssa"], run.word_ops[f"{name}.ssa"] = acc_ops, word_ops
        if record:  # the spikes that drive the accumulates: Q for Q (K^T V), V for (Q K^T) V
            run.inputs[f"{name}.ssa"] = q if self.kv_first else v
        self._store(run, f"{name}.attn_lif", s, h)
        x = x + self._linear(block["proj"], s, run, record)  # eq. 7
        hidden = self._linear(block["fc1"], x, run, record)
        return x + self._linear(block["fc2"], hidden, run, record)  # eq. 8

    def _linear(self, layer, x, run, record, events_of_x=None):
        from .kernels import events as K

        name, weight, bias, lif = layer
        s, h, run.ops[f"{name}.linear"] = K.linear_lif(x, weight, bias, lif.args(), record, events_of_x)
        if record:
            run.inputs[f"{name}.linear"] = x
        self._store(run, f"{name}.lif", s, h)
        return s

    @staticmethod
    def _pool_tokens(s):
        """Max-pool of kernel 3, stride 1, padding 1 along N (SSA's qk_pool): an OR of neighbours."""
        out = s.copy()
        out[:, :, 1:] |= s[:, :, :-1]
        out[:, :, :-1] |= s[:, :, 1:]
        return out


# ---- the torch path's view: eq. 21 and the spikes to compare ---------------------------------------
def spike_fed_layers(model):
    """The layers the engine runs as accumulates, in order: (name, module, kind)."""
    layers = []
    for i, stage in enumerate(model.sps.stages):
        if i:
            layers.append((f"sps.stages.{i}.conv", stage.conv, "conv"))
    layers.append(("sps.rpe.conv", model.sps.rpe.conv, "conv"))
    for i, block in enumerate(model.blocks):
        p = f"blocks.{i}"
        for n in ("q", "k", "v"):
            layers.append((f"{p}.attn.{n}.linear", getattr(block.attn, n).linear, "linear"))
        layers.append((f"{p}.attn.ssa", block.attn, "ssa"))
        layers.append((f"{p}.attn.proj.linear", block.attn.proj.linear, "linear"))
        layers.append((f"{p}.mlp.fc1.linear", block.mlp.fc1.linear, "linear"))
        layers.append((f"{p}.mlp.fc2.linear", block.mlp.fc2.linear, "linear"))
    return layers


def layer_flops(module, kind, input_shape, cfg):
    """Multiply-accumulates of one time step of one sample on the dense layer (the FLOPs of eq. 21).

    Convolution: C_out C_in (3H - 2)(3W - 2) for a 3x3, stride-1, padding-1 kernel, i.e. only the kernel
    taps that land on the image (those on the zero padding are not operations); the usual
    H W C_out C_in 9 counts them too. Linear: N D_in D_out. SSA: the product the engine accumulates,
    N D d for Q (K^T V) or N^2 D for (Q K^T) V.
    """
    if kind == "conv":
        _, C_in, H, W = input_shape
        return module.out_channels * C_in * (3 * H - 2) * (3 * W - 2)
    if kind == "linear":
        return cfg.num_tokens * module.in_features * module.out_features
    N, D, d = cfg.num_tokens, cfg.embed_dim, cfg.head_dim
    return N * D * d if d <= N else N * N * D


def conv_accumulates(spikes, H, W, C_out):
    """The exact accumulates of a 3x3, stride-1, padding-1 convolution fed with ``spikes`` (T, B, H*W, C_in):
    each spike adds C_out weights once per kernel tap that lands on the image (9 inside, 6 on an edge,
    4 in a corner). Eq. 21's estimate assumes the spikes spread evenly instead."""
    taps_y = 1 + (np.arange(H) > 0) + (np.arange(H) < H - 1)  # rows of the kernel that land: 2 on a border, else 3
    taps_x = 1 + (np.arange(W) > 0) + (np.arange(W) < W - 1)
    fanout = np.outer(taps_y, taps_x).reshape(-1)  # (H*W,) outputs each input pixel reaches
    per_pixel = np.asarray(spikes, dtype=np.int64).sum((0, 1, 3))  # (H*W,) spikes over T, B, channels
    return int((per_pixel * fanout).sum()) * C_out


@torch.no_grad()
def sop_estimate(model, x):
    """Eq. 21 on the torch path: SOPs = firing rate x T x FLOPs, per spike-fed layer, for the batch x.

    The firing rate of a layer is the mean value of its input per neuron and time step (a token count
    of 2 counts as two spikes); for SSA it is the rate of Q (Q (K^T V)) or of V ((Q K^T) V), the
    spikes the engine's accumulates are driven by. Returns {layer: SOPs summed over the batch}.
    """
    cfg = model.cfg
    kv_first = cfg.head_dim <= cfg.num_tokens
    layers = spike_fed_layers(model)
    seen = {}

    def hook(name, kind):
        def grab(module, inputs, output):
            if kind != "ssa":
                seen[name] = (inputs[0].double().mean().item(), tuple(inputs[0].shape))
        return grab

    handles = [m.register_forward_hook(hook(n, k)) for n, m, k in layers if k != "ssa"]
    try:
        with record_spikes(model) as rec:
            model(x if x.dim() == 5 else model.encode(x))
    finally:
        for h in handles:
            h.remove()
    T, B = cfg.T, (x.shape[1] if x.dim() == 5 else x.shape[0])
    result = {}
    for name, module, kind in layers:
        if kind == "ssa":
            drive = rec.spikes[name.replace(".ssa", ".q.lif" if kv_first else ".v.lif")]
            if kv_first and cfg.qk_pool:  # the engine's accumulates follow the pooled Q (DVS128 Gesture)
                drive = module.pool_tokens(drive)
            rate, shape = drive.double().mean().item(), None
        else:
            rate, shape = seen[name]
        result[name] = rate * T * B * layer_flops(module, kind, shape, cfg)
    return result


@torch.no_grad()
def compare_predictions(model, images, engine=None, batch_size=250, tol=1e-4, progress=False):
    """Engine against torch path on many images: predictions in batches, then a trace of each disagreement.

    ``images`` (B, C, H, W) or frames (T, B, ...). Returns dict(n, agreed, agreement, max_logit_diff,
    n_logits_moved, moved, traces, engine_pred, torch_pred): ``n_logits_moved`` counts the samples whose logits
    differ by more than ``tol`` (some spike flipped on the way, even where the prediction stayed), ``moved`` lists
    their indices in ``images`` (to trace them with ``trace_disagreements(..., every_flip=True)``); ``traces`` as
    in ``trace_disagreements``, with ``sample`` the index in ``images``.
    """
    from .progress import tqdm

    engine = engine or Engine(model)
    frames = images.dim() == 5
    n = images.shape[1] if frames else images.shape[0]
    preds_t, preds_e, worst, moved = [], [], 0.0, []
    for start in tqdm(range(0, n, batch_size), desc="engine vs torch", disable=not progress, leave=False):
        x = images[:, start:start + batch_size] if frames else images[start:start + batch_size]
        lt = model(x if frames else model.encode(x))
        le = engine(x)
        gap = (lt - le).abs().amax(1)
        worst = max(worst, float(gap.max()))
        moved += (start + torch.nonzero(gap > tol).flatten()).tolist()
        preds_t.append(lt.argmax(1))
        preds_e.append(le.argmax(1))
    pt, pe = torch.cat(preds_t), torch.cat(preds_e)
    differ = torch.nonzero(pt != pe).flatten()
    traces = []
    if len(differ):
        sub = images[:, differ] if frames else images[differ]
        _, traces, _ = trace_disagreements(model, sub, engine, tol)
        for t in traces:
            t["sample"] = int(differ[t["sample"]])
        found = {t["sample"] for t in traces}
        for b in differ.tolist():  # a disagreement that a smaller batch did not reproduce is reported, not dropped
            if b not in found:
                traces.append(dict(sample=b, torch_pred=int(pt[b]), engine_pred=int(pe[b]), layer=None,
                                   reproduced=False, within_rounding=False))
    agreed = int((pt == pe).sum())
    return dict(n=n, agreed=agreed, agreement=agreed / n, max_logit_diff=worst, n_logits_moved=len(moved),
                moved=moved, traces=traces, engine_pred=pe, torch_pred=pt)


@torch.no_grad()
def trace_disagreements(model, x, engine=None, tol=1e-4, every_flip=False):
    """Compare the engine with the torch path on ``x`` and trace every prediction they disagree on.

    With ``every_flip``, trace every sample in which any spike differs, whatever its prediction. For each
    sample traced: the first LIF layer (in the order of the forward pass) and the first time
    step where its spikes differ, and there every neuron that fired in one path and not the other, with
    its membrane potential H in both paths and the threshold. A flip caused by rounding has both H within
    ``tol`` of the threshold (``within_rounding``). Returns (agreement fraction, list of dicts, engine run).
    """
    engine = engine or Engine(model)
    x_model = x if x.dim() == 5 else model.encode(x)
    with record_spikes(model, membrane=True) as rec:
        logits = model(x_model)
    run = engine.run(x, record=True)
    pred_t, pred_e = logits.argmax(1), run.logits.argmax(1)
    if every_flip:
        flipped = torch.zeros_like(pred_t, dtype=torch.bool)
        for name, s_t in rec.spikes.items():
            flipped |= (s_t != run.spikes[name].to(s_t.dtype)).transpose(0, 1).flatten(1).any(1)
        samples = torch.nonzero(flipped).flatten().tolist()
    else:
        samples = torch.nonzero(pred_t != pred_e).flatten().tolist()
    traces = []
    for b in samples:
        trace = dict(sample=b, torch_pred=int(pred_t[b]), engine_pred=int(pred_e[b]), layer=None)
        for name in rec.spikes:  # call order of the forward pass
            st, se = rec.spikes[name][:, b], run.spikes[name][:, b].to(rec.spikes[name].dtype)
            diff = st != se
            if not diff.any():
                continue
            t = int(torch.nonzero(diff.flatten(1).any(1)).flatten()[0])
            where = torch.nonzero(diff[t])
            thr = model.get_submodule(name).v_threshold
            ht = rec.membrane[name][t, b][diff[t]]
            he = run.h[name][t, b][diff[t]].to(ht.dtype)
            margin = float(torch.maximum((ht - thr).abs(), (he - thr).abs()).max())
            trace.update(layer=name, t=t, neurons=where.tolist()[:10], n_flipped=len(where), threshold=thr,
                         h_torch=ht[:10].tolist(), h_engine=he[:10].tolist(), max_margin=margin,
                         within_rounding=margin <= tol)
            break
        if trace["layer"] is None:  # the same spikes everywhere: the head's rounding decided a near-tie
            top2 = logits[b].topk(2).values
            gap = float(top2[0] - top2[1])
            trace.update(logit_gap=gap, within_rounding=gap <= tol)
        traces.append(trace)
    agreement = float((pred_t == pred_e).float().mean())
    return agreement, traces, run
