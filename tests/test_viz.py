"""The figures the book shows are computed by tested functions."""

import numpy as np
import plotly.io as pio
import pytest
import torch

import spikformer_lite as sl
from spikformer_lite import viz


def test_lif_response_matches_lif():
    r = viz.lif_response(1.3, T=25, tau=3.0, v_threshold=0.8)
    s, h = sl.lif(torch.full((25, 1), 1.3), tau=3.0, v_threshold=0.8, return_h=True)
    assert np.array_equal(r.s, s.flatten().numpy()) and np.array_equal(r.h, h.flatten().numpy())
    assert r.s.sum() > 0 and r.x.shape == (25,)


def test_lif_response_takes_a_time_varying_current():
    current = np.r_[np.zeros(5), np.full(5, 3.0)]
    r = viz.lif_response(current, T=10)
    assert r.s[:5].sum() == 0 and r.s[5:].sum() > 0
    with pytest.raises(ValueError):
        viz.lif_response(np.ones(7), T=10)  # length must match T


def test_lif_figure_traces():
    r = viz.lif_response(1.5, T=20)
    fig = viz.lif_figure(r)
    names = [t.name for t in fig.data]
    assert names[:3] == ["input X[t]", "membrane H[t]", "spike: H[t] ≥ V_th"]
    assert len(fig.data[2].x) == int(r.s.sum())  # one marker per spike
    assert np.array_equal(fig.data[3].y, r.s)


def test_slider_figure_frames_are_simulations():
    currents = [0.5, 1.0, 2.0]
    taus = (1.5, 3.0)
    fig = viz.lif_slider_figure(currents=currents, taus=taus, T=15)
    assert [f.name for f in fig.frames] == ["0.5", "1", "2"]
    assert len(fig.layout.sliders[0].steps) == 3
    for frame, c in zip(fig.frames, currents):
        assert len(frame.data) == len(fig.data) == 3 * len(taus)
        for col, tau in enumerate(taus):
            r = viz.lif_response(c, T=15, tau=tau)
            assert np.array_equal(frame.data[3 * col].y, r.h)
            assert np.array_equal(frame.data[3 * col + 2].y, r.s)


def test_surrogate_figure_gradient_peaks_at_threshold():
    fig = viz.surrogate_figure(alpha=4.0)
    grad = fig.data[3]
    assert np.isclose(np.max(grad.y), 1.0) and np.isclose(grad.x[np.argmax(grad.y)], 0.0)


def test_book_renderer_gives_html_without_plotly_js():
    viz.setup_plotly()
    bundle = pio.renderers._build_mime_bundle(viz.lif_figure(viz.lif_response(1.2, T=5)).to_dict())
    assert "application/vnd.plotly.v1+json" in bundle  # live Jupyter draws this
    html = bundle["text/html"]  # the built book shows this
    assert "Plotly.newPlot" in html and len(html) < 100_000  # the 4 MB library is not embedded
    assert "mathjax" not in html.lower()  # the book has its own MathJax
    slider_html = pio.renderers._build_mime_bundle(viz.lif_slider_figure(currents=[1, 2], T=5).to_dict())["text/html"]
    assert "Plotly.animate" not in slider_html  # a slider figure waits for the reader; it does not auto-play
