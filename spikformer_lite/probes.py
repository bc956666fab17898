"""Look inside a running model without global state: forward hooks, scoped to a ``with`` block.

    with record_spikes(model, membrane=True) as rec:
        model(x)
    rec.spikes["blocks.0.attn.q.lif"]   # (T, B, N, D) spikes of the Q neurons
    rec.membrane["sps.stages.0.lif"]    # (T, B, C, H, W) membrane potential H[t]

The LIF layers keep no state, so the membrane potential is recomputed exactly
from the layer's input inside the hook rather than stored by the layer.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .neuron import LIF, lif


@dataclass
class Recording:
    spikes: dict = field(default_factory=dict)  # LIF layer name -> output spikes
    membrane: dict = field(default_factory=dict)  # LIF layer name -> H[t], when asked for


@contextmanager
def record_spikes(model, membrane=False):
    """Record the output (and optionally H[t]) of every LIF layer in ``model`` during the block.

    A layer called several times keeps its last call. Tensors are detached.
    """
    rec = Recording()

    def hook(name):
        def store(module, inputs, output):
            rec.spikes[name] = output.detach()
            if membrane:
                x = inputs[0].detach()
                rec.membrane[name] = lif(x, module.tau, module.v_threshold, module.v_reset,
                                         module.detach_reset, module.alpha, module.backend, return_h=True)[1]
        return store

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if isinstance(m, LIF)]
    try:
        yield rec
    finally:
        for handle in handles:
            handle.remove()


def trace_shapes(model, x, names):
    """Run ``model(x)`` and return, for each submodule in ``names``, its input and output shapes.

    Returns a list of ``(name, input_shape, output_shape)`` in call order.
    """
    rows = []

    def hook(name):
        def store(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            rows.append((name, tuple(inputs[0].shape), tuple(out.shape)))
        return store

    handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in names]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return rows


@torch.no_grad()
def calibrate_batchnorm(model, x):
    """Set every BatchNorm's running statistics to those of one forward pass over ``x``.

    An untrained model's BatchNorm layers have running mean 0 and variance 1, so in eval
    mode they pass their input through unchanged; after this, eval mode normalises as
    training mode would on ``x``. Useful to look at the spikes of an untrained network.
    Works on any module (SpikingJelly's models too). Returns the model, in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one pass, exactly the batch statistics
    model.train()
    model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def firing_rates(recording):
    """Mean firing rate (spikes per neuron per time step) of every recorded LIF layer, in call order."""
    return {name: float(s.float().mean()) for name, s in recording.spikes.items()}


def attention_on_tokens(attn):
    """How much attention each key token receives, as the token grid: (T, B, Hd, N, N) -> (T, B, Hd, g, g).

    The sum over queries of Q K^T: a token that many queries attend to is bright; a token whose key
    never fires is 0 (black in Fig. 3).
    """
    T, B, Hd, N, _ = attn.shape
    g = int(round(N**0.5))
    if g * g != N:
        raise ValueError(f"attention over {N} tokens is not a square grid")
    return attn.sum(3).reshape(T, B, Hd, g, g)
