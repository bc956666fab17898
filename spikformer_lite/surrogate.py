"""Surrogate gradients: a Heaviside forward paired with a smooth backward.

The spike function S = Θ(H - V_th) (paper eq. 2) has zero derivative almost
everywhere, so gradient descent cannot learn through it. A surrogate keeps the
exact Heaviside in the forward pass and uses the derivative of a smooth
stand-in in the backward pass. Spikformer uses the sigmoid (paper eq. 20):

    sigmoid(x) = 1 / (1 + exp(-alpha * x)),  alpha = 4

whose derivative is alpha * sigmoid(x) * (1 - sigmoid(x)).
"""

import torch


def sigmoid_surrogate_grad(x, alpha=4.0):
    """d/dx sigmoid(alpha * x) = alpha * s * (1 - s), with s = sigmoid(alpha * x)."""
    s = torch.sigmoid(alpha * x)
    return (1 - s) * s * alpha


class SigmoidHeaviside(torch.autograd.Function):
    """Forward: Θ(x) = 1 if x >= 0 else 0. Backward: the sigmoid surrogate (eq. 20)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * sigmoid_surrogate_grad(x, ctx.alpha), None


def spike_fn(x, alpha=4.0):
    """Heaviside step with the sigmoid surrogate gradient (paper eq. 2 and 20)."""
    return SigmoidHeaviside.apply(x, alpha)
