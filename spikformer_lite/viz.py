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
    # The mode bar (zoom, save, ...) stands vertically at the right edge, where it covers no title.
    pio.templates["spikformer"] = go.layout.Template(layout=dict(modebar=dict(orientation="v")))
    pio.templates.default = "plotly+spikformer"
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


def _slider(names, prefix, labels=None, active=0, pad=10):
    """A layout slider whose steps jump to the precomputed frame of each name (kernel-free figures)."""
    steps = [dict(method="animate", label=label,
                  args=[[name], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
             for name, label in zip(names, labels or names)]
    return dict(active=active, steps=steps, currentvalue=dict(prefix=prefix), pad=dict(t=pad))


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

def _np(x):
    return np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)


def image_figure(image, title="", height=260):
    """An (H, W, 3) uint8 image."""
    fig = go.Figure(go.Image(z=_np(image)))
    fig.update_layout(height=height, width=height, margin=dict(l=10, r=10, t=40, b=10), title=title)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _spike_heatmap(z, showscale=False, zmax=1, colorscale="Greys"):
    return go.Heatmap(z=z, zmin=0, zmax=zmax, colorscale=colorscale, showscale=showscale,
                      hovertemplate="x=%{x} y=%{y}: %{z}<extra></extra>")


def _heatmap_grid(traces, titles, cols, title, height, vertical_spacing=0.04, top=50):
    """Heatmap traces laid out in a grid of small panels without axes."""
    rows = (len(traces) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=min(cols, len(traces)), subplot_titles=titles,
                        horizontal_spacing=0.01, vertical_spacing=vertical_spacing)
    for i, trace in enumerate(traces):
        fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_annotations(font_size=10)
    fig.update_layout(height=height(rows), margin=dict(l=10, r=10, t=top, b=10), title=title, plot_bgcolor="white")
    return fig


def spike_maps_figure(spikes, title="", channels=16, cols=8, height=None):
    """A grid of binary spike maps, one per channel, from a (C, H, W) tensor."""
    s = _np(spikes)[:channels].astype(np.uint8)  # 1 byte per pixel in the figure's JSON
    return _heatmap_grid([_spike_heatmap(z) for z in s], [f"ch {c}" for c in range(len(s))], cols, title,
                         lambda rows: height or 130 * rows + 60)


def spike_map_figure(spikes, title="", height=320):
    """One binary spike map (H, W)."""
    fig = go.Figure(_spike_heatmap(_np(spikes).astype(np.uint8)))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    fig.update_layout(height=height, width=height + 40, margin=dict(l=10, r=10, t=40, b=10), title=title)
    return fig


def stage_slider_figure(stage_spikes, names, channels=16, height=330):
    """Kernel-free: the spike map of channel c at every SPS stage, with a slider over c.

    ``stage_spikes`` is a list of (C_i, H_i, W_i) tensors (one time step, one image).
    """
    maps = [_np(s) for s in stage_spikes]
    channels = min(channels, *(len(m) for m in maps))
    titles = [f"{n}: {m.shape[0]} ch, {m.shape[1]}x{m.shape[2]}" for n, m in zip(names, maps)]
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=titles, horizontal_spacing=0.03)
    for i, m in enumerate(maps):
        fig.add_trace(_spike_heatmap(m[0]), row=1, col=i + 1)
    fig.frames = [go.Frame(name=str(c), data=[_spike_heatmap(m[c]) for m in maps]) for c in range(channels)]
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_annotations(font_size=11)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=50, b=60), plot_bgcolor="white",
                      sliders=[_slider([str(c) for c in range(channels)], "channel ")])
    return fig


def bar_figure(labels, values, title="", yaxis="", height=320, text_format=".3f"):
    """A labelled bar chart (firing rates per layer, and the like)."""
    values = [float(v) for v in values]
    fig = go.Figure(go.Bar(x=list(labels), y=values, text=[f"{v:{text_format}}" for v in values],
                           textposition="outside", marker_color=MEMBRANE_COLOR))
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=50, b=60), title=title, yaxis_title=yaxis)
    fig.update_yaxes(range=[0, 1.15 * max(values + [1e-9])])
    return fig


# ---------------------------------------------------------------- attention (SSA chapter)

def heatmaps_figure(maps, titles, height=340, colorscale="Viridis", xlabel="key token", ylabel="query token",
                    zmin=None, zmax=None):
    """Several 2-D arrays side by side, each with its own colour range unless zmin/zmax are given."""
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=titles, horizontal_spacing=0.08)
    for i, m in enumerate(maps):
        z = _np(m)
        fig.add_trace(go.Heatmap(z=z, colorscale=colorscale, showscale=False, zmin=zmin, zmax=zmax,
                                 hovertemplate=f"{ylabel} %{{y}}, {xlabel} %{{x}}: %{{z:.3g}}<extra></extra>"),
                      row=1, col=i + 1)
        fig.update_xaxes(title_text=xlabel, row=1, col=i + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title_text=ylabel, row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=50, b=50))
    return fig


def attention_slider_figure(attn, heads=(0, 1, 2, 3), active=None, height=360):
    """Kernel-free: attention maps (T, Hd, N, N) of a few heads, with a slider over the time step.

    It opens at time step ``active``; by default the one with the most attention in the shown heads
    (at t=0 the LIFs of Q and K have barely charged, and the maps are mostly dark).
    """
    a = _np(attn)
    if active is None:
        active = int(a[:, list(heads)].sum(axis=(1, 2, 3)).argmax())
    zmax = float(a[:, list(heads)].max()) or 1.0
    fig = make_subplots(rows=1, cols=len(heads), subplot_titles=[f"head {h}" for h in heads],
                        horizontal_spacing=0.04)

    def traces(t):
        return [go.Heatmap(z=a[t, h], zmin=0, zmax=zmax, colorscale="Viridis", showscale=i == len(heads) - 1,
                           hovertemplate="query %{y}, key %{x}: %{z}<extra></extra>") for i, h in enumerate(heads)]

    for i, trace in enumerate(traces(active)):
        fig.add_trace(trace, row=1, col=i + 1)
    fig.frames = [go.Frame(name=str(t), data=traces(t)) for t in range(a.shape[0])]
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=height, margin=dict(l=20, r=20, t=50, b=60),
                      sliders=[_slider([str(t) for t in range(a.shape[0])], "time step ",
                                       labels=[f"t={t}" for t in range(a.shape[0])], active=active)])
    return fig


ARCHITECTURE_MODULES = ["sps.stages.0", "sps.stages.1", "sps.stages.2", "sps.stages.3", "sps", "blocks.0.attn",
                        "blocks.0.mlp", "head"]


def architecture_figure(cfg, trace, height=600):
    """The whole model as in the paper's Fig. 2, each box labelled with the output shape it had.

    ``trace``: ``probes.trace_shapes(model, x, ARCHITECTURE_MODULES)``, so the shapes are measured on a
    real forward pass, not typed in.
    """
    shapes = {name: out for name, _, out in trace}
    missing = [m for m in ARCHITECTURE_MODULES if m not in shapes]
    if missing:
        raise ValueError(f"trace lacks {missing}: pass probes.trace_shapes(model, x, viz.ARCHITECTURE_MODULES)")
    inp = next(i for n, i, _ in trace if n == "sps.stages.0")
    fmt = lambda shape: "(" + ", ".join(str(v) for v in shape) + ")"
    pool = lambda i: " + MaxPool" if cfg.sps_pool[i] else ""
    boxes = [  # (label, shape, group)
        ("input: the image repeated T times (direct encoding)" if cfg.encoding == "direct" else "input: T event frames",
         fmt(inp), "input"),
        *[(f"SPS stage {i + 1}: Conv3×3 → BN → LIF{pool(i)}   (eq. 10)", fmt(shapes[f"sps.stages.{i}"]), "sps")
          for i in range(4)],
        ("RPE: Conv3×3 → BN → LIF, added: X₀ = x + RPE; flattened to N tokens   (eq. 4-6)", fmt(shapes["sps"]), "sps"),
        ("SSA: Q, K, V = Linear → BN → LIF;  SN(Q Kᵀ V · s);  Linear → BN → LIF;  + X   (eq. 7, 14-16)",
         fmt(shapes["blocks.0.attn"]), "block"),
        ("MLP: Linear → BN → LIF (D → 4D), Linear → BN → LIF (4D → D);  + X′   (eq. 8)",
         fmt(shapes["blocks.0.mlp"]), "block"),
        ("GAP over the N tokens, mean over the T steps, Linear head   (eq. 9)", fmt(shapes["head"]), "head"),
    ]
    colors = {"input": "#eeeeee", "sps": "#dbe9f6", "block": "#fde3c8", "head": "#e2f0d9"}
    fig = go.Figure()
    n = len(boxes)
    for k, (label, shape, group) in enumerate(boxes):
        y = n - 1 - k
        fig.add_shape(type="rect", x0=0.0, x1=7.0, y0=y - 0.32, y1=y + 0.32, fillcolor=colors[group],
                      line=dict(color="#666666", width=1))
        fig.add_annotation(x=0.12, y=y, text=label, showarrow=False, xanchor="left", font=dict(size=12))
        fig.add_annotation(x=7.15, y=y, text=shape, showarrow=False, xanchor="left", font=dict(size=12, family="monospace"))
        if k:
            fig.add_annotation(x=3.5, y=y + 0.32, ax=3.5, ay=y + 0.68, xref="x", yref="y", axref="x", ayref="y",
                               text="", showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor="#666666")
    top, bottom = n - 1 - 6 + 0.45, n - 1 - 7 - 0.45  # around the SSA and MLP boxes
    fig.add_shape(type="rect", x0=-0.08, x1=7.08, y0=bottom, y1=top, line=dict(color="#d62728", width=2, dash="dot"))
    fig.add_annotation(x=-0.12, y=(top + bottom) / 2, text=f"× L = {cfg.depth} blocks", showarrow=False,
                       xanchor="right", textangle=-90, font=dict(color="#d62728", size=12))
    fig.add_trace(go.Scatter(x=[0, 9.2], y=[-0.5, n - 0.5], mode="markers", marker=dict(opacity=0), hoverinfo="skip",
                             showlegend=False))
    fig.update_xaxes(visible=False, range=[-0.6, 9.4])
    fig.update_yaxes(visible=False, range=[-0.6, n - 0.4])
    fig.update_layout(title=f"Spikformer-{cfg.depth}-{cfg.embed_dim}: shapes (T, B, ...) measured on a forward pass",
                      height=height, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    return fig


def attention_ops(N, d):
    """Multiply-accumulate counts of one head's Q K^T V in each order: (QK^T)V and Q(K^T V)."""
    N = np.asarray(N, dtype=np.int64)
    return 2 * N * N * d, 2 * N * d * d


def ops_figure(d=32, N=None, height=340):
    """Operation counts of both SSA orders against the number of tokens N (log-log)."""
    N = np.unique(np.round(np.logspace(0.5, 3.5, 40)).astype(int)) if N is None else np.asarray(N)
    qk_first, kv_first = attention_ops(N, d)
    y_range = [min(qk_first.min(), kv_first.min()), max(qk_first.max(), kv_first.max())]
    fig = go.Figure([
        go.Scatter(x=N, y=qk_first, name="(Q Kᵀ) V: 2N²d", line=dict(color=SPIKE_COLOR)),
        go.Scatter(x=N, y=kv_first, name="Q (Kᵀ V): 2Nd²", line=dict(color=MEMBRANE_COLOR)),
        go.Scatter(x=[d, d], y=y_range, mode="lines", name=f"N = d = {d}: equal cost",
                   line=dict(dash="dash", color=INPUT_COLOR)),
    ])
    fig.update_xaxes(type="log", title_text="tokens N")
    fig.update_yaxes(type="log", title_text="multiply-accumulates per head and time step")
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=30, b=50), legend=dict(x=0.02, y=0.98))
    return fig


# ---------------------------------------------------------------- tables (full-model chapter)

def markdown_table(rows, columns=None):
    """A list of dicts as a Markdown table (for IPython.display.Markdown)."""
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- events (data chapter)

def events_3d_figure(events, title="", max_points=8000, height=520):
    """Events as points in (x, t, y), ON red and OFF blue; a random subset if there are many."""
    ev = events
    if len(ev) > max_points:
        ev = ev[np.sort(np.random.default_rng(0).choice(len(ev), max_points, replace=False))]
    fig = go.Figure()
    for on, color, name in ((True, SPIKE_COLOR, "ON (brighter)"), (False, MEMBRANE_COLOR, "OFF (darker)")):
        sel = ev[ev["p"] == on]
        fig.add_trace(go.Scatter3d(x=sel["x"], y=sel["t"] / 1000.0, z=sel["y"], mode="markers", name=name,
                                   marker=dict(size=1.5, color=color, opacity=0.6)))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), title=title,
                      scene=dict(xaxis_title="x", yaxis_title="t (ms)", zaxis_title="y",
                                 zaxis=dict(autorange="reversed"), aspectmode="manual",
                                 aspectratio=dict(x=1, y=1.8, z=1),
                                 camera=dict(eye=dict(x=2.1, y=1.3, z=0.9))),  # far enough that no corner is cut
                      legend=dict(orientation="h", y=0.02))
    return fig


def _compact(z):
    """Integer-valued counts as the smallest integer type, so a page embeds 1-2 bytes per pixel, not 8."""
    z = np.asarray(z)
    if z.size and np.array_equal(z, np.round(z)):
        lo, hi = z.min(), z.max()
        for dtype in (np.uint8, np.int8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= lo and hi <= info.max:
                return z.astype(dtype)
    return z


def _signed_frame(frame):
    """ON minus OFF counts of one (P, H, W) frame (one polarity: the counts)."""
    f = _np(frame)
    return f[1] - f[0] if f.shape[0] == 2 else f[0]


def _frame_heatmap(frame, zmax, showscale=False):
    return go.Heatmap(z=_compact(_signed_frame(frame)), zmin=-zmax, zmax=zmax, colorscale="RdBu_r", showscale=showscale,
                      hovertemplate="x=%{x} y=%{y}: ON-OFF %{z}<extra></extra>")


def _frames_zmax(frames):
    """Colour range shared by all frames: the largest ON-OFF count."""
    return float(np.abs(frames[:, -1] - frames[:, 0]).max()) or 1.0


def _channel_heatmap(counts, zmax, polarity, showscale=False):
    """Counts of one polarity channel: ON in reds, OFF in blues (the model's two input channels)."""
    return go.Heatmap(z=_compact(counts), zmin=0, zmax=zmax, colorscale="Reds" if polarity == "ON" else "Blues",
                      showscale=showscale, hovertemplate=f"x=%{{x}} y=%{{y}}: %{{z}} {polarity} events<extra></extra>")


def frames_figure(frames, title="", height=None, cols=8, polarity="signed"):
    """T event frames (T, P, H, W) side by side.

    polarity="signed": one panel per frame, ON minus OFF counts (red ON, blue OFF), compact;
    polarity="split": the two channels the model actually receives, a row of ON panels (reds) above
    a row of OFF panels (blues), with ``cols`` = T by default.
    """
    f = _np(frames)
    if polarity == "signed":
        zmax = _frames_zmax(f)
        return _heatmap_grid([_frame_heatmap(f[t], zmax, showscale=t == 0) for t in range(len(f))],
                             [f"t={t}" for t in range(len(f))], cols, title,
                             lambda rows: height or 150 * rows + 70, vertical_spacing=0.06, top=60)
    if polarity != "split" or f.shape[1] != 2:
        raise ValueError(f"polarity must be 'signed', or 'split' for two-channel frames; got {polarity!r} "
                         f"with frames of shape {f.shape}")
    zmax = float(f.max()) or 1.0
    T = len(f)
    traces = [_channel_heatmap(f[t, 1], zmax, "ON") for t in range(T)] + [_channel_heatmap(f[t, 0], zmax, "OFF")
                                                                       for t in range(T)]
    titles = [f"ON t={t}" for t in range(T)] + [f"OFF t={t}" for t in range(T)]
    return _heatmap_grid(traces, titles, T, title, lambda rows: height or 150 * rows + 70, vertical_spacing=0.06, top=60)


def frames_slider_figure(frames, title="", height=360):
    """Kernel-free: one event frame at a time, its ON and OFF channels side by side, with a slider
    over the time bins."""
    f = _np(frames)
    if f.shape[1] != 2:
        raise ValueError(f"frames must have two polarity channels (T, 2, H, W), got {f.shape}")
    zmax = float(f.max()) or 1.0

    def traces(t):
        return [_channel_heatmap(f[t, 1], zmax, "ON"), _channel_heatmap(f[t, 0], zmax, "OFF")]

    fig = make_subplots(rows=1, cols=2, subplot_titles=["ON channel", "OFF channel"], horizontal_spacing=0.04)
    for i, trace in enumerate(traces(0)):
        fig.add_trace(trace, row=1, col=i + 1)
    fig.frames = [go.Frame(name=str(t), data=traces(t)) for t in range(len(f))]
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_xaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=60, b=60), title=title,
                      sliders=[_slider([str(t) for t in range(len(f))], "time bin ")])
    return fig


def emulator_slider_figure(events_by_threshold, sensor_size, height=380):
    """Kernel-free: accumulated ON-OFF image of emulated events, with a slider over the contrast threshold.

    ``events_by_threshold`` maps threshold -> events.
    """
    W, H, _ = sensor_size

    def image(ev):
        img = np.zeros((H, W))
        np.add.at(img, (ev["y"], ev["x"]), np.where(ev["p"], 1, -1))
        return img

    imgs = {c: image(ev) for c, ev in events_by_threshold.items()}
    zmax = max(float(np.abs(i).max()) for i in imgs.values()) or 1.0
    names = list(imgs)

    def trace(c):
        return go.Heatmap(z=_compact(imgs[c]), zmin=-zmax, zmax=zmax, colorscale="RdBu_r",
                          hovertemplate="x=%{x} y=%{y}: ON-OFF %{z}<extra></extra>")

    fig = go.Figure(trace(names[0]))
    fig.frames = [go.Frame(name=f"{c:g}", data=[trace(c)],
                           layout=dict(title=f"threshold C = {c:g}: {len(events_by_threshold[c]):,} events"))
                  for c in names]
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    fig.update_layout(height=height, width=height + 60, margin=dict(l=10, r=10, t=40, b=60),
                      title=f"threshold C = {names[0]:g}: {len(events_by_threshold[names[0]]):,} events",
                      sliders=[_slider([f"{c:g}" for c in names], "contrast threshold C = ")])
    return fig


# ---------------------------------------------------------------- training (reproduction chapters)

def lr_schedule_figure(recipes, epochs_per_point=1, height=320):
    """The learning rate over the epochs of each recipe: {label: Recipe}."""
    from .train import lr_at

    fig = go.Figure()
    for label, r in recipes.items():
        total = r.epochs + r.cooldown_epochs
        e = np.arange(0, total + 1e-9, epochs_per_point)
        fig.add_trace(go.Scatter(x=e, y=[lr_at(v, r) for v in e], mode="lines", name=label))
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=50, b=50), title="learning rate",
                      xaxis_title="epoch", yaxis_title="lr", yaxis_type="log")
    return fig


def training_curves_figure(rows, title="", height=360):
    """Loss and top-1 accuracy per epoch, train and test, from a training log (list of dicts)."""
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "top-1 accuracy"], horizontal_spacing=0.1)
    for split, color in (("train", INPUT_COLOR), ("test", SPIKE_COLOR)):
        for col, key in ((1, "loss"), (2, "acc")):
            fig.add_trace(go.Scatter(x=epochs, y=[float(r[f"{split}_{key}"]) for r in rows], mode="lines+markers",
                                     name=split, line_color=color, showlegend=col == 1, legendgroup=split),
                          row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=60, b=50), title=title)
    return fig


def _attention_overlay_traces(image, grid_map, zmax, opacity=0.6, showscale=False):
    """An image and, over it, a (g, g) map stretched to the image's size (black where the map is 0)."""
    H, W = image.shape[:2]
    g = grid_map.shape[0]
    xs = (np.arange(g) + 0.5) * W / g - 0.5
    ys = (np.arange(g) + 0.5) * H / g - 0.5
    return [go.Image(z=image, hoverinfo="skip"),
            go.Heatmap(z=grid_map, x=xs, y=ys, zmin=0, zmax=zmax, colorscale="Inferno", opacity=opacity,
                       showscale=showscale, hovertemplate="token (%{x:.0f}, %{y:.0f}): %{z}<extra></extra>")]


def attention_overlay_figure(image, grid_maps, titles, height=300, zmax=None):
    """Fig. 3 of the paper: attention maps as (g, g) grids over an (H, W, 3) image, side by side."""
    maps = [_np(m) for m in grid_maps]
    zmax = zmax or max(float(m.max()) for m in maps) or 1.0
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=titles, horizontal_spacing=0.02)
    for i, m in enumerate(maps):
        for trace in _attention_overlay_traces(_np(image), m, zmax, showscale=i == len(maps) - 1):
            fig.add_trace(trace, row=1, col=i + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def attention_overlay_slider_figure(image, grid_maps, heads=(0, 1, 2, 3), active=0, height=320):
    """Kernel-free: (T, Hd, g, g) attention grids of a few heads over the image, a slider over time steps."""
    a = _np(grid_maps)
    img = _np(image)
    zmax = float(a[:, list(heads)].max()) or 1.0
    fig = make_subplots(rows=1, cols=len(heads), subplot_titles=[f"head {h}" for h in heads],
                        horizontal_spacing=0.02)

    def traces(t):
        return [tr for i, h in enumerate(heads)
                for tr in _attention_overlay_traces(img, a[t, h], zmax, showscale=i == len(heads) - 1)]

    for i, trace in enumerate(traces(active)):
        fig.add_trace(trace, row=1, col=i // 2 + 1)
    fig.frames = [go.Frame(name=str(t), data=traces(t)) for t in range(a.shape[0])]
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=50, b=60),
                      sliders=[_slider([str(t) for t in range(a.shape[0])], "time step ", active=active,
                                       labels=[f"t={t}" for t in range(a.shape[0])])])
    return fig


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
