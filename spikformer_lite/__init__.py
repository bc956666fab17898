"""spikformer_lite: the Spikformer spiking transformer, built step by step.

Companion package of the book "Spikformer, step by step". The book's
notebooks import everything from here; they define no model code of their own.
"""

from . import gpu
from .config import PRESETS, SpikformerConfig, get_config, list_models
from .model import SPS, SSA, Block, Spikformer, count_parameters, create_model, preset_table, spiking_attention
from .neuron import LIF, lif
from .probes import attention_on_tokens, calibrate_batchnorm, firing_rates, record_spikes, trace_shapes
from .surrogate import sigmoid_surrogate_grad, spike_fn

__version__ = "0.1.0"

__all__ = [
    "gpu", "LIF", "lif", "spike_fn", "sigmoid_surrogate_grad",
    "SpikformerConfig", "PRESETS", "get_config", "list_models",
    "SPS", "SSA", "Block", "Spikformer", "create_model", "count_parameters", "preset_table", "spiking_attention",
    "record_spikes", "trace_shapes", "calibrate_batchnorm", "firing_rates", "attention_on_tokens", "__version__",
]
