"""spikformer_lite.gpu: device and precision choices (the CUDA parts run where there is a GPU)."""

import os

import pytest
import torch

import spikformer_lite as sl
from spikformer_lite import gpu, train


def test_cpu_choices_leave_the_cpu_path_alone():
    assert gpu.default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert gpu.amp_dtype("cpu") is None and gpu.lif_backend("cpu") == "numba" and gpu.lif_backend("cuda") == "auto"
    with gpu.autocast("cpu", None):
        assert not torch.is_autocast_enabled("cpu")
    recipe = train.get_recipe("cifar10", "paper")
    assert recipe.amp
    with train.autocast(torch.device("cpu"), recipe):  # the recipe's AMP is for CUDA only
        assert not torch.is_autocast_enabled("cpu")
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2)
    opt = train.make_optimizer(model, recipe)
    assert not opt.defaults.get("fused")  # the CPU keeps torch's default AdamW


def test_deterministic_settings(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              torch.backends.cudnn.deterministic, torch.backends.cuda.matmul.allow_tf32)
    try:
        got = gpu.setup_cuda(deterministic=True)
        assert got["deterministic"] and not got["cudnn_benchmark"] and got["tf32"]
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and not torch.backends.cudnn.benchmark
        got = gpu.setup_cuda(deterministic=False)
        assert got["cudnn_benchmark"] and torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[1], before[2]
        torch.backends.cuda.matmul.allow_tf32 = before[3]


def test_cli_refuses_gpu_flags_on_the_cpu(tmp_path):
    for flags, message in ((["--amp-dtype", "bf16"], "--amp-dtype is for CUDA"),
                           (["--backend", "triton"], "--backend triton runs on CUDA only")):
        with pytest.raises(SystemExit, match=message):
            train.run(["--preset", "cifar10-4-384", "--device", "cpu", "--out", str(tmp_path / "x"), *flags])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_amp_is_bf16_where_supported_and_adamw_is_fused():
    assert gpu.amp_dtype("cuda") == (torch.bfloat16 if gpu.bf16_supported() else torch.float16)
    model = sl.create_model("cifar10-4-384", depth=1, embed_dim=32, num_heads=2).cuda()
    assert train.make_optimizer(model, train.get_recipe("cifar10", "paper")).defaults["fused"]
    x = model.encode(torch.rand(2, 3, 32, 32, device="cuda"))
    model(x)
    with pytest.raises(ValueError, match="non-finite"):
        model(x.clone().fill_(float("nan")))
        model.check_deferred_input()
