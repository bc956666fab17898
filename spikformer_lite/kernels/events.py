"""Event-driven kernels: layers fed with spikes add weight rows instead of multiplying.

A layer whose input is spikes computes ``y = b + sum_i x_i W[i]`` over the inputs
``i`` that fired: no multiplication, one accumulate (AC) per output element per
input spike (sec. 3.3 and eq. 21 of the paper). Token features after the residual
connections are small integer counts (0, 1, 2, ...); an input of count c adds its
row c times, so every operation here stays an addition and is counted as one.

Layout: channels last, so that the weight row an event adds is contiguous.
    spikes and counts   (T, B, P, C) uint8, P = pixels (H*W) or tokens N
    event lists         nnz (T, B, P) int32 and idx (T, B, P, C) uint16:
                        the first nnz[t, b, p] entries of idx[t, b, p] are the active channels
    weights             (taps, C_in, C_out), BatchNorm already folded in

Every kernel runs all T steps of a layer for one output row or token and fuses
the LIF (eq. 1-3) into it, keeping the membrane in a small local array. Charges
use the same arithmetic as ``kernels/lif.py``. Each kernel returns its exact
operation count; the tests compare every kernel with a naive reference
(``tests/reference.py``), also under ``NUMBA_DISABLE_JIT=1``.

Indices are unsigned and rows are taken as 1-D slices, so Numba emits no
negative-index checks in the inner loops (see ``kernels/lif.py``).
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from .lif import _charge


def popcount(x):
    """Number of set bits of a uint64 (LLVM's ctpop inside Numba; Python's int.bit_count without JIT)."""
    return int(x).bit_count()


@intrinsic
def _ctpop(typingctx, x):
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return x(x), codegen


@overload(popcount)
def _popcount_overload(x):
    def impl(x):
        return _ctpop(x)

    return impl


@njit(inline="always")
def _fire(v, current, spikes, h, store_h, tau, inv_tau, tau_is_pow2, v_threshold, v_reset):
    """One LIF step (eq. 1-3) over a row of neurons: membrane v and input current -> spikes (and H into h).

    ``h`` is a placeholder row, never written, unless ``store_h``.
    """
    for c in range(v.shape[0]):
        hc = _charge(v[c], current[c], tau, inv_tau, tau_is_pow2, v_reset)  # eq. 1
        fired = hc >= v_threshold  # eq. 2
        spikes[c] = 1 if fired else 0
        v[c] = v_reset if fired else hc  # eq. 3 (hard reset)
        if store_h:
            h[c] = hc


@njit(parallel=True, cache=True)
def _events_of(x, nnz, idx):
    """Event lists of ``x`` (R, P, C) uint8: fills nnz (R, P) and idx (R, P, C) with the active channels."""
    R, P, C = x.shape
    for r in prange(R):
        for p in range(P):
            row = x[r, p]
            out = idx[r, p]
            k = 0
            for c in range(C):
                if row[c] != 0:
                    out[k] = c
                    k += 1
            nnz[r, p] = k


@njit(parallel=True, cache=True, error_model="numpy")
def _lif_dense(current, T, tau, inv_tau, tau_is_pow2, v_threshold, v_reset, spikes, h_out, store_h):
    """The LIF over a float ``current`` (T', B, P, C) with T' = T or 1 (the same input every step).

    Fills ``spikes`` (T, B, P, C) uint8 (and ``h_out`` with H[t] when ``store_h``).
    """
    T_in, B, P, C = current.shape
    for r in prange(B * P):
        b = r // P
        p = r - b * P
        v = np.full(C, v_reset, dtype=current.dtype)
        for t in range(T):
            h_row = h_out[t, b, p] if store_h else h_out[0, 0, 0]
            _fire(v, current[t if T_in > 1 else 0, b, p], spikes[t, b, p], h_row, store_h,
                  tau, inv_tau, tau_is_pow2, v_threshold, v_reset)


@njit(parallel=True, cache=True, error_model="numpy")
def _conv3x3_lif(nnz, idx, H, W, weight, bias, tau, inv_tau, tau_is_pow2, v_threshold, v_reset,
                spikes, h_out, store_h, ops):
    """A 3x3, stride-1, padding-1 convolution of binary spikes, BatchNorm folded, then the LIF.

    nnz, idx: event lists of the input, (T, B, H*W) and (T, B, H*W, C_in). weight (9, C_in, C_out) with
    tap = 3 ky + kx; bias (C_out). Output spikes (T, B, H*W, C_out). Gathered per output pixel, so that rows
    run in parallel: each active input channel at each of the (up to) 9 neighbouring pixels adds its weight
    row. ``ops`` (B*H,) int64 receives the accumulates of each output row.
    """
    T, B, P = nnz.shape
    C_out = weight.shape[2]
    for r in prange(B * H):
        b = r // H
        y = r - b * H
        acc = np.empty(C_out, dtype=weight.dtype)
        v = np.full((W, C_out), v_reset, dtype=weight.dtype)
        n_ops = 0
        for t in range(T):
            for x in range(W):
                acc[:] = bias
                for ky in range(3):
                    iy = y + ky - 1
                    if iy < 0 or iy >= H:
                        continue
                    for kx in range(3):
                        ix = x + kx - 1
                        if ix < 0 or ix >= W:
                            continue
                        p = iy * W + ix
                        k = nnz[t, b, p]
                        events = idx[t, b, p]
                        w_tap = weight[3 * ky + kx]
                        for e in range(k):
                            row = w_tap[events[e]]
                            for o in range(C_out):
                                acc[o] += row[o]
                        n_ops += k * C_out
                h_row = h_out[t, b, y * W + x] if store_h else h_out[0, 0, 0]
                _fire(v[x], acc, spikes[t, b, y * W + x], h_row, store_h,
                      tau, inv_tau, tau_is_pow2, v_threshold, v_reset)
        ops[r] = n_ops


@njit(parallel=True, cache=True, error_model="numpy")
def _linear_lif(x, nnz, idx, weight, bias, tau, inv_tau, tau_is_pow2, v_threshold, v_reset,
               spikes, h_out, store_h, ops):
    """A linear layer on spike counts, BatchNorm folded, then the LIF: one token per iteration.

    x (T, B, N, D_in) uint8 counts with their event lists nnz, idx; weight (D_in, D_out); bias (D_out).
    An input of count c adds its weight row c times. Output spikes (T, B, N, D_out); ``ops`` (B*N,) int64.
    """
    T, B, N, _ = x.shape
    D_out = weight.shape[1]
    for r in prange(B * N):
        b = r // N
        n = r - b * N
        acc = np.empty(D_out, dtype=weight.dtype)
        v = np.full(D_out, v_reset, dtype=weight.dtype)
        n_ops = 0
        for t in range(T):
            acc[:] = bias
            counts = x[t, b, n]
            events = idx[t, b, n]
            for e in range(nnz[t, b, n]):
                i = events[e]
                row = weight[i]
                for _ in range(counts[i]):
                    for o in range(D_out):
                        acc[o] += row[o]
                n_ops += counts[i] * D_out
            h_row = h_out[t, b, n] if store_h else h_out[0, 0, 0]
            _fire(v, acc, spikes[t, b, n], h_row, store_h, tau, inv_tau, tau_is_pow2, v_threshold, v_reset)
        ops[r] = n_ops


@njit(cache=True)
def _pack_columns(s, c0, d, words):
    """Bits over tokens of channels c0..c0+d of s (N, D): words (d, ceil(N/64)) uint64."""
    N = s.shape[0]
    words[:] = 0
    one = np.uint64(1)
    for n in range(N):
        row = s[n]
        w = n >> 6
        bit = one << np.uint64(n & 63)
        for i in range(d):
            if row[c0 + i] != 0:
                words[i, w] |= bit


@njit(cache=True)
def _pack_rows(s, c0, d, words):
    """Bits over channels c0..c0+d of each token of s (N, D): words (N, ceil(d/64)) uint64."""
    N = s.shape[0]
    words[:] = 0
    one = np.uint64(1)
    for n in range(N):
        row = s[n]
        out = words[n]
        for i in range(d):
            if row[c0 + i] != 0:
                out[i >> 6] |= one << np.uint64(i & 63)


@njit(cache=True)
def _and_popcount(a, b, out):
    """out[i, j] = popcount(a[i] AND b[j]) summed over words: a (I, nw), b (J, nw) uint64."""
    I, nw = a.shape
    J = b.shape[0]
    for i in range(I):
        ai = a[i]
        for j in range(J):
            bj = b[j]
            s = 0
            for w in range(nw):
                s += popcount(ai[w] & bj[w])
            out[i, j] = s


@njit(parallel=True, cache=True, error_model="numpy")
def _ssa_lif(q, k, v, num_heads, scale, kv_first, tau, inv_tau, tau_is_pow2, v_threshold, v_reset,
            spikes, h_out, store_h, word_ops, acc_ops):
    """SN(Q K^T V * s) per head (eq. 15) on binary Q, K, V (T, B, N, D) uint8, bit-packed.

    kv_first: K^T V[i, j] = popcount(K[:, i] AND V[:, j]) over token words, then each query adds the
    rows of K^T V for its active channels: d^2 ceil(N/64) word operations and nnz(Q) d accumulates.
    Otherwise A = Q K^T: A[n, m] = popcount(Q[n] AND K[m]) over channel words, then each active V[m, j]
    adds column m of A to output column j: N^2 ceil(d/64) word operations and nnz(V) N accumulates.
    Both are integer counts, exact, so they equal the float products of the torch path; s then scales
    them (exactly, for a power of two). Output spikes (T, B, N, D); word_ops and acc_ops (B*Hd,) int64.
    """
    T, B, N, D = q.shape
    d = D // num_heads
    for r in prange(B * num_heads):
        b = r // num_heads
        c0 = (r - b * num_heads) * d
        mem = np.full((N, d), v_reset, dtype=h_out.dtype)  # h_out has the float dtype, also as a placeholder
        n_word, n_acc = 0, 0
        if kv_first:
            nw = (N + 63) // 64
            kb = np.empty((d, nw), dtype=np.uint64)
            vb = np.empty((d, nw), dtype=np.uint64)
            ktv = np.empty((d, d), dtype=np.int32)
        else:
            nw = (d + 63) // 64
            qb = np.empty((N, nw), dtype=np.uint64)
            kb = np.empty((N, nw), dtype=np.uint64)
            at = np.empty((N, N), dtype=np.int32)  # A^T: row m is column m of A
            out_t = np.empty((d, N), dtype=np.int32)
        acc = np.empty(d, dtype=np.int32)
        acc_f = np.empty(d, dtype=h_out.dtype)  # the exact counts in the float dtype, so that s keeps it
        for t in range(T):
            if kv_first:
                _pack_columns(k[t, b], c0, d, kb)
                _pack_columns(v[t, b], c0, d, vb)
                _and_popcount(kb, vb, ktv)
                n_word += d * d * nw
            else:
                _pack_rows(q[t, b], c0, d, qb)
                _pack_rows(k[t, b], c0, d, kb)
                _and_popcount(kb, qb, at)
                n_word += N * N * nw
                out_t[:] = 0
                for m in range(N):
                    v_m = v[t, b, m]
                    a_m = at[m]
                    for j in range(d):
                        if v_m[c0 + j] != 0:
                            o = out_t[j]
                            for n in range(N):
                                o[n] += a_m[n]
                            n_acc += N
            for n in range(N):
                if kv_first:
                    acc[:] = 0
                    q_n = q[t, b, n]
                    for i in range(d):
                        if q_n[c0 + i] != 0:
                            row = ktv[i]
                            for j in range(d):
                                acc[j] += row[j]
                            n_acc += d
                else:
                    for j in range(d):
                        acc[j] = out_t[j, n]
                for j in range(d):
                    acc_f[j] = acc[j]  # the exact count in the float dtype, then s scales it (exactly: a power of two)
                    acc_f[j] *= scale
                h_row = h_out[t, b, n, c0:c0 + d] if store_h else h_out[0, 0, 0]
                _fire(mem[n], acc_f, spikes[t, b, n, c0:c0 + d], h_row, store_h,
                      tau, inv_tau, tau_is_pow2, v_threshold, v_reset)
        word_ops[r] = n_word
        acc_ops[r] = n_acc


@njit(parallel=True, cache=True)
def _max_pool3x3s2(s, H, W, out):
    """Max-pool 3x3, stride 2, padding 1 of binary spikes (R, H*W, C) -> (R, H'*W', C): an OR per window."""
    R, _, C = s.shape
    Ho, Wo = (H - 1) // 2 + 1, (W - 1) // 2 + 1
    for r in prange(R * Ho):
        rr = r // Ho
        y = r - rr * Ho
        for x in range(Wo):
            o = out[rr, y * Wo + x]
            o[:] = 0
            for ky in range(3):
                iy = 2 * y + ky - 1
                if iy < 0 or iy >= H:
                    continue
                for kx in range(3):
                    ix = 2 * x + kx - 1
                    if ix < 0 or ix >= W:
                        continue
                    row = s[rr, iy * W + ix]
                    for c in range(C):
                        o[c] |= row[c]


# ---- wrappers: check, allocate, call -----------------------------------------------------------------
def _check_counts(x, what, binary):
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"{what} must be a uint8 array (T, B, P, C) of spikes, got "
                         f"{getattr(x, 'dtype', type(x).__name__)} of shape {getattr(x, 'shape', None)}")
    if binary and x.size and x.max() > 1:
        raise ValueError(f"{what} must be binary spikes (0 or 1), but holds values up to {x.max()}: this kernel "
                         "treats every nonzero input as one spike, so counts would give a wrong answer")


def events(x, binary=False):
    """Event lists of spikes or counts ``x`` (T, B, P, C) uint8: (nnz (T, B, P) int32, idx (T, B, P, C) uint16)."""
    _check_counts(x, "events input", binary)
    T, B, P, C = x.shape
    if C > 65535:
        raise ValueError(f"{C} channels do not fit the uint16 event indices")
    nnz = np.empty((T, B, P), np.int32)
    idx = np.empty((T, B, P, C), np.uint16)
    _events_of(np.ascontiguousarray(x).reshape(T * B, P, C), nnz.reshape(T * B, P), idx.reshape(T * B, P, C))
    return nnz, idx


def _placeholder(shape, dtype, record):
    return np.empty(shape, dtype) if record else np.empty((1, 1, 1, 1), dtype)


def lif_dense(current, T, lif, record=False):
    """LIF over a float current (T or 1, B, P, C): spikes (T, B, P, C) uint8 and H (or None)."""
    _, B, P, C = current.shape
    spikes = np.empty((T, B, P, C), np.uint8)
    h = _placeholder(spikes.shape, current.dtype, record)
    _lif_dense(np.ascontiguousarray(current), T, *lif, spikes, h, record)
    return spikes, (h if record else None)


def conv3x3_lif(x, H, W, weight, bias, lif, record=False):
    """SN(conv3x3(x) + b) of binary spikes x (T, B, H*W, C_in); weight (9, C_in, C_out).

    Returns spikes (T, B, H*W, C_out), H (or None) and the accumulates performed.
    """
    _check_counts(x, "conv3x3_lif input", binary=True)
    T, B, P, C_in = x.shape
    if P != H * W or weight.shape[:2] != (9, C_in) or bias.shape != weight.shape[2:]:
        raise ValueError(f"conv3x3_lif: input (T, B, {P}, {C_in}) on a {H}x{W} grid does not fit weight "
                         f"{weight.shape} (expected (9, {C_in}, C_out)) and bias {bias.shape}")
    nnz, idx = events(x)
    spikes = np.empty((T, B, P, weight.shape[2]), np.uint8)
    h = _placeholder(spikes.shape, weight.dtype, record)
    ops = np.zeros(B * H, np.int64)
    _conv3x3_lif(nnz, idx, H, W, weight, bias, *lif, spikes, h, record, ops)
    return spikes, (h if record else None), int(ops.sum())


def linear_lif(x, weight, bias, lif, record=False, events_of_x=None):
    """SN(x W + b) of spike counts x (T, B, N, D_in); weight (D_in, D_out). Returns spikes, H (or None), ops.

    ``events_of_x`` reuses event lists already made for x (Q, K and V share theirs).
    """
    _check_counts(x, "linear_lif input", binary=False)
    T, B, N, D_in = x.shape
    if weight.shape[0] != D_in or bias.shape != weight.shape[1:]:
        raise ValueError(f"linear_lif: input with {D_in} features does not fit weight {weight.shape} "
                         f"(expected ({D_in}, D_out)) and bias {bias.shape}")
    x = np.ascontiguousarray(x)
    nnz, idx = events_of_x if events_of_x is not None else events(x)
    spikes = np.empty((T, B, N, weight.shape[1]), np.uint8)
    h = _placeholder(spikes.shape, weight.dtype, record)
    ops = np.zeros(B * N, np.int64)
    _linear_lif(x, nnz, idx, weight, bias, *lif, spikes, h, record, ops)
    return spikes, (h if record else None), int(ops.sum())


def ssa_lif(q, k, v, num_heads, scale, kv_first, lif, record=False):
    """SN_V(Q K^T V * s) per head on binary Q, K, V (T, B, N, D) uint8, bit-packed (eq. 15).

    ``scale`` is a NumPy float scalar: its dtype is the dtype of H. Returns spikes (T, B, N, D),
    H (or None), accumulates and 64-bit word operations (AND + popcount).
    """
    for name, a in (("Q", q), ("K", k), ("V", v)):
        _check_counts(a, f"ssa_lif {name}", binary=True)
    if not q.shape == k.shape == v.shape or q.shape[3] % num_heads:
        raise ValueError(f"ssa_lif: Q, K, V must share a shape (T, B, N, D) with D divisible by {num_heads} "
                         f"heads, got {q.shape}, {k.shape}, {v.shape}")
    q, k, v = (np.ascontiguousarray(a) for a in (q, k, v))
    T, B, N, D = q.shape
    spikes = np.empty_like(q)
    h = _placeholder(q.shape, np.asarray(scale).dtype, record)
    word_ops = np.zeros(B * num_heads, np.int64)
    acc_ops = np.zeros(B * num_heads, np.int64)
    _ssa_lif(q, k, v, num_heads, scale, bool(kv_first), *lif, spikes, h, record, word_ops, acc_ops)
    return spikes, (h if record else None), int(acc_ops.sum()), int(word_ops.sum())


def max_pool3x3s2(s, H, W):
    """Max-pool 3x3, stride 2, padding 1 of binary spikes (T, B, H*W, C): returns (pooled, H', W')."""
    _check_counts(s, "max_pool3x3s2 input", binary=True)
    T, B, P, C = s.shape
    if P != H * W:
        raise ValueError(f"max_pool3x3s2: {P} pixels are not a {H}x{W} grid")
    Ho, Wo = (H - 1) // 2 + 1, (W - 1) // 2 + 1
    out = np.empty((T, B, Ho * Wo, C), np.uint8)
    _max_pool3x3s2(np.ascontiguousarray(s).reshape(T * B, P, C), H, W, out.reshape(T * B, Ho * Wo, C))
    return out, Ho, Wo
