"""Triton multi-step LIF kernels (paper eq. 1-3, eq. 20 surrogate), for CUDA tensors.

Imported only by ``neuron.py``'s ``backend="triton"`` (triton is optional: ``pip install
spikformer-lite[gpu]``). On a machine without a GPU the kernels run through Triton's
interpreter (``TRITON_INTERPRET=1`` set before triton is imported, CPU tensors), which is
how the tests check them.

Layout: ``x`` is ``(T, M)``, C-contiguous: T time steps of M independent neurons. One
program handles ``BLOCK`` neurons and loops over the T steps (``tl.static_range``, T a
compile-time constant), so the membrane stays in float32 registers whatever the input
dtype; inputs are read in their dtype and spikes written in it.

H is stored in the forward (float32) and read back by the backward, rather than recomputed.
Recomputing would spare one float32 write and one read per element (the usual win for a
memory-bound kernel on a GPU), but the backward walks time in reverse and needs every
H[t]: Triton has no indexable register arrays, so recomputing means either a scratch
buffer in global memory (the same traffic as storing H) or a (T, BLOCK) register tile with
O(T^2) selects. Storing is the simple, exact choice; which is faster on a GPU is unmeasured
(only the interpreter on a CPU was available). H is stored only when it is needed (a
gradient is required, or ``return_h``).

Arithmetic follows the torch reference (``h = v + (x - (v - v_reset)) / tau``) so that on
float32 input the spikes are bit-identical: when tau is a power of two (Spikformer's 2)
``d * (1 / tau)`` is the exact IEEE quotient (and stays exact if contracted into an FMA);
otherwise the division is ``div_rn`` (IEEE round-to-nearest), not Triton's default float32
``/`` which may be approximate on a GPU.
"""

import math

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _lif_fwd_kernel(x_ptr, s_ptr, h_ptr, M, tau, inv_tau, v_threshold, v_reset,
                    T: tl.constexpr, TAU_POW2: tl.constexpr, STORE_H: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    v = tl.zeros([BLOCK], dtype=tl.float32) + v_reset
    for t in tl.static_range(T):
        x = tl.load(x_ptr + t * M + offs, mask=mask, other=0.0).to(tl.float32)
        d = x - (v - v_reset)
        if TAU_POW2:
            h = v + d * inv_tau  # eq. 1; exact: 1/tau is a power of two
        else:
            h = v + tl.math.div_rn(d, tau)  # eq. 1, IEEE division
        fired = h >= v_threshold  # eq. 2
        tl.store(s_ptr + t * M + offs, tl.where(fired, 1.0, 0.0).to(s_ptr.dtype.element_ty), mask=mask)
        if STORE_H:
            tl.store(h_ptr + t * M + offs, h, mask=mask)
        v = tl.where(fired, v_reset, h)  # eq. 3, hard reset


@triton.jit
def _lif_bwd_kernel(g_ptr, h_ptr, gx_ptr, M, tau, inv_tau, v_threshold, v_reset, alpha,
                    T: tl.constexpr, TAU_POW2: tl.constexpr, DETACH_RESET: tl.constexpr, BLOCK: tl.constexpr):
    """Backpropagation through time (same equations as ``kernels/lif.py``'s ``lif_backward``):

        g_H[t] = dL/dS[t] sg(H[t] - V_th) + g_V[t] dV[t]/dH[t]
        dL/dX[t] = g_H[t] / tau,   g_V[t-1] = g_H[t] - g_H[t] / tau
    with dV/dH = 1 - S, plus (V_reset - H) sg when the reset is not detached.
    """
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    carry = tl.zeros([BLOCK], dtype=tl.float32)  # gradient arriving at V[t]
    for i in tl.static_range(T):
        t = T - 1 - i
        h = tl.load(h_ptr + t * M + offs, mask=mask, other=0.0)
        g_s = tl.load(g_ptr + t * M + offs, mask=mask, other=0.0).to(tl.float32)
        sig = tl.sigmoid(alpha * (h - v_threshold))
        sg = (1.0 - sig) * sig * alpha  # eq. 20's derivative, as surrogate.sigmoid_surrogate_grad
        dv_dh = tl.where(h >= v_threshold, 0.0, 1.0)
        if not DETACH_RESET:
            dv_dh = dv_dh + (v_reset - h) * sg
        g_h = g_s * sg + carry * dv_dh
        if TAU_POW2:
            g_x = g_h * inv_tau
        else:
            g_x = tl.math.div_rn(g_h, tau)
        tl.store(gx_ptr + t * M + offs, g_x.to(gx_ptr.dtype.element_ty), mask=mask)
        carry = g_h - g_x


def _tau_args(tau):
    return float(tau), 1.0 / float(tau), math.frexp(float(tau))[0] == 0.5


def _grid(M):
    return (triton.cdiv(M, BLOCK),)


@torch.library.triton_op("spikformer_lite::lif_triton_fwd", mutates_args={})
def lif_fwd(x: torch.Tensor, tau: float, v_threshold: float, v_reset: float, alpha: float,
            detach_reset: bool, store_h: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (T, M) contiguous. Returns spikes (x's dtype) and H (float32; empty when not stored).

    ``alpha`` and ``detach_reset`` only shape the backward; they are arguments here so that
    the autograd formula (below) finds them among the forward's inputs.
    """
    T, M = x.shape
    spikes = torch.empty_like(x)
    h = torch.empty((T, M) if store_h else (0,), dtype=torch.float32, device=x.device)
    tau, inv_tau, pow2 = _tau_args(tau)
    torch.library.wrap_triton(_lif_fwd_kernel)[_grid(M)](
        x, spikes, h if store_h else spikes, M, tau, inv_tau, v_threshold, v_reset,
        T=T, TAU_POW2=pow2, STORE_H=store_h, BLOCK=BLOCK)
    return spikes, h


@torch.library.triton_op("spikformer_lite::lif_triton_bwd", mutates_args={})
def lif_bwd(grad_spikes: torch.Tensor, h: torch.Tensor, tau: float, v_threshold: float, v_reset: float,
            alpha: float, detach_reset: bool) -> torch.Tensor:
    """grad_spikes: (T, M) in the input's dtype; h: (T, M) float32. Returns dL/dX in grad_spikes' dtype."""
    T, M = h.shape
    grad_spikes = grad_spikes.contiguous()
    grad_x = torch.empty_like(grad_spikes)
    tau, inv_tau, pow2 = _tau_args(tau)
    torch.library.wrap_triton(_lif_bwd_kernel)[_grid(M)](
        grad_spikes, h, grad_x, M, tau, inv_tau, v_threshold, v_reset, alpha,
        T=T, TAU_POW2=pow2, DETACH_RESET=detach_reset, BLOCK=BLOCK)
    return grad_x


def _setup_context(ctx, inputs, output):
    _, tau, v_threshold, v_reset, alpha, detach_reset, _ = inputs
    ctx.save_for_backward(output[1])
    ctx.args = (tau, v_threshold, v_reset, alpha, detach_reset)


def _backward(ctx, grad_spikes, _grad_h):
    (h,) = ctx.saved_tensors
    if h.numel() == 0:
        raise RuntimeError("lif_triton: H was not stored in the forward (x did not require grad then)")
    grad_x = lif_bwd(grad_spikes, h, *ctx.args)
    return grad_x, None, None, None, None, None, None


# Shapes for tracing (FakeTensor, torch.compile). triton_op would derive them by tracing the
# bodies, but under the interpreter (CPU tensors) that would launch the kernels on fake data.
@lif_fwd.register_fake
def _(x, tau, v_threshold, v_reset, alpha, detach_reset, store_h):
    return torch.empty_like(x), x.new_empty(tuple(x.shape) if store_h else (0,), dtype=torch.float32)


@lif_bwd.register_fake
def _(grad_spikes, h, tau, v_threshold, v_reset, alpha, detach_reset):
    return torch.empty_like(grad_spikes, memory_format=torch.contiguous_format)


lif_fwd.register_autograd(_backward, setup_context=_setup_context)


def lif_triton(x, tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True, alpha=4.0, store_h=True):
    """Triton LIF over a ``(T, ...)`` tensor of float32, float16 or bfloat16.

    Returns ``(spikes, h)``: spikes in x's dtype, H in float32 (``h`` never carries a
    gradient, as with the numba backend), or ``(spikes, None)`` when ``store_h`` is False
    and no gradient is needed.
    """
    T = x.shape[0]
    x2 = x.contiguous().view(T, -1)
    keep_h = bool(store_h) or (torch.is_grad_enabled() and x.requires_grad)
    s, h = lif_fwd(x2, float(tau), float(v_threshold), float(v_reset), float(alpha), bool(detach_reset), keep_h)
    s = s.view(x.shape)
    return (s, h.view(x.shape)) if store_h else (s, None)
