"""The LIF neuron: responses to a current, the surrogate, BPTT, membrane traces (chapter 1, 6)."""

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..neuron import lif
from ..surrogate import sigmoid_surrogate_grad
from ._base import SPIKE_COLOR, MEMBRANE_COLOR, INPUT_COLOR, _slider, _np


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
    fig.update_layout(
        height=height, margin=dict(l=60, r=20, t=90, b=120),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0),
        sliders=[_slider([f"{c:g}" for c in currents], "constant input current X = ", active=start, pad=70)],
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


def bptt_edges(T=3, detach_reset=True):
    """The computation graph of a LIF layer unrolled over ``T`` steps, as (source, target, kind) edges.

    Nodes are "X[t]", "H[t]", "S[t]", "V[t]" and the loss "L". ``kind`` is "forward" (gradient flows
    back along it unchanged by the spike), "surrogate" (H[t] -> S[t]: the backward pass uses the
    sigmoid's derivative, eq. 20), "reset" (S[t] -> V[t], eq. 3) or "detached" (the reset when
    ``detach_reset``: used forward, no gradient backward).
    """
    edges = []
    for t in range(T):
        edges.append((f"X[{t}]", f"H[{t}]", "forward"))
        if t > 0:
            edges.append((f"V[{t - 1}]", f"H[{t}]", "forward"))
        edges.append((f"H[{t}]", f"S[{t}]", "surrogate"))
        edges.append((f"H[{t}]", f"V[{t}]", "forward"))
        edges.append((f"S[{t}]", f"V[{t}]", "detached" if detach_reset else "reset"))
        edges.append((f"S[{t}]", "L", "forward"))
    return edges


def bptt_figure(T=3, detach_reset=True, height=420):
    """Backpropagation through time for one LIF neuron: the unrolled graph of eq. 1-3 over ``T`` steps.

    Arrows point forward; the gradient of the loss L flows back along every coloured arrow. The
    H -> S arrows are where the surrogate gradient stands in for the spike's; a grey S -> V arrow is a
    reset that is used forward but detached backward (``detach_reset=True``, as in Spikformer).
    """
    rows = {"X": 3.0, "H": 2.0, "V": 1.0, "S": 0.0}
    pos = {f"{k}[{t}]": (2.0 * t + (0.7 if k == "V" else 0.0), y) for t in range(T) for k, y in rows.items()}
    pos["L"] = (2.0 * (T - 1) + 1.4, -1.0)
    style = {"forward": ("#1f77b4", ""), "surrogate": ("#ff7f0e", "surrogate σ′"),
             "reset": ("#1f77b4", "reset"), "detached": ("#bbbbbb", "detached")}
    fig = go.Figure()
    for src, dst, kind in bptt_edges(T, detach_reset):
        color, label = style[kind]
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=2, arrowcolor=color,
                           standoff=14, startstandoff=14)
        if label and (kind != "surrogate" or src == "H[0]"):
            left = kind == "surrogate"  # to the left of its vertical arrow, clear of H -> V
            fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=label, showarrow=False, xshift=-8 if left else 8,
                               xanchor="right" if left else "left",
                               font=dict(size=11, color=color if kind != "detached" else "#888888"))
    names = list(pos)
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                             text=names, textposition="middle center", hoverinfo="text", showlegend=False,
                             marker=dict(size=34, color="white", line=dict(color="#444444", width=1.5))))
    for kind in ("forward", "surrogate", "detached" if detach_reset else "reset"):
        color, label = style[kind]
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=color, width=3),
                                 name={"forward": "gradient flows back", "surrogate": "surrogate gradient (eq. 20)",
                                       "detached": "reset, detached: no gradient", "reset": "reset, with gradient"}[kind]))
    fig.update_xaxes(visible=False, range=[-1.0, 2.0 * (T - 1) + 2.0])
    fig.update_yaxes(visible=False, range=[-1.5, 3.5])
    fig.update_layout(title=f"Backpropagation through time: one LIF neuron unrolled over T={T} steps",
                      height=height, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", y=-0.02))
    return fig


# ---------------------------------------------------------------- images and spike maps (SPS chapter)


def membrane_traces_figure(h, s, v_threshold=1.0, names=None, title="", height=360):
    """Membrane potential H[t] (T, n) of n neurons, their spikes marked, and the threshold."""
    h, s = _np(h), _np(s)
    T, n = h.shape
    t = np.arange(T)
    fig = go.Figure()
    for j in range(n):
        name = names[j] if names else f"neuron {j}"
        fig.add_trace(go.Scatter(x=t, y=h[:, j], mode="lines+markers", name=name, legendgroup=name))
        fired = s[:, j] > 0
        fig.add_trace(go.Scatter(x=t[fired], y=h[fired, j], mode="markers", marker=dict(symbol="star", size=13),
                                 name=f"{name}: spike", legendgroup=name, showlegend=False,
                                 hovertemplate="spike at t=%{x}<extra></extra>"))
    fig.add_hline(y=v_threshold, line_dash="dash", line_color=SPIKE_COLOR, annotation_text="V_th")
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=50, b=50), title=title, xaxis_title="time step t",
                      yaxis_title="H[t]", xaxis=dict(tickmode="linear", dtick=1))
    return fig
