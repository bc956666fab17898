"""Plotly figures for the book: pure functions from arrays to figures, one module per topic.

Widgets in the notebooks are thin shells whose callbacks call one function
here, so that everything a reader sees is also tested in ``tests/test_viz.py``.
Everything is importable from ``spikformer_lite.viz`` itself.
"""

from ._base import (  # noqa: F401
    SPIKE_COLOR, MEMBRANE_COLOR, INPUT_COLOR, setup_plotly, image_figure, bar_figure, heatmaps_figure,
    markdown_table,
)
from .neuron import (  # noqa: F401
    LIFResponse, lif_response, lif_figure, lif_slider_figure, surrogate_figure, bptt_edges, bptt_figure,
    membrane_traces_figure,
)
from .model import (  # noqa: F401
    spike_maps_figure, spike_map_figure, stage_slider_figure, attention_slider_figure, ARCHITECTURE_MODULES,
    architecture_figure, attention_ops, ops_figure, attention_overlay_figure, attention_overlay_slider_figure,
)
from .events import (  # noqa: F401
    events_3d_figure, frames_figure, frames_slider_figure, emulator_slider_figure, event_frames_grid_figure,
)
from .training import (  # noqa: F401
    lr_schedule_figure, training_curves_figure, confusion_matrix, confusion_figure,
)
from .engine import (  # noqa: F401
    short_layer_name, layer_activity, layer_activity_figure, layer_activity_slider_figure, and_popcount_figure,
    rate_sweep_figure,
)
from .energy import (  # noqa: F401
    energy_curves, energy_figure, energy_slider_figure, attention_order_figure,
)
