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


# ------------------------------------------------- the default backend ("auto")

class _OnCuda:
    """A stand-in input that says it lives on CUDA (no GPU here): resolve_backend reads only .device."""
    device = torch.device("cuda")


def test_auto_picks_triton_on_cuda_when_available(monkeypatch):
    from spikformer_lite import neuron

    monkeypatch.setattr(neuron, "triton_available", lambda: True)
    assert neuron.resolve_backend(_OnCuda()) == "triton"
    assert neuron.resolve_backend(torch.zeros(2, 3)) == "torch"  # the CPU default is unchanged


def test_auto_falls_back_to_torch_on_cuda_with_one_warning(monkeypatch):
    import warnings

    from spikformer_lite import neuron

    monkeypatch.setattr(neuron, "triton_available", lambda: False)
    monkeypatch.setattr(neuron, "_warned_no_triton", False)
    with pytest.warns(RuntimeWarning, match="triton is not available.*torch backend"):
        assert neuron.resolve_backend(_OnCuda()) == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call stays silent
        assert neuron.resolve_backend(_OnCuda()) == "torch"


def test_layers_and_model_default_to_auto_which_runs_torch_on_cpu(monkeypatch):
    import spikformer_lite as sl
    from spikformer_lite import neuron

    calls = []
    real = neuron.lif_torch
    monkeypatch.setattr(neuron, "lif_torch", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = _input((2, 50), seed=11)
    assert LIF().backend == "auto" and sl.get_config("cifar10-4-256").backend == "auto"
    assert torch.equal(LIF()(x), real(x)[0]) and calls  # the torch backend ran
    model = sl.create_model("cifar10-4-256")
    assert all(m.backend == "auto" for m in model.modules() if isinstance(m, LIF))


def test_auto_runs_the_backend_it_resolves(monkeypatch):
    from spikformer_lite import neuron

    monkeypatch.setattr(neuron, "resolve_backend", lambda x: "triton")  # as on CUDA with triton
    monkeypatch.setattr(neuron, "lif_torch", None)  # the torch backend must not run
    x = _input((4, 30), seed=12)
    s = LIF()(x)
    monkeypatch.undo()
    assert torch.equal(s, lif_torch(x)[0])


def test_torch_compile_traces_through_without_graph_breaks():
    """Dynamo captures the op in one graph (fullgraph=True) and autograd runs through it. The
    "eager" compile backend only: deeper backends (aot_eager, inductor) trace a triton_op's
    body on fake tensors, which Triton's interpreter cannot run (it reads data pointers), so
    that path is checked only on a GPU."""
    x = _input((4, 300), seed=13).requires_grad_()
    f = torch.compile(lambda x: lif(x, backend="triton").sum(0), fullgraph=True, backend="eager")
    y = f(x)
    y.sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    y_ref = lif_torch(x_ref)[0].sum(0)
    y_ref.sum().backward()
    assert torch.equal(y, y_ref)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
