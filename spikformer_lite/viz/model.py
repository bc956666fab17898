"""Spikes through SPS, attention maps and the architecture (chapters 2-4, 6)."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import SPIKE_COLOR, MEMBRANE_COLOR, INPUT_COLOR, _slider, _np, _spike_heatmap, _heatmap_grid


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


def attention_overlay_slider_figure(image, grid_maps, heads=(0, 1, 2, 3), active=0, height=320, cols=None,
                                    titles=None):
    """Kernel-free: (T, Hd, g, g) attention grids of a few heads over the image, a slider over time steps.

    ``cols``: panels per row (default: all heads in one row); ``titles``: one per head (default "head h").
    """
    a = _np(grid_maps)
    img = _np(image)
    zmax = float(a[:, list(heads)].max()) or 1.0
    cols = cols or len(heads)
    rows = -(-len(heads) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles or [f"head {h}" for h in heads],
                        horizontal_spacing=0.02, vertical_spacing=0.08 if rows > 1 else 0.0)

    def traces(t):
        return [tr for i, h in enumerate(heads)
                for tr in _attention_overlay_traces(img, a[t, h], zmax, showscale=i == len(heads) - 1)]

    for i, trace in enumerate(traces(active)):
        fig.add_trace(trace, row=i // 2 // cols + 1, col=i // 2 % cols + 1)
    fig.frames = [go.Frame(name=str(t), data=traces(t)) for t in range(a.shape[0])]
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=50, b=60),
                      sliders=[_slider([str(t) for t in range(a.shape[0])], "time step ", active=active,
                                       labels=[f"t={t}" for t in range(a.shape[0])])])
    return fig
