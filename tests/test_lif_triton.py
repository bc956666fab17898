"""The Triton LIF backend against the torch reference, through Triton's CPU interpreter.

TRITON_INTERPRET=1 is set before triton is imported, so the kernels run on CPU tensors
(slowly: sizes stay small). Without triton installed the module is skipped.
"""

import os

os.environ["TRITON_INTERPRET"] = "1"  # must precede the first import of triton

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install 'spikformer-lite[gpu]')")

from spikformer_lite.neuron import LIF, lif, lif_torch  # noqa: E402


def _input(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * 1.5 + 0.8).to(dtype)  # plenty of spikes and of silence


def _run(x, backend, grad_out, **kw):
    x = x.detach().clone().requires_grad_()
    s, h = lif(x, backend=backend, return_h=True, **kw)
    (s.float() * grad_out).sum().backward()
    return s.detach(), h.detach(), x.grad


@pytest.mark.parametrize("T", [1, 2, 4, 16])
@pytest.mark.parametrize("n", [1, 7, 1000, 4097])
def test_float32_matches_torch(T, n):
    x = _input((T, n), seed=T * 10000 + n)
    g = _input((T, n), seed=1)
    s, h, gx = _run(x, "triton", g)
    s_ref, h_ref, gx_ref = _run(x, "torch", g)
    assert s.dtype == torch.float32 and torch.equal(s, s_ref)  # bit-equal spikes
    torch.testing.assert_close(h, h_ref, rtol=0, atol=0)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    assert 0 < s.sum() < s.numel() or n < 8


@pytest.mark.parametrize("params", [dict(tau=3.0, v_threshold=0.7, v_reset=-0.2, alpha=2.0),
                                    dict(tau=2.0, detach_reset=False),
                                    dict(tau=1.7, v_threshold=0.5, v_reset=0.1, detach_reset=False)])
def test_other_parameters_match_torch(params):
    x, g = _input((4, 3, 33), seed=3), _input((4, 3, 33), seed=4)
    s, h, gx = _run(x, "triton", g, **params)
    s_ref, h_ref, gx_ref = _run(x, "torch", g, **params)
    assert torch.equal(s, s_ref)  # tau = 3 and 1.7 go through the IEEE division, not 1/tau
    torch.testing.assert_close(h, h_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)


def test_non_contiguous_input():
    base = _input((8, 4, 5, 3), seed=5)
    x = base.transpose(1, 3)  # (8, 3, 5, 4), a transposed view
    assert not x.is_contiguous()
    g = _input(x.shape, seed=6)
    s, h, gx = _run(x, "triton", g)
    s_ref, h_ref, gx_ref = _run(x, "torch", g)
    assert s.shape == x.shape and torch.equal(s, s_ref)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=0)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_input_keeps_a_float32_membrane(dtype):
    """Compared with the torch backend in float32 on the same rounded input: spikes equal;
    H (float32) equal; dL/dX, rounded to the input's dtype, within one rounding of it
    (float16 2^-10, bfloat16 2^-7 relative; atol for values near zero)."""
    x = _input((4, 2, 500), seed=7, dtype=dtype)
    g = _input((4, 2, 500), seed=8, dtype=dtype).float()
    s, h, gx = _run(x, "triton", g)
    s_ref, h_ref, gx_ref = _run(x.float(), "torch", g)
    assert s.dtype == dtype and gx.dtype == dtype and h.dtype == torch.float32
    assert torch.equal(s.float(), s_ref)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=0)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(gx.float(), gx_ref, rtol=eps, atol=eps * 1e-2)


def test_layer_without_return_h_and_in_inference():
    x = _input((4, 2, 100), seed=9)
    layer = LIF(backend="triton")
    assert torch.equal(layer(x), lif_torch(x)[0])
    with torch.no_grad():
        assert torch.equal(layer(x.requires_grad_()), lif_torch(x.detach())[0])


def test_registered_as_torch_library_ops():
    from torch.library import opcheck

    from spikformer_lite.kernels.lif_triton import lif_fwd

    x = _input((2, 40), seed=10).requires_grad_()
    opcheck(lif_fwd, (x, 2.0, 1.0, 0.0, 4.0, True, True),
            test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))
    assert hasattr(torch.ops.spikformer_lite, "lif_triton_bwd")


def test_rejects_float64_and_cpu_without_interpreter(monkeypatch):
    with pytest.raises(ValueError, match="float32, float16 or bfloat16"):
        lif(torch.zeros(2, 3, dtype=torch.float64), backend="triton")
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(ValueError, match="runs on CUDA tensors"):
        lif(torch.zeros(2, 3), backend="triton")
