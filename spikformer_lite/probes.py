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
