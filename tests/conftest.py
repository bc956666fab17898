import logging

import pytest
import torch

# torch logs "Triton not available" once on import of some submodules; it is noise here.
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def assert_grad_close(actual, expected, rtol=1e-6):
    """Gradients agree to ``rtol`` relative to the tensor's scale.

    Per-element relative error is ill-posed for gradients: where two terms of
    BPTT nearly cancel, a 1-ulp difference in the surrogate becomes a large
    relative error of a near-zero element. So the tolerance is taken relative
    to the largest magnitude in the expected tensor.
    """
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30))
