"""The leaky integrate-and-fire (LIF) neuron, paper eq. 1-3.

For each time step t, with input current X[t]:

    H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau        (1) charge
    S[t] = Θ(H[t] - V_th)                                     (2) fire
    V[t] = H[t] (1 - S[t]) + V_reset S[t]                     (3) hard reset

Θ is the Heaviside step (1 for arguments >= 0). In the backward pass Θ is
replaced by the sigmoid surrogate of eq. 20 (alpha = 4).

The state is explicit: every call starts from V[-1] = V_reset and runs all T
steps, so there is no hidden state to reset between samples.

Three backends compute the same thing:
- ``"torch"``: the readable reference below, runs on any device;
- ``"numba"``: fused multi-step forward and backward kernels on CPU tensors
  (``spikformer_lite/kernels/lif.py``), bit-identical spikes;
- ``"fused"``: the reference compiled with ``torch.compile``, meant for CUDA: the T steps
  become one generated kernel forward and one backward instead of a few small kernels per
  step. It always computes in float32 (so bf16 autocast keeps a float32 membrane) and
  returns spikes in the input's dtype. It runs on CPU too (a C++ compiler is needed), but
  there ``"numba"`` is the fast path; the first call of each shape compiles (seconds).
- ``"triton"``: fused multi-step Triton kernels for CUDA tensors (``kernels/lif_triton.py``,
  needs ``pip install spikformer-lite[gpu]``), registered with ``torch.library`` so that
  ``torch.compile`` traces through them. float32/float16/bfloat16 input, float32 membrane,
  spikes in the input's dtype, bit-identical to ``"torch"`` on float32; H (float32) carries no
  gradient. On CPU tensors it runs only under Triton's interpreter (``TRITON_INTERPRET=1``).

``"auto"``, the default of ``LIF`` and of the model config, picks per call from the input's
device: ``"triton"`` for CUDA tensors when triton imports (else ``"torch"``, with one warning
saying so), ``"torch"`` everywhere else, as before.

Reference: SpikingJelly ``neuron.LIFNode(tau=2., detach_reset=True)``, which
the tests check against.
"""

import functools
import math
import os
import warnings

import numpy as np
import torch
from torch import nn

from ._checks import check_time_major
from .surrogate import spike_fn

BACKENDS = ("torch", "numba", "fused", "triton", "auto")
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def lif_torch(x, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, alpha=4.0):
    """Reference LIF over a ``(T, ...)`` input. Returns ``(spikes, h)``, both ``(T, ...)``."""
    v = torch.full_like(x[0], v_reset)
    spikes, hs = [], []
    for x_t in x:
        h = v + (x_t - (v - v_reset)) / tau  # eq. 1
        s = spike_fn(h - v_threshold, alpha)  # eq. 2
        s_reset = s.detach() if detach_reset else s
        v = s_reset * v_reset + (1 - s_reset) * h  # eq. 3
        spikes.append(s)
        hs.append(h)
    return torch.stack(spikes), torch.stack(hs)


@functools.lru_cache(maxsize=64)
def _kernel_scalars(dtype, tau, v_threshold, v_reset, alpha):
    """The kernels' scalar arguments in the array dtype, computed once per setting.

    1/tau is exact only for a power of two: then the kernels multiply instead of divide.
    """
    scalar = np.dtype(dtype).type
    tau_args = (scalar(tau), scalar(1.0 / tau), math.frexp(tau)[0] == 0.5)
    return tau_args, scalar(v_threshold), scalar(v_reset), scalar(alpha)


class _NumbaLIF(torch.autograd.Function):
    """Autograd wrapper over the fused Numba kernels.

    Returns the spikes, plus H (without a gradient) when ``store_h`` is True.
    This glue runs once per layer call, between memory-bound kernels that
    evict it from the caches, so it is kept short: right after a 25 MB kernel
    each Python step here took 20-50 microseconds (2-8 in a warm loop).
    """

    @staticmethod
    def forward(ctx, x, scalars, detach_reset, store_h):
        from .kernels import lif as kernels

        x_np = x.detach().numpy().reshape(x.shape[0], -1)  # x is contiguous (lif_numba)
        tau_args, v_threshold, v_reset, _ = scalars
        spikes = np.empty_like(x_np)
        h = np.empty_like(x_np) if store_h else spikes[:1, :1]  # a placeholder the kernel never writes
        kernels.lif_forward(x_np, *tau_args, v_threshold, v_reset, spikes, h, store_h,
                            kernels.block_size(x_np.shape[0]))
        ctx.save_for_backward(x)
        ctx.scalars, ctx.detach_reset = scalars, detach_reset
        spikes = torch.from_numpy(spikes).view(x.shape)
        if not store_h:
            return spikes
        h = torch.from_numpy(h).view(x.shape)
        ctx.mark_non_differentiable(h)
        return spikes, h

    @staticmethod
    def backward(ctx, grad_spikes, *_grad_h):
        from .kernels import lif as kernels

        (x,) = ctx.saved_tensors
        tau_args, v_threshold, v_reset, alpha = ctx.scalars
        x_np = x.detach().numpy().reshape(x.shape[0], -1)
        g_np = grad_spikes.contiguous().numpy().reshape(x_np.shape)
        grad_x = np.empty_like(x_np)
        kernels.lif_backward(x_np, g_np, *tau_args, v_threshold, v_reset, alpha, ctx.detach_reset, grad_x,
                             kernels.block_size(x_np.shape[0]))
        return torch.from_numpy(grad_x).view(x.shape), None, None, None


def lif_numba(x, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, alpha=4.0, store_h=True):
    """Numba LIF on a CPU float32/float64 ``(T, ...)`` tensor.

    Returns ``(spikes, h)`` when ``store_h`` is True (``h`` never carries a
    gradient), else the spikes alone.
    """
    if x.device.type != "cpu":
        raise ValueError(
            f"backend='numba' runs on CPU tensors, got a tensor on {x.device}; "
            "use backend='torch' for GPU tensors"
        )
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"backend='numba' needs float32 or float64 input, got {x.dtype}; use backend='torch'")
    scalars = _kernel_scalars(_NUMPY_DTYPES[x.dtype], float(tau), float(v_threshold), float(v_reset), float(alpha))
    return _NumbaLIF.apply(x.contiguous(), scalars, bool(detach_reset), bool(store_h))


@functools.lru_cache(maxsize=1)
def _compiled_lif():
    return torch.compile(_lif_float32)


def _lif_float32(x, tau, v_threshold, v_reset, detach_reset, alpha):
    s, h = lif_torch(x.float(), tau, v_threshold, v_reset, detach_reset, alpha)
    return s.to(x.dtype), h


def lif_fused(x, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, alpha=4.0):
    """The reference LIF through ``torch.compile``: ``(spikes, h)``, h in float32."""
    return _compiled_lif()(x, float(tau), float(v_threshold), float(v_reset), bool(detach_reset), float(alpha))


def _lif_triton(x, tau, v_threshold, v_reset, detach_reset, alpha, return_h):
    if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(f"backend='triton' runs on CUDA tensors, got a tensor on {x.device}; "
                         "use backend='numba' or 'torch' on the CPU")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"backend='triton' needs float32, float16 or bfloat16 input, got {x.dtype}; "
                         "use backend='torch'")
    try:
        from .kernels.lif_triton import lif_triton
    except ImportError as err:
        raise ImportError("backend='triton' needs triton: pip install 'spikformer-lite[gpu]'") from err
    return lif_triton(x, tau, v_threshold, v_reset, detach_reset, alpha, store_h=return_h)


@functools.lru_cache(maxsize=1)
def triton_available():
    """Whether the Triton kernels import (triton installed and working); checked once."""
    try:
        from .kernels import lif_triton  # noqa: F401
    except Exception:  # ImportError, or a broken triton install
        return False
    return True


_warned_no_triton = False


def resolve_backend(x):
    """The backend ``"auto"`` runs for input ``x``: "triton" on CUDA when available, else "torch"."""
    global _warned_no_triton
    if x.device.type != "cuda":
        return "torch"
    if triton_available():
        return "triton"
    if not _warned_no_triton:
        _warned_no_triton = True
        warnings.warn("spikformer_lite: triton is not available, so LIF layers on CUDA use the slower torch "
                      "backend (pip install 'spikformer-lite[gpu]' for the fused Triton kernels)",
                      RuntimeWarning, stacklevel=3)
    return "torch"


def lif(x, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, alpha=4.0, backend="auto", return_h=False):
    """Multi-step LIF (eq. 1-3) over ``x`` of shape ``(T, ...)``.

    Returns the binary spikes ``S`` of the same shape, or ``(S, H)`` with the
    charged membrane potential ``H[t]`` (eq. 1) when ``return_h`` is True.
    """
    check_time_major(x)
    if tau <= 1.0:
        raise ValueError(f"tau must be > 1 (the membrane must not over-correct), got {tau}")
    if backend == "auto":
        backend = resolve_backend(x)
    if backend == "torch":
        s, h = lif_torch(x, tau, v_threshold, v_reset, detach_reset, alpha)
    elif backend == "numba":
        if x.dtype in (torch.float16, torch.bfloat16) and torch.is_autocast_enabled(x.device.type):
            x = x.float()  # under autocast the kernels run in float32; the next linear layer casts back
        out = lif_numba(x, tau, v_threshold, v_reset, detach_reset, alpha, store_h=return_h)
        s, h = out if return_h else (out, None)
    elif backend == "fused":
        s, h = lif_fused(x, tau, v_threshold, v_reset, detach_reset, alpha)
    elif backend == "triton":
        s, h = _lif_triton(x, tau, v_threshold, v_reset, detach_reset, alpha, return_h)
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return (s, h) if return_h else s


class LIF(nn.Module):
    """Multi-step LIF neuron layer (paper eq. 1-3, surrogate eq. 20).

    Input ``(T, ...)`` of any trailing shape; output binary spikes of the same
    shape. ``forward(x, return_h=True)`` also returns the membrane potential
    trace H[t]. Every call starts from ``v_reset``: there is nothing to reset.
    """

    def __init__(self, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, alpha=4.0, backend="auto"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if tau <= 1.0:
            raise ValueError(f"tau must be > 1, got {tau}")
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.detach_reset = bool(detach_reset)
        self.alpha = float(alpha)
        self.backend = backend

    def forward(self, x, return_h=False):
        return lif(x, self.tau, self.v_threshold, self.v_reset, self.detach_reset, self.alpha,
                   self.backend, return_h)

    def extra_repr(self):
        return (f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"detach_reset={self.detach_reset}, alpha={self.alpha}, backend={self.backend!r}")
