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
