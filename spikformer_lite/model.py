"""Spikformer (Zhou et al., ICLR 2023) in one file, read top to bottom:

    ConvBNLIF, LinearBNLIF -> SPS (sec. 3.2) -> SSA (sec. 3.3) -> MLP -> Block -> Spikformer (eq. 4-9)

Tensors are time-major. Shapes are noted at every reshape:
    T time steps, B batch, C channels, H x W pixels, N tokens, D embedding dim,
    Hd heads, d = D / Hd head dim.

Every data-set variant of the official code (CIFAR, ImageNet, CIFAR10-DVS,
DVS128 Gesture) is this one model with a different SpikformerConfig; see
``config.py``. BatchNorm follows every linear and convolution layer (appendix
C.1); there is no LayerNorm, dropout or drop-path.
"""

import collections
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_time_major
from .config import SpikformerConfig, get_config
from .neuron import BACKENDS, LIF


def make_lif(cfg, v_threshold=None):
    return LIF(tau=cfg.tau, v_threshold=cfg.v_threshold if v_threshold is None else v_threshold,
               backend=cfg.backend)


class ConvBNLIF(nn.Module):
    """SN(BN(Conv2d(x))), then an optional max-pool (eq. 10): one SPS stage.

    (T, B, C_in, H, W) -> (T, B, C_out, H', W') spikes. Conv 3x3, stride 1; pool 3x3, stride 2.
    """

    def __init__(self, c_in, c_out, pool, cfg):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.lif = make_lif(cfg)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if pool else nn.Identity()

    def forward(self, x):
        T, B = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1)))  # (T*B, C_out, H, W): T merges into the batch
        s = self.lif(y.reshape(T, B, *y.shape[1:]))  # (T, B, C_out, H, W): the LIF needs T apart
        s = self.pool(s.flatten(0, 1))  # (T*B, C_out, H', W')
        return s.reshape(T, B, *s.shape[1:])  # (T, B, C_out, H', W')


class LinearBNLIF(nn.Module):
    """SN(BN(x W)) on token features: (T, B, N, D_in) -> (T, B, N, D_out) spikes (eq. 14, 16)."""

    def __init__(self, d_in, d_out, bias, cfg, v_threshold=None):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=bias)
        self.bn = nn.BatchNorm1d(d_out)
        self.lif = make_lif(cfg, v_threshold)

    def pre_spike(self, x):
        """BN(x W), the float input of the LIF: (T, B, N, D_out)."""
        y = self.bn(self.linear(x.flatten(0, 2)))  # (T*B*N, D_out): BN statistics over T, B and N
        return y.reshape(*x.shape[:3], -1)  # (T, B, N, D_out)

    def forward(self, x):
        return self.lif(self.pre_spike(x))


class SPS(nn.Module):
    """Spiking patch splitting (sec. 3.2, eq. 4-6): image sequence -> spike tokens plus RPE.

    Four ConvBNLIF stages with D/8, D/4, D/2, D channels; ``cfg.sps_pool`` says
    after which a max-pool halves the grid. The conditional relative position
    embedding RPE = SN(BN(Conv2d(x))) is added to the tokens: X_0 = x + RPE.
    (T, B, C, H, W) -> (T, B, N, D).
    """

    def __init__(self, cfg):
        super().__init__()
        D = cfg.embed_dim
        widths = (cfg.in_channels, D // 8, D // 4, D // 2, D)
        self.stages = nn.ModuleList(
            ConvBNLIF(widths[i], widths[i + 1], cfg.sps_pool[i], cfg) for i in range(4)
        )
        self.rpe = ConvBNLIF(D, D, pool=False, cfg=cfg)

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)  # (T, B, D, H', W') after the last stage
        x = x + self.rpe(x)  # eq. 6; values in {0, 1, 2}
        return x.flatten(3).transpose(2, 3)  # (T, B, N = H' W', D)


def spiking_attention(q, k, v, scale, order="qk_first", scale_after_v=False):
    """Q K^T V * s, the input of SSA's last LIF (eq. 15), per time step and head.

    q, k, v: (T, B, Hd, N, d). Without softmax the product is associative, so it can be
    computed as (Q K^T) V, which costs O(N^2 d), or as Q (K^T V), which costs O(N d^2).
    With spikes every product is an integer count and s is a power of two, so both
    orders give identical float results. ``scale_after_v`` only moves s (as the
    CIFAR10-DVS code does); it matters to the result only for a scale that is not a
    power of two.
    """
    if order == "kv_first":
        return (q @ (k.transpose(-2, -1) @ v)) * scale  # (T, B, Hd, d, d) in between
    attn = q @ k.transpose(-2, -1)  # (T, B, Hd, N, N)
    return (attn @ v) * scale if scale_after_v else (attn * scale) @ v


def attention_map(q, k, variant="ssa", head_dim=None):
    """The attention matrix A of Table 1: (T, B, Hd, N, d) x 2 -> (T, B, Hd, N, N).

    "ssa": Q K^T with spike Q, K (non-negative integer counts);
    "identity": Q_F K_F^T; "relu": ReLU(Q_F) ReLU(K_F)^T; "leaky_relu": likewise with LeakyReLU;
    "vsa" and "vsa_float_v": Softmax(Q_F K_F^T / sqrt(d)) (eq. 12-13).
    """
    if variant in ("vsa", "vsa_float_v"):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim), dim=-1)
    return q @ k.transpose(-2, -1)


class SSA(nn.Module):
    """Multi-head spiking self-attention (sec. 3.3, eq. 14-16; appendix A).

    Q, K, V = SN(BN(X W_Q)), SN(BN(X W_K)), SN(BN(X W_V))        (14)
    SSA°    = SN_0.5(Q K^T V * s), per head, per time step        (15, 18)
    SSA     = SN(BN(Linear(SSA°)))                                (16, 19)

    ``cfg.attention`` selects an ablation of Table 1/5 instead of SSA; those use
    the float Q_F = BN(X W_Q) (and K_F, V_F) where the paper says so.
    (T, B, N, D) -> (T, B, N, D) spikes.
    """

    def __init__(self, cfg):
        super().__init__()
        D = cfg.embed_dim
        self.cfg = cfg
        self.q = LinearBNLIF(D, D, cfg.qkv_bias, cfg)
        self.k = LinearBNLIF(D, D, cfg.qkv_bias, cfg)
        self.v = LinearBNLIF(D, D, cfg.qkv_bias, cfg)
        # DVS128 Gesture (appendix C.1): a stride-1 max-pool over neighbouring tokens makes Q and K denser.
        self.qk_pool = nn.MaxPool1d(kernel_size=3, stride=1, padding=1) if cfg.qk_pool else nn.Identity()
        self.attn_lif = make_lif(cfg, cfg.attn_v_threshold)
        self.proj = LinearBNLIF(D, D, True, cfg)

    def split_heads(self, x):
        T, B, N, D = x.shape
        return x.reshape(T, B, N, self.cfg.num_heads, D // self.cfg.num_heads).transpose(2, 3)  # (T, B, Hd, N, d)

    def pool_tokens(self, x):
        T, B, N, D = x.shape
        x = self.qk_pool(x.flatten(0, 1).transpose(1, 2))  # (T*B, D, N): pool along N
        return x.transpose(1, 2).reshape(T, B, N, D)  # (T, B, N, D)

    def qkv(self, x):
        """Q, K, V as the attention variant needs them, each (T, B, Hd, N, d)."""
        variant = self.cfg.attention
        if variant == "ssa":
            q, k = self.q(x), self.k(x)  # spikes
        else:
            q, k = self.q.pre_spike(x), self.k.pre_spike(x)  # Q_F, K_F
            if variant == "relu":
                q, k = F.relu(q), F.relu(k)
            elif variant == "leaky_relu":
                q, k = F.leaky_relu(q), F.leaky_relu(k)
        v = self.v.pre_spike(x) if variant == "vsa_float_v" else self.v(x)
        q, k = self.pool_tokens(q), self.pool_tokens(k)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def forward(self, x, return_attn=False):
        expected = f"(T, B, N, D={self.cfg.embed_dim})"
        check_time_major(x, "SSA input", expected)
        if x.dim() != 4 or x.shape[-1] != self.cfg.embed_dim:
            raise ValueError(f"SSA input must have shape {expected}, got {tuple(x.shape)}")
        T, B, N, D = x.shape
        q, k, v = self.qkv(x)
        cfg = self.cfg
        attn = None
        if cfg.attention in ("vsa", "vsa_float_v"):  # softmax attention: its own 1/sqrt(d) scale, so no s
            attn = attention_map(q, k, cfg.attention, cfg.head_dim)
            out = attn @ v
        else:
            out = spiking_attention(q, k, v, cfg.scale, cfg.attention_order, cfg.scale_after_v)
        out = out.transpose(2, 3).reshape(T, B, N, D)  # heads back together: (T, B, N, D)
        out = self.proj(self.attn_lif(out))
        if return_attn:
            attn = attention_map(q, k, cfg.attention, cfg.head_dim) if attn is None else attn
            return out, attn.detach()
        return out


class MLP(nn.Module):
    """Two LinearBNLIF layers, D -> mlp_ratio * D -> D: (T, B, N, D) -> (T, B, N, D) spikes."""

    def __init__(self, cfg):
        super().__init__()
        hidden = cfg.mlp_ratio * cfg.embed_dim
        self.fc1 = LinearBNLIF(cfg.embed_dim, hidden, True, cfg)
        self.fc2 = LinearBNLIF(hidden, cfg.embed_dim, True, cfg)

    def forward(self, x):
        return self.fc2(self.fc1(x))


class Block(nn.Module):
    """One encoder block: X' = SSA(X) + X (eq. 7), then X'' = MLP(X') + X' (eq. 8)."""

    def __init__(self, cfg):
        super().__init__()
        self.attn = SSA(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x, return_attn=False):
        a, attn = self.attn(x, return_attn=True) if return_attn else (self.attn(x), None)
        x = x + a  # residual on spikes: token values become small integers
        x = x + self.mlp(x)
        return (x, attn) if return_attn else x


class Spikformer(nn.Module):
    """The full model (eq. 4-9): SPS, L blocks, global average pooling, classification head.

    ``forward`` takes a time-major image sequence (T, B, C, H, W). Static images are
    direct-encoded first with ``encode``: (B, C, H, W) -> (T, B, C, H, W), the image
    repeated T times. The GAP averages over tokens; the head sees the mean over T.
    """

    def __init__(self, cfg: SpikformerConfig):
        super().__init__()
        self.cfg = cfg
        self._pending_finite_checks = collections.deque()  # GPU input checks in flight
        self.sps = SPS(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)
        self.apply(_init_weights)

    def encode(self, images):
        """Direct encoding: (B, C, H, W) static images -> (T, B, C, H, W), repeated T times."""
        cfg = self.cfg
        expected = f"(B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size})"
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"encode expects a batch of images {expected}, got {shape}")
        return images.unsqueeze(0).expand(cfg.T, *images.shape)  # (T, B, C, H, W), no copy

    def check_input(self, x):
        cfg = self.cfg
        expected = f"(T={cfg.T}, B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size})"
        check_time_major(x, "Spikformer input", expected)
        hint = ""
        if x.dim() == 4:
            hint = (" Static images need a time axis: use model.encode(images)." if cfg.encoding == "direct"
                    else " Is T folded into the batch? Keep (T, B, ...) apart.")
        elif x.dim() == 5 and x.shape[1] == cfg.T and x.shape[0] != cfg.T:
            hint = " It looks batch-first (B, T, ...): use x.transpose(0, 1)."
        if x.dim() != 5 or x.shape[0] != cfg.T or tuple(x.shape[2:]) != (cfg.in_channels, cfg.image_size, cfg.image_size):
            raise ValueError(f"Spikformer input must have shape {expected}, got {tuple(x.shape)}.{hint}")
        weight = self.head.weight
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ValueError(f"Spikformer input is {x.dtype} but the model's parameters are {weight.dtype}: convert "
                             f"one of them (x.to({weight.dtype}) or model.to({x.dtype}))")
        self._check_finite(x)

    def _check_finite(self, x):
        """NaN or Inf input raises a ValueError. On the CPU at once. On a GPU without a synchronisation:
        the count of bad values is copied to the host asynchronously, and the error is raised by the
        first forward pass after the copy has landed, or by ``check_deferred_input()`` (the training loop
        and ``evaluate`` call it where they read results back, before anything is written)."""
        if x.device.type == "cpu":
            if not torch.isfinite(x).all():
                raise ValueError(_non_finite_message((~torch.isfinite(x)).sum().item(), x.numel()))
            return
        if x.device.type != "cuda" or torch.compiler.is_compiling():
            return  # a compiled graph carries no Python-side bookkeeping
        self.check_deferred_input(wait=False)
        host = torch.empty((), dtype=torch.int64, pin_memory=True)
        host.copy_((~torch.isfinite(x)).sum(), non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._pending_finite_checks.append((done, host, x.numel()))

    def check_deferred_input(self, wait=True):
        """Raise the ValueError of a GPU forward pass whose input held NaN or Inf. ``wait``: block until
        every pending check has landed (one synchronisation); else read only those already landed."""
        pending = self._pending_finite_checks
        while pending:
            done, host, numel = pending[0]
            if wait:
                done.synchronize()
            elif not done.query():
                return
            pending.popleft()
            if host.item():
                back = len(pending) + 1
                pending.clear()
                raise ValueError(_non_finite_message(host.item(), numel) + " (checked asynchronously on the GPU: "
                                 f"the input of the forward pass {back} call(s) back)")

    def __getstate__(self):  # copies and pickles carry no CUDA events
        state = self.__dict__.copy()
        state["_pending_finite_checks"] = collections.deque()
        return state

    def forward(self, x, return_attn=False):
        self.check_input(x)
        x = self.sps(x)  # (T, B, N, D)
        maps = []
        for block in self.blocks:
            if return_attn:
                x, attn = block(x, return_attn=True)
                maps.append(attn)  # (T, B, Hd, N, N)
            else:
                x = block(x)
        logits = self.head(x.mean(2).mean(0))  # GAP over N (T, B, D), mean over T (B, D) -> (B, classes)
        return (logits, maps) if return_attn else logits

    def set_backend(self, backend):
        """Switch every LIF layer to ``backend`` ("torch", "numba" or "fused"); the weights stay."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        for module in self.modules():
            if isinstance(module, LIF):
                module.backend = backend
        return self


def _non_finite_message(bad, numel):
    return (f"Spikformer input has {bad} non-finite value(s) (NaN or Inf) of {numel}: no LIF would fire on "
            "them and the logits would look valid; check the data")


def _init_weights(module):
    # As the official code: truncated normal (std 0.02) for linear weights, zero biases;
    # convolutions and BatchNorm keep PyTorch's defaults.
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def create_model(name, **overrides):
    """A Spikformer from a named preset of the paper (``list_models()``), fields overridden by keyword."""
    return Spikformer(get_config(name, **overrides))


def count_parameters(model):
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def preset_table():
    """One row per paper preset: sizes, tokens, T, and parameters: ours, the official code's as it
    registers them (with modules its forward never uses, ``config.official_unused_parameters``), and
    the paper's."""
    from .config import PRESETS, official_unused_parameters

    rows = []
    for name, preset in PRESETS.items():
        cfg = preset.config
        with torch.device("meta"):  # count without allocating 66M-parameter models
            ours = count_parameters(Spikformer(cfg))
        rows.append(dict(
            model=name, L=cfg.depth, D=cfg.embed_dim, heads=cfg.num_heads, T=cfg.T,
            input=f"{cfg.in_channels}×{cfg.image_size}×{cfg.image_size}", tokens=cfg.num_tokens,
            params_ours=f"{ours / 1e6:.3f}M", params_official_code=f"{(ours + official_unused_parameters(name)) / 1e6:.3f}M",
            params_paper=f"{preset.paper_params_m:.2f}M",
        ))
    return rows
