"""Plotly figures for the book: pure functions from arrays to figures.

Widgets in the notebooks are thin shells whose callbacks call one function
here, so that everything a reader sees is also tested in ``tests/test_viz.py``.
"""

import sys
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

from .neuron import lif
from .surrogate import sigmoid_surrogate_grad

SPIKE_COLOR = "#d62728"
MEMBRANE_COLOR = "#1f77b4"
INPUT_COLOR = "#7f7f7f"


def setup_plotly():
    """Choose a plotly renderer that works both live and in the built book.

    Live Jupyter (JupyterLab, Notebook 7, VS Code) draws plotly's own mimetype.
    The built book cannot: Jupyter Book ignores that mimetype, so each figure
    also carries an HTML rendering that expects ``window.Plotly`` to be loaded
    once per page (the book ships plotly.min.js itself). Colab gets its own
    renderer.
    """
    if "google.colab" in sys.modules:
        pio.renderers.default = "colab"
        return
    if "spikformer_book" not in pio.renderers:
        pio.renderers["spikformer_book"] = _BookRenderer()
    pio.renderers.default = "plotly_mimetype+spikformer_book"


class _BookRenderer(pio.base_renderers.MimetypeRenderer):
    """HTML that draws the figure with an already loaded ``window.Plotly``.

    Neither plotly.js (4 MB) nor MathJax is embedded: the book loads plotly.js
    once per page and has its own MathJax; figure labels use plain Unicode.
    """

    def to_mimebundle(self, fig_dict):
        height = fig_dict.get("layout", {}).get("height", 450)
        html = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False, auto_play=False,
                           default_width="100%", default_height=height, validate=False)
        return {"text/html": html}


@dataclass(frozen=True)
class LIFResponse:
    """One neuron driven by an input current: time, input X[t], potential H[t], spikes S[t]."""

    t: np.ndarray
    x: np.ndarray
    h: np.ndarray
    s: np.ndarray
    tau: float
    v_threshold: float
    v_reset: float


def lif_response(current, T=50, tau=2.0, v_threshold=1.0, v_reset=0.0, backend="torch"):
    """Simulate one LIF neuron (eq. 1-3) for ``T`` steps.

    ``current`` is a number (a constant input) or an array of length ``T``.
    """
    x = np.broadcast_to(np.asarray(current, dtype=np.float32), (T,)).copy()
    s, h = lif(torch.from_numpy(x).reshape(T, 1), tau=tau, v_threshold=v_threshold, v_reset=v_reset,
               backend=backend, return_h=True)
    return LIFResponse(np.arange(T), x, h.flatten().numpy(), s.flatten().numpy(), tau, v_threshold, v_reset)


def _lif_traces(r, showlegend=True):
    """The traces of one response: input, H[t], spike markers on H, spike raster."""
    fired = r.s > 0
    return [
        go.Scatter(x=r.t, y=r.x, mode="lines", line=dict(color=INPUT_COLOR, shape="hv", dash="dot"),
                   name="input X[t]", showlegend=showlegend, legendgroup="x"),
        go.Scatter(x=r.t, y=r.h, mode="lines+markers", line=dict(color=MEMBRANE_COLOR), marker=dict(size=4),
                   name="membrane H[t]", showlegend=showlegend, legendgroup="h"),
        go.Scatter(x=r.t[fired], y=r.h[fired], mode="markers", marker=dict(color=SPIKE_COLOR, size=9, symbol="star"),
                   name="spike: H[t] ≥ V_th", showlegend=showlegend, legendgroup="s"),
        go.Bar(x=r.t, y=r.s, marker_color=SPIKE_COLOR, width=0.35, name="S[t]", showlegend=False),
    ]


def lif_figure(r, height=420):
    """Input current, membrane potential with the threshold, and the spike train of one response."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.06)
    traces = _lif_traces(r)
    for trace in traces[:3]:
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(traces[3], row=2, col=1)
    fig.add_hline(y=r.v_threshold, line=dict(color=SPIKE_COLOR, dash="dash"), row=1, col=1,
                  annotation_text="V_th", annotation_position="top left")
    fig.update_yaxes(title_text="potential", row=1, col=1)
    fig.update_yaxes(title_text="S[t]", range=[0, 1.1], tickvals=[0, 1], row=2, col=1)
    fig.update_xaxes(title_text="time step t", row=2, col=1)
    fig.update_layout(
        height=height, margin=dict(l=60, r=20, t=90, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        title=dict(text=f"LIF neuron: τ={r.tau:g}, V_th={r.v_threshold:g}, {int(r.s.sum())} spikes "
                        f"in {len(r.t)} steps", font=dict(size=14), y=0.97),
    )
    return fig


def lif_slider_figure(currents=None, taus=(1.5, 2.0, 4.0), v_threshold=1.0, T=40, height=460):
    """Kernel-free exploration: a slider over the input current, one column per tau.

    Every slider position is a precomputed plotly frame, so the figure works in
    the static HTML of the book, with no Python running.
    """
    currents = np.round(np.linspace(0.0, 3.0, 31), 2) if currents is None else np.asarray(currents)
    fig = make_subplots(rows=2, cols=len(taus), shared_xaxes=True, row_heights=[0.78, 0.22],
                        vertical_spacing=0.06, horizontal_spacing=0.05,
                        subplot_titles=[f"τ = {tau:g}" for tau in taus])

    def panel_traces(current):
        traces = []
        for i, tau in enumerate(taus):
            traces += _lif_traces(lif_response(current, T, tau, v_threshold), showlegend=i == 0)[1:]
        return traces  # per column: H[t], spike markers, raster

    frames = [panel_traces(c) for c in currents]
    h_max = max(float(np.max(trace.y)) for traces in frames for trace in traces[::3])
    start = len(currents) // 2
    for i, trace in enumerate(frames[start]):
        fig.add_trace(trace, row=1 if i % 3 < 2 else 2, col=i // 3 + 1)
    for col in range(1, len(taus) + 1):
        fig.add_hline(y=v_threshold, line=dict(color=SPIKE_COLOR, dash="dash"), row=1, col=col)
        fig.update_yaxes(range=[-0.05, 1.05 * max(h_max, v_threshold)], row=1, col=col)
        fig.update_yaxes(range=[0, 1.1], tickvals=[0, 1], row=2, col=col)
        fig.update_xaxes(title_text="time step t", row=2, col=col)
    fig.update_yaxes(title_text="membrane H[t]", row=1, col=1)
    fig.update_yaxes(title_text="S[t]", row=2, col=1)

    fig.frames = [go.Frame(name=f"{c:g}", data=traces) for c, traces in zip(currents, frames)]
    steps = [dict(method="animate", label=f"{c:g}",
                  args=[[f"{c:g}"], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                         transition=dict(duration=0))]) for c in currents]
    fig.update_layout(
        height=height, margin=dict(l=60, r=20, t=90, b=120),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0),
        sliders=[dict(active=start, steps=steps, currentvalue=dict(prefix="constant input current X = "),
                      pad=dict(t=70))],
    )
    return fig


def surrogate_figure(alpha=4.0, x_range=3.0):
    """The Heaviside step, the sigmoid of eq. 20 that stands in for it, and the gradient each gives."""
    x = torch.linspace(-x_range, x_range, 601, dtype=torch.float64)
    x_np = x.numpy()
    fig = make_subplots(rows=1, cols=2, subplot_titles=["forward: spike function", "backward: its derivative"])
    fig.add_trace(go.Scatter(x=x_np, y=(x_np >= 0).astype(float), name="Heaviside Θ(x)",
                             line=dict(color=SPIKE_COLOR, shape="hv")), row=1, col=1)
    fig.add_trace(go.Scatter(x=x_np, y=torch.sigmoid(alpha * x).numpy(), name=f"sigmoid(αx), α={alpha:g}",
                             line=dict(color=MEMBRANE_COLOR)), row=1, col=1)
    fig.add_trace(go.Scatter(x=x_np, y=np.zeros_like(x_np), name="Θ'(x) = 0 (almost everywhere)",
                             line=dict(color=SPIKE_COLOR)), row=1, col=2)
    fig.add_trace(go.Scatter(x=x_np, y=sigmoid_surrogate_grad(x, alpha).numpy(), name="surrogate α s(1-s)",
                             line=dict(color=MEMBRANE_COLOR)), row=1, col=2)
    fig.update_xaxes(title_text="x = H - V_th")
    fig.update_layout(height=330, margin=dict(l=50, r=20, t=60, b=40), legend=dict(orientation="h", y=-0.25))
    return fig
