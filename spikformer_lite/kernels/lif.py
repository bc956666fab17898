"""Fused multi-step LIF kernels (paper eq. 1-3 and the eq. 20 surrogate).

Layout: ``x`` is ``(T, M)``: T time steps of M independent neurons, C-contiguous.
Neurons are processed in blocks (``block_size``) so that the inner loop runs over
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
from numpy.polynomial import Chebyshev, Polynomial
from numba import njit, prange, types
from numba.extending import overload


def block_size(T):
    """Neurons per block: the backward keeps T rows of H for a block in cache (about 256 KB)."""
    return max(1024, min(16384, 1 << ((65536 // T).bit_length() - 1)))


def _exp2_coefficients(degree=6):
    """Polynomial p(u) ~ 2^u on |u| <= 1/2, highest power first.

    Interpolation at Chebyshev points is within a whisker of the minimax
    polynomial: degree 6 is off by 2.5e-9 relative, below float32's 6e-8, so
    the kernel's error comes from float32 rounding (checked in tests). Taking
    2^y instead of e^z saves the two-constant range reduction: the backward
    pass got about 10% faster than with a Cephes-style exp (measured A/B).
    """
    fit = Chebyshev.interpolate(np.exp2, degree, domain=[-0.5, 0.5])
    return tuple(float(c) for c in fit.convert(kind=Polynomial).coef[::-1])


_EXP2_P = _exp2_coefficients()
_LOG2E = 1.4426950408889634


def exp_neg_abs(h, v_threshold, alpha, mant, scale_bits):
    """e = exp(-|alpha (h - V_th)|) elementwise on 1-D arrays, in two factors.

    ``e[j] = mant[j] * scale_bits[j:j+1].view(float32)``: float32 input gets
    2^u in ``mant`` and 2^k as the bit pattern of a float32 in the int32
    array ``scale_bits`` (written with integer arithmetic, which is what lets
    the loop vectorise); float64 input gets np.exp in ``mant`` and a scale of
    1. Inside Numba kernels this dispatches on dtype (below).
    """
    if h.dtype == np.float32:
        _exp_neg_abs_f32(h, v_threshold, alpha, mant, scale_bits)
    else:
        _exp_neg_abs_exact(h, v_threshold, alpha, mant, scale_bits)


@overload(exp_neg_abs, jit_options={"error_model": "numpy", "fastmath": {"contract"}})
def _exp_neg_abs_overload(h, v_threshold, alpha, mant, scale_bits):
    if h.dtype == types.float32:
        return _exp_neg_abs_f32
    return _exp_neg_abs_exact


_FLOAT32_ONE_BITS = 127 << 23


def _exp_neg_abs_exact(h, v_threshold, alpha, mant, scale_bits):
    for j in range(h.shape[0]):
        mant[j] = np.exp(-abs(alpha * (h[j] - v_threshold)))
        scale_bits[j] = _FLOAT32_ONE_BITS


def _exp_neg_abs_f32(h, v_threshold, alpha, mant, scale_bits):
    f = np.float32
    p = _EXP2_P
    p0, p1, p2, p3, p4, p5, p6 = f(p[0]), f(p[1]), f(p[2]), f(p[3]), f(p[4]), f(p[5]), f(p[6])
    a = f(alpha * _LOG2E)  # y = alpha log2(e) (h - V_th), so that e = 2^y
    half = f(0.5)
    for j in range(h.shape[0]):
        # sigmoid' is even, so only y <= 0 is needed: e in (0, 1] never
        # overflows, and one clamp remains. Below y = -62 the true value is
        # under 1e-18 and the clamp changes it by less than that; it keeps k
        # in float32's normal exponent range.
        y = -abs((h[j] - v_threshold) * a)  # h - V_th is exact near the threshold
        y = max(y, f(-62.0))
        k = np.floor(y + half)  # e = 2^k 2^u with |u| <= 1/2
        u = y - k
        mant[j] = (((((p0 * u + p1) * u + p2) * u + p3) * u + p4) * u + p5) * u + p6  # 2^u
        scale_bits[j] = (np.int32(k) + np.int32(127)) << np.int32(23)  # 2^k


@njit(inline="always")
def sigmoid_grad_from_exp(e, alpha, one):
    """alpha s (1 - s) for s = sigmoid(z), from e = exp(-|z|): alpha e / (1 + e)^2 (one division).

    ``one`` is 1 in the arrays' dtype, so that float32 stays float32.
    """
    d = one + e
    return alpha * e / (d * d)


@njit(fastmath={"contract"}, error_model="numpy")
def sigmoid_grad(h, v_threshold, alpha, out, scratch):
    """out = d/dh sigmoid(alpha (h - V_th)) = alpha s (1 - s)  (eq. 20), elementwise on 1-D arrays.

    ``scratch`` is an int32 work array at least as long as ``h``. float32
    uses a vectorisable exp (Numba's own np.exp is a scalar libm call, 15x
    slower here), float64 uses np.exp. Against float64, over h in [-4, 6] with
    alpha = 4: the float32 result is off by at most 1.7e-7 of the peak (median
    2e-7 relative), where torch's own float32 formula is off by 3.6e-7 (median
    4.7e-7 relative).
    """
    n = h.shape[0]
    one = h.dtype.type(1)
    exp_neg_abs(h, v_threshold, alpha, out, scratch[:n])
    scale = scratch[:n].view(np.float32)
    for j in range(n):
        out[j] = sigmoid_grad_from_exp(out[j] * scale[j], alpha, one)


@njit(inline="always")
def _charge(v, x, tau, inv_tau, tau_is_pow2, v_reset):
    """Eq. 1: H = V + (X - (V - V_reset)) / tau, bit-identical to the division."""
    d = x - (v - v_reset)
    return v + (d * inv_tau if tau_is_pow2 else d / tau)


# Rows are read and written through 1-D slices (x[t, lo:hi]) indexed from 0:
# an index like x[t, lo + j] makes Numba emit a negative-index check per
# element, which cost 4x in these loops. error_model="numpy" drops the
# ZeroDivisionError check, which otherwise stops LLVM from vectorising.
@njit(parallel=True, cache=True, error_model="numpy")
def lif_forward(x, tau, inv_tau, tau_is_pow2, v_threshold, v_reset, spikes, h_out, store_h, block):
    """Fill ``spikes`` (and ``h_out`` if ``store_h``) from input current ``x``.

    ``inv_tau`` is ``1 / tau``, used only when ``tau_is_pow2`` (then it is exact).
    """
    T, M = x.shape
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    n_blocks = (M + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        hi = min(lo + block, M)
        n = hi - lo
        v = np.full(n, v_reset, dtype=x.dtype)
        for t in range(T):
            x_t = x[t, lo:hi]
            s_t = spikes[t, lo:hi]
            h_t = h_out[t, lo:hi] if store_h else s_t  # s_t: a placeholder, never written as H
            for j in range(n):
                h = _charge(v[j], x_t[j], tau, inv_tau, tau_is_pow2, v_reset)  # eq. 1
                fired = h >= v_threshold  # eq. 2
                s_t[j] = one if fired else zero
                v[j] = v_reset if fired else h  # eq. 3 (hard reset)
                if store_h:
                    h_t[j] = h


@njit(parallel=True, cache=True, fastmath={"contract"}, error_model="numpy")
def lif_backward(x, grad_spikes, tau, inv_tau, tau_is_pow2, v_threshold, v_reset, alpha, detach_reset, grad_x, block):
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
    n_blocks = (M + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        hi = min(lo + block, M)
        n = hi - lo
        h_buf = np.empty((T, n), dtype=x.dtype)
        v = np.full(n, v_reset, dtype=x.dtype)
        for t in range(T):  # recompute H for this block
            x_t = x[t, lo:hi]
            h_t = h_buf[t]
            for j in range(n):
                h = _charge(v[j], x_t[j], tau, inv_tau, tau_is_pow2, v_reset)
                h_t[j] = h
                v[j] = v_reset if h >= v_threshold else h
        carry = np.zeros(n, dtype=x.dtype)  # gradient arriving at V[t]
        mant = np.empty(n, dtype=x.dtype)
        scale_bits = np.empty(n, dtype=np.int32)
        scale = scale_bits.view(np.float32)
        for t in range(T - 1, -1, -1):
            h_t = h_buf[t]
            g_s = grad_spikes[t, lo:hi]
            g_x_t = grad_x[t, lo:hi]
            exp_neg_abs(h_t, v_threshold, alpha, mant, scale_bits)  # the exp of eq. 20's surrogate
            for j in range(n):
                h = h_t[j]
                sg = sigmoid_grad_from_exp(mant[j] * scale[j], alpha, one)
                dv_dh = zero if h >= v_threshold else one
                if not detach_reset:
                    dv_dh = dv_dh + (v_reset - h) * sg
                g_h = g_s[j] * sg + carry[j] * dv_dh
                g_x = g_h * inv_tau
                g_x_t[j] = g_x
                carry[j] = g_h - g_x
