"""The live widgets redraw their figure from the tested figure functions."""

import ipywidgets as widgets
import numpy as np
import pytest

from spikformer_lite import viz
from spikformer_lite.widgets import live


def test_live_redraws_when_a_control_moves():
    box = live(lambda tau, current: viz.lif_figure(viz.lif_response(current, T=30, tau=tau)),
               tau=widgets.FloatSlider(value=2.0, min=1.1, max=8.0),
               current=widgets.FloatSlider(value=1.2, min=0.0, max=3.0))
    fig = box.figure
    assert np.array_equal(fig.data[1].y, viz.lif_response(1.2, T=30).h)
    box.children[0].children[1].value = 2.5
    assert np.array_equal(fig.data[1].y, viz.lif_response(2.5, T=30).h)
    box.children[0].children[0].value = 4.0
    expected = viz.lif_response(2.5, T=30, tau=4.0)
    assert np.array_equal(fig.data[1].y, expected.h)
    assert len(fig.data[2].x) == int(expected.s.sum())  # spike markers follow the new spike count
    assert "τ=4" in fig.layout.title.text


def test_live_needs_controls():
    with pytest.raises(ValueError, match="at least one control"):
        live(lambda: None)


def test_live_display_carries_a_note_for_static_pages():
    box = live(lambda tau: viz.lif_figure(viz.lif_response(1.5, T=10, tau=tau)),
               tau=widgets.FloatSlider(value=2.0, min=1.1, max=8.0))
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # Jupyter and Colab still get the widget
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    assert "needs a running kernel" in bundle["text/html"]
