"""Input checks shared by every public entry point.

Silent shape bugs are the worst kind in SNN code: a ``(T*B, ...)`` tensor fed
where ``(T, B, ...)`` was meant runs without complaint and gives wrong
results. Every public function checks what it is given and says what it
expected.
"""

import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_time_major(x, name="x", expected="(T, ...)"):
    """Check that ``x`` is a non-empty float tensor with a leading time axis.

    A time-major tensor needs at least two dimensions: ``T`` and at least one
    neuron dimension. ``expected`` is the shape spelled out in the error.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(
            f"{name} must have shape {expected}: a leading time dimension T followed by at least "
            f"one neuron dimension, got shape {tuple(x.shape)}. For a single neuron use shape (T, 1)."
        )
    if x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be a floating-point tensor of shape {expected}, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must be non-empty with shape {expected}, got shape {tuple(x.shape)}")
    return x
