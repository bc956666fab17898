"""The LIF neuron (paper eq. 1-3, surrogate eq. 20): backends, SpikingJelly, golden values, errors."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import spikformer_lite as sl
from conftest import assert_grad_close

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")

SHAPES = [(4, 3, 5), (1, 7), (2, 1), (8, 2, 3, 5, 7), (4, 3, 5471)]  # odd sizes, T=1, > one kernel block (16384 for T=4)
PARAMS = [dict(tau=2.0, detach_reset=True), dict(tau=3.0, detach_reset=True), dict(tau=1.7, detach_reset=False)]


def make_input(shape, non_contiguous=False, tau=2.0):
    """Currents around the firing level (H = X / tau at t=0): plenty of spikes and silences."""
    if non_contiguous:  # build a larger tensor and take a strided view with the wanted shape
        x = torch.randn(*shape[:-1], 2 * shape[-1])[..., ::2]
        assert not x.is_contiguous()
    else:
        x = torch.randn(shape)
    x = (x * 0.75 + 0.6) * tau
    return x.requires_grad_()


def run(fn, x, grad_out):
    x.grad = None
    s = fn(x)
    s.backward(grad_out)
    return s.detach(), x.grad.clone()


def spikingjelly_lif(tau, detach_reset):
    node = sj_neuron.LIFNode(tau=tau, detach_reset=detach_reset, step_mode="m")
    return lambda x: node(x)  # a new node per call: starts at v_reset like ours


@pytest.mark.numba
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("non_contiguous", [False, True])
@pytest.mark.parametrize("params", PARAMS)
def test_backends_and_spikingjelly_agree(shape, non_contiguous, params):
    x = make_input(shape, non_contiguous, params["tau"])
    g = torch.randn(shape)
    s_torch, g_torch = run(lambda x: sl.lif(x, backend="torch", **params), x, g)
    s_numba, g_numba = run(lambda x: sl.lif(x, backend="numba", **params), x, g)
    s_sj, g_sj = run(lambda x: spikingjelly_lif(**params)(x), x, g)

    assert s_torch.shape == shape and set(s_torch.unique().tolist()) <= {0.0, 1.0}
    assert 0 < s_torch.sum() < s_torch.numel() or s_torch.numel() < 4  # both cases exercised
    assert torch.equal(s_numba, s_torch)
    assert torch.equal(s_sj, s_torch)
    assert_grad_close(g_numba, g_torch)
    assert_grad_close(g_sj, g_torch)


@pytest.mark.numba
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_float64(backend):
    x = make_input((5, 3, 4)).detach().double().requires_grad_()
    g = torch.randn(5, 3, 4, dtype=torch.float64)
    s, gx = run(lambda x: sl.lif(x, tau=3.0, backend=backend), x, g)
    s_ref, g_ref = run(lambda x: sl.lif(x, tau=3.0, backend="torch"), x, g)
    assert s.dtype == torch.float64 and torch.equal(s, s_ref)
    assert_grad_close(gx, g_ref, rtol=1e-12)


@pytest.mark.numba
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_golden_trajectory(backend):
    # tau=2, V_th=1, V_reset=0, worked by hand from eq. 1-3:
    #   t0: H = 0 + (2.0 - 0)/2    = 1.0   >= 1 -> spike (Θ(0) = 1), V = 0
    #   t1: H = 0 + (2.0 - 0)/2    = 1.0   -> spike, V = 0
    #   t2: H = 0 + (0.5 - 0)/2    = 0.25  -> no spike, V = 0.25
    #   t3: H = 0.25 + (3 - 0.25)/2 = 1.625 -> spike, V = 0
    #   t4: H = 0 + (-1 - 0)/2     = -0.5  -> no spike
    x = torch.tensor([2.0, 2.0, 0.5, 3.0, -1.0]).reshape(5, 1)
    s, h = sl.lif(x, backend=backend, return_h=True)
    assert s.flatten().tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert h.flatten().tolist() == [1.0, 1.0, 0.25, 1.625, -0.5]


@pytest.mark.numba
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_golden_gradient(backend):
    # x = [2.0, 0.5], L = S[0] + S[1], detach_reset=True. By hand:
    #   H = [1.0, 0.25], S = [1, 0].
    #   dL/dH[1] = sg(0.25 - 1)              with sg(u) = 4 sigmoid(4u)(1 - sigmoid(4u))
    #   dL/dV[0] = dL/dH[1] (1 - 1/tau); dL/dH[0] = sg(0) + dL/dV[0] (1 - S[0]) = sg(0) = 1
    #   dL/dX = dL/dH / tau = [0.5, sg(-0.75) / 2]
    sig = 1 / (1 + math.exp(3.0))
    expected = torch.tensor([0.5, 4 * sig * (1 - sig) / 2]).reshape(2, 1)
    x = torch.tensor([2.0, 0.5]).reshape(2, 1).requires_grad_()
    sl.lif(x, backend=backend).sum().backward()
    torch.testing.assert_close(x.grad, expected, rtol=1e-6, atol=0)


def test_surrogate_backward_is_sigmoid_derivative():
    x = torch.linspace(-3, 3, 1001, dtype=torch.float64).requires_grad_()
    sl.spike_fn(x, 4.0).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    torch.sigmoid(4.0 * x).sum().backward()
    torch.testing.assert_close(ours, x.grad, rtol=1e-12, atol=0)
    assert sl.spike_fn(torch.tensor([-1e-7, 0.0, 1e-7]), 4.0).tolist() == [0.0, 1.0, 1.0]  # Θ(0) = 1


@pytest.mark.numba
# float32: the kernel is off by 1.7e-7 of the peak; torch's own float32 formula by 3.6e-7.
@pytest.mark.parametrize("dtype, tol", [(np.float32, 3e-7), (np.float64, 1e-14)])
def test_numba_surrogate_kernel_matches_float64(dtype, tol):
    from spikformer_lite.kernels.lif import sigmoid_grad

    h = np.linspace(-40, 40, 20001).astype(dtype)
    out = np.empty_like(h)
    sigmoid_grad(h, dtype(1.0), dtype(4.0), out, np.empty(h.size, np.int32))
    ref = sl.sigmoid_surrogate_grad(torch.from_numpy(h).double() - 1.0, 4.0).numpy()
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol * ref.max())
    assert np.all(np.isfinite(out)) and np.all(out > 0)


@pytest.mark.numba
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_stateless_and_membrane_trace(backend):
    layer = sl.LIF(backend=backend)
    x = make_input((6, 4, 3)).detach()
    s1, h1 = layer(x, return_h=True)
    s2, h2 = layer(x, return_h=True)
    assert torch.equal(s1, s2) and torch.equal(h1, h2)  # no state carried between calls
    s_ref, h_ref = sl.LIF(backend="torch")(x, return_h=True)
    assert torch.equal(h1, h_ref)
    assert torch.equal(s1, (h1 >= 1.0).float())


@pytest.mark.numba
def test_numba_gradient_with_membrane_trace():
    # Asking for H changes the autograd outputs of the numba path (spikes and H
    # instead of spikes alone); the spikes' gradient must not change, and H has none.
    x = make_input((5, 3, 7))
    g = torch.randn(x.shape)
    s, h = sl.lif(x, backend="numba", return_h=True)
    assert not h.requires_grad
    (gx,) = torch.autograd.grad(s, x, g)
    (g_ref,) = torch.autograd.grad(sl.lif(x, backend="torch"), x, g)
    assert_grad_close(gx, g_ref, rtol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "numba"])
@pytest.mark.parametrize(
    "x, match",
    [
        (torch.randn(7), "leading time dimension T"),
        (torch.tensor(1.0), "leading time dimension T"),
        (torch.ones(4, 3, dtype=torch.int64), "floating-point"),
        (torch.ones(4, 3, dtype=torch.bool), "floating-point"),
        (torch.empty(4, 0), "non-empty"),
        (torch.empty(0, 3), "non-empty"),
    ],
)
def test_bad_input_is_rejected(backend, x, match):
    with pytest.raises(ValueError, match=match) as err:
        sl.LIF(backend=backend)(x)
    assert "(T, ...)" in str(err.value)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="backend must be one of"):
        sl.LIF(backend="cuda")
    with pytest.raises(ValueError, match="tau must be > 1"):
        sl.LIF(tau=1.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        sl.LIF()(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="float32 or float64"):
        sl.LIF(backend="numba")(torch.ones(4, 3, dtype=torch.float16))
    with pytest.raises(ValueError, match="runs on CPU tensors"):  # any non-CPU device, CUDA included
        sl.LIF(backend="numba")(torch.ones(4, 3, device="meta"))


def _has_compiler():
    import shutil

    return shutil.which("g++") is not None or shutil.which("c++") is not None


@pytest.mark.skipif(not _has_compiler(), reason="torch.compile on CPU needs a C++ compiler")
def test_fused_backend_equals_the_reference_forward_and_backward():
    """backend="fused" compiles the reference: the same spikes and H, and gradients to float rounding."""
    x = make_input((4, 6, 37))
    g = torch.randn(4, 6, 37)
    (s_ref, h_ref) = sl.lif(x, backend="torch", return_h=True)
    (s_ref * g).sum().backward()
    grad_ref, x.grad = x.grad.clone(), None
    s, h = sl.lif(x, backend="fused", return_h=True)
    (s * g).sum().backward()
    assert torch.equal(s, s_ref) and s.dtype == x.dtype
    torch.testing.assert_close(h, h_ref, rtol=1e-6, atol=1e-6)
    assert_grad_close(x.grad, grad_ref, rtol=1e-5)
    xb = x.detach().bfloat16()  # bf16 input: a float32 membrane inside, bf16 spikes out
    s_b = sl.LIF(backend="fused")(xb)
    assert s_b.dtype == torch.bfloat16 and torch.equal(s_b.float(), sl.LIF()(xb.float()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fused_backend_equals_the_reference():
    x = make_input((4, 64, 1000)).detach().cuda().requires_grad_()
    g = torch.randn_like(x)
    s_ref = sl.LIF()(x)
    (s_ref * g).sum().backward()
    grad_ref, x.grad = x.grad.clone(), None
    s = sl.LIF(backend="fused")(x)
    (s * g).sum().backward()
    assert torch.equal(s, s_ref)
    assert_grad_close(x.grad, grad_ref, rtol=1e-5)
    assert torch.equal(s.cpu(), sl.LIF(backend="numba")(x.detach().cpu()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_torch_backend_matches_cpu():
    x = make_input((4, 8, 16)).detach()
    s_cpu = sl.LIF()(x)
    s_gpu = sl.LIF()(x.cuda())
    assert torch.equal(s_gpu.cpu(), s_cpu)
    with pytest.raises(ValueError, match="runs on CPU tensors"):
        sl.LIF(backend="numba")(x.cuda())


def test_numba_tests_pass_without_jit():
    """Run every numba-marked test again with NUMBA_DISABLE_JIT=1 (kernels as plain Python)."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("already running without JIT")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "numba", "-p", "no:cacheprovider", __file__],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_kernel_block_size():
    from spikformer_lite.kernels.lif import block_size

    assert block_size(4) == 16384 and block_size(16) == 4096 and block_size(10_000) == 1024
    assert all(block_size(T) & (block_size(T) - 1) == 0 for T in range(1, 100))  # powers of two


def test_numba_backend_under_cpu_autocast_computes_in_float32():
    x = make_input((4, 8, 16)).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = sl.LIF(backend="numba")(x.bfloat16())
    assert s.dtype == torch.float32
    assert torch.equal(s, sl.LIF()(x.bfloat16().float()))
