"""Fused multi-step LIF kernels (paper eq. 1-3 and the eq. 20 surrogate).

Layout: ``x`` is ``(T, M)``: T time steps of M independent neurons, C-contiguous.
Neurons are processed in blocks of ``_BLOCK`` so that the inner loop runs over
contiguous memory (and vectorises), while a block's membrane state stays in
cache across the T steps. Blocks run in parallel.

The forward pass writes only the spikes (and, on request, the charged
potential H). The backward pass re-runs the cheap forward recursion for its
block to recover H instead of reading a stored copy, so one LIF layer moves
five tensors through memory in total: x and S forward; x, dL/dS and dL/dX
backward.

Arithmetic is written in the same order as the torch reference and as
SpikingJelly (``h = v + (x - (v - v_reset)) / tau``) so that spikes are
bit-identical. One exception keeps that promise: when tau is a power of two
(Spikformer's tau = 2), ``d / tau`` and ``d * (1 / tau)`` are the same IEEE
result, and a multiplication is cheaper than a vector division. All scalars
arrive already cast to the array's dtype, so float32 inputs are computed in
float32, also with ``NUMBA_DISABLE_JIT=1``.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

_BLOCK = 2048

# exp(r) ~ 1 + r + r^2 P(r) on |r| <= ln(2)/2: the classic Cephes expf minimax
# polynomial (about 1 ulp in float32), with ln 2 split in two for the range
# reduction. Written as plain loops so that LLVM vectorises it: Numba's own
# np.exp is a scalar libm call, which made the backward pass 15x slower.
_EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
_LN2_HI = 0.693359375
_LN2_LO = -2.12194440e-4
_LOG2E = 1.44269504088896341


def sigmoid_grad(h, v_threshold, alpha, out, scratch):
    """out = d/dh sigmoid(alpha (h - V_th)) = alpha s (1 - s)  (eq. 20), elementwise on 1-D arrays.

    ``scratch`` is an int32 work array at least as long as ``h``. Inside Numba
    kernels this dispatches on dtype (below): float32 uses the vectorisable
    exp, float64 uses np.exp. Called from Python it does the same.
    """
    if h.dtype == np.float32:
        _sigmoid_grad_f32(h, v_threshold, alpha, out, scratch)
    else:
        _sigmoid_grad_exact(h, v_threshold, alpha, out, scratch)


@overload(sigmoid_grad)
def _sigmoid_grad_overload(h, v_threshold, alpha, out, scratch):
    if h.dtype == types.float32:
        return _sigmoid_grad_f32
    return _sigmoid_grad_exact


def _sigmoid_grad_exact(h, v_threshold, alpha, out, scratch):
    one = h.dtype.type(1)
    for j in range(h.shape[0]):
        s = one / (one + np.exp(-(alpha * (h[j] - v_threshold))))
        out[j] = (one - s) * s * alpha


def _sigmoid_grad_f32(h, v_threshold, alpha, out, scratch):
    f = np.float32
    p0, p1, p2, p3, p4, p5 = f(_EXP_P[0]), f(_EXP_P[1]), f(_EXP_P[2]), f(_EXP_P[3]), f(_EXP_P[4]), f(_EXP_P[5])
    ln2_hi, ln2_lo, log2e = f(_LN2_HI), f(_LN2_LO), f(_LOG2E)
    one, half = f(1), f(0.5)
    n = h.shape[0]
    # 2^k is built from its bit pattern: an int32 buffer seen as float32.
    scale_bits = scratch[:n]
    scale = scale_bits.view(np.float32)
    for j in range(n):
        z = -(alpha * (h[j] - v_threshold))
        # Clamp so that (1 + e)^2 below stays finite: past |z| = 43 the true
        # value is under 1e-18, and the clamp changes it by less than that.
        z = min(max(z, f(-43.0)), f(43.0))
        k = np.floor(z * log2e + half)
        r = z - k * ln2_hi - k * ln2_lo
        e = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
        out[j] = e * (r * r) + r + one  # exp(r), scaled by 2^k below
        scale_bits[j] = (np.int32(k) + np.int32(127)) << np.int32(23)
    for j in range(n):
        # sigmoid'(z) = e / (1 + e)^2 with e = exp(-alpha (h - V_th)): one division
        e = out[j] * scale[j]
        d = one + e
        out[j] = alpha * e / (d * d)


@njit(inline="always")
def _charge(v, x, tau, inv_tau, tau_is_pow2, v_reset):
    """Eq. 1: H = V + (X - (V - V_reset)) / tau, bit-identical to the division."""
    d = x - (v - v_reset)
    return v + (d * inv_tau if tau_is_pow2 else d / tau)


@njit(parallel=True, cache=True)
def lif_forward(x, tau, inv_tau, tau_is_pow2, v_threshold, v_reset, spikes, h_out, store_h):
    """Fill ``spikes`` (and ``h_out`` if ``store_h``) from input current ``x``.

    ``inv_tau`` is ``1 / tau``, used only when ``tau_is_pow2`` (then it is exact).
    """
    T, M = x.shape
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, M)
        v = np.full(hi - lo, v_reset, dtype=x.dtype)
        for t in range(T):
            for i in range(lo, hi):
                h = _charge(v[i - lo], x[t, i], tau, inv_tau, tau_is_pow2, v_reset)  # eq. 1
                fired = h >= v_threshold  # eq. 2
                spikes[t, i] = one if fired else zero
                v[i - lo] = v_reset if fired else h  # eq. 3 (hard reset)
                if store_h:
                    h_out[t, i] = h


@njit(parallel=True, cache=True, fastmath={"contract"})
def lif_backward(x, grad_spikes, tau, inv_tau, tau_is_pow2, v_threshold, v_reset, alpha, detach_reset, grad_x):
    """Backpropagation through time for the LIF recursion; fills ``grad_x``.

    With g_H the gradient at H[t] and g_V the gradient arriving at V[t]:
        g_H[t] = dL/dS[t] * sg(H[t] - V_th) + g_V[t] * dV[t]/dH[t]
        dL/dX[t] = g_H[t] / tau,   g_V[t-1] = g_H[t] - g_H[t] / tau
    where dV/dH = 1 - S (plus (V_reset - H) * sg when the reset is not detached)
    and sg is the derivative of sigmoid(alpha * x) (eq. 20).
    """
    T, M = x.shape
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, M)
        n = hi - lo
        h_buf = np.empty((T, n), dtype=x.dtype)
        v = np.full(n, v_reset, dtype=x.dtype)
        for t in range(T):  # recompute H for this block
            for j in range(n):
                h = _charge(v[j], x[t, lo + j], tau, inv_tau, tau_is_pow2, v_reset)
                h_buf[t, j] = h
                v[j] = v_reset if h >= v_threshold else h
        carry = np.zeros(n, dtype=x.dtype)  # gradient arriving at V[t]
        sg_buf = np.empty(n, dtype=x.dtype)
        scratch = np.empty(n, dtype=np.int32)
        for t in range(T - 1, -1, -1):
            sigmoid_grad(h_buf[t], v_threshold, alpha, sg_buf, scratch)
            for j in range(n):
                h = h_buf[t, j]
                sg = sg_buf[j]
                dv_dh = zero if h >= v_threshold else one
                if not detach_reset:
                    dv_dh = dv_dh + (v_reset - h) * sg
                g_h = grad_spikes[t, lo + j] * sg + carry[j] * dv_dh
                g_x = g_h * inv_tau
                grad_x[t, lo + j] = g_x
                carry[j] = g_h - g_x
