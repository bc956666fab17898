"""The GPU side of the package: which device to use, and the CUDA settings that make a step fast.

    default_device()            -> cuda when torch sees a GPU, else cpu (chapters and the CLI use it)
    setup_cuda(deterministic)   -> TF32 matmuls and convolutions, cuDNN's autotuner, or determinism
    amp_dtype(device)           -> bfloat16 where the GPU has it, float16 where not (a T4), None on CPU
    autocast(device, dtype)     -> torch.autocast for that dtype, or a no-op

Nothing here changes the CPU path: on a CPU every function is a no-op or returns "cpu".
"""

import contextlib
import os

import torch


def default_device():
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup_cuda(deterministic=False):
    """CUDA settings for training and benchmarks. Returns a dict saying what was set.

    - TF32 for float32 matmuls (torch's default is strict float32; cuDNN convolutions already use
      TF32 by default, and SpikingJelly's 1x1 Conv1d linears run on it).
    - ``deterministic=False``: ``cudnn.benchmark`` picks the fastest convolution algorithms.
    - ``deterministic=True``: ``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN's
      deterministic algorithms and no autotuner, and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS reads it
      when it starts, so call this before the first matmul on the GPU). Two runs from the same checkpoint
      then give the same weights where torch can guarantee it; an operation without a deterministic
      implementation warns, naming itself, rather than stopping a long run.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return dict(tf32=True, cudnn_benchmark=not deterministic, deterministic=bool(deterministic),
                cublas_workspace=os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def bf16_supported(device=None):
    """Whether the CUDA device computes in bfloat16 natively (compute capability 8.0 or newer: A100,
    H100, H200; not a T4 or V100)."""
    if not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def amp_dtype(device):
    """The autocast dtype for ``device``: bfloat16 on a GPU that has it, float16 on one that does not
    (float16 then needs a GradScaler), None on a CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if bf16_supported(device) else torch.float16


def autocast(device, dtype):
    """``torch.autocast(device.type, dtype)``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def gpu_description():
    """One line: GPU name, memory, compute capability, driver, CUDA, torch and triton versions."""
    try:
        import triton

        triton_v = triton.__version__
    except ImportError:
        triton_v = "not installed"
    if not torch.cuda.is_available():
        return f"no CUDA device; torch {torch.__version__}, triton {triton_v}"
    props = torch.cuda.get_device_properties(0)
    driver = "unknown"
    try:
        import subprocess

        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        pass
    return (f"{props.name}, {props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor}, driver {driver}, "
            f"CUDA {torch.version.cuda}, torch {torch.__version__}, triton {triton_v}")


def lif_backend(device):
    """The LIF backend for a model on ``device``: the Numba kernels on a CPU, "auto" (the Triton kernels
    when triton imports, else torch) on a GPU."""
    return "numba" if torch.device(device).type == "cpu" else "auto"
