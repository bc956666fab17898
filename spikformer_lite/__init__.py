"""spikformer_lite: the Spikformer spiking transformer, built step by step.

Companion package of the book "Spikformer, step by step". The book's
notebooks import everything from here; they define no model code of their own.
"""

from .neuron import LIF, lif
from .surrogate import sigmoid_surrogate_grad, spike_fn

__version__ = "0.1.0"

__all__ = ["LIF", "lif", "spike_fn", "sigmoid_surrogate_grad", "__version__"]
