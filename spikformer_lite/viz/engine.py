"""The event-driven engine: active inputs and accumulates per layer, AND + popcount, time against firing rate."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import INPUT_COLOR, MEMBRANE_COLOR, SPIKE_COLOR, _np, _slider


def short_layer_name(name):
    """'blocks.0.mlp.fc1.linear' -> 'b0 fc1', 'sps.stages.2.conv' -> 'sps2', 'sps.rpe.conv' -> 'rpe';
    a layer's LIF ('blocks.0.attn.q.lif') is named after its layer ('b0 q')."""
    parts = name.split(".")
    if name.startswith("sps.stages."):
        return f"sps{parts[2]}"
    if name.startswith("sps.rpe"):
        return "rpe"
    return f"b{parts[1]} {parts[-2] if parts[-1] in ('linear', 'ssa', 'lif') and parts[-2] != 'attn' else parts[-1]}"


def layer_activity(inputs, layer, t=0, sample=0):
    """What one spike-fed layer sees at step t: (z, kind, active, total).

    A convolution's input is shown as its pixel grid, each pixel's value the number of active input
    channels there (its events); a linear layer's or SSA's as a tokens x channels raster of spike counts.
    """
    x = _np(inputs[layer])[t, sample]  # (P, C) counts
    active, total = int(np.count_nonzero(x)), x.size
    if layer.endswith(".conv"):
        side = int(round(np.sqrt(x.shape[0])))
        return (x != 0).sum(1).reshape(side, side), "grid", active, total
    return x, "raster", active, total


# layer_activity_figure's two panels: the left one spans [0, _LEFT] of the width (plotly's make_subplots rule)
_WIDTHS, _SPACING = (0.45, 0.55), 0.12
_LEFT = _WIDTHS[0] * (1 - _SPACING)


def _activity_trace(z, kind, showscale=True):
    label = "active channels" if kind == "grid" else "count"
    # a horizontal colour bar under the left panel: it covers neither panel's data
    colorbar = dict(title=dict(text=label, side="top"), orientation="h", x=_LEFT / 2, xanchor="center",
                    len=0.8 * _LEFT, y=-0.14, yanchor="top", thickness=10)
    return go.Heatmap(z=z.astype(np.int16), colorscale="Viridis" if kind == "grid" else "Greys",
                      zmin=0, showscale=showscale, colorbar=colorbar,
                      hovertemplate=("x %{x}, y %{y}: %{z} active channels" if kind == "grid"
                                     else "token %{y}, channel %{x}: %{z}") + "<extra></extra>")


def _ops_bar(ops, selected):
    names = list(ops)
    return go.Bar(x=[short_layer_name(n) for n in names], y=[ops[n] for n in names],
                  marker_color=[SPIKE_COLOR if n == selected else INPUT_COLOR for n in names],
                  hovertemplate="%{x}: %{y:,} accumulates<extra></extra>", showlegend=False)


def _activity_title(layer, t, active, total, ops):
    return (f"{layer} at t={t}: {active:,} of {total:,} inputs active ({active / total:.1%}); "
            f"{ops:,} accumulates over all steps")


def layer_activity_figure(inputs, ops, layer, t=0, sample=0, height=420):
    """Left: the active inputs of ``layer`` at step t; right: the accumulates of every layer, this one in red.

    ``inputs`` and ``ops`` are an engine run's (``Engine.run(x, record=True)`` on one image).
    """
    z, kind, active, total = layer_activity(inputs, layer, t, sample)
    fig = make_subplots(rows=1, cols=2, column_widths=list(_WIDTHS), horizontal_spacing=_SPACING,
                        subplot_titles=("pixels of the input grid" if kind == "grid" else "tokens x channels",
                                        "accumulates per layer (one image, all steps)"))
    fig.add_trace(_activity_trace(z, kind), 1, 1)
    fig.add_trace(_ops_bar(ops, layer), 1, 2)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_yaxes(type="log", title="accumulates", row=1, col=2)
    fig.update_layout(title=_activity_title(layer, t, active, int(total), ops[layer]), height=height,
                      margin=dict(t=80, l=40, r=20, b=110), title_font_size=13)
    return fig


def layer_activity_slider_figure(inputs, ops, t=0, sample=0, height=440):
    """The same as ``layer_activity_figure`` for every layer, a slider over the layers (no kernel needed)."""
    layers = list(ops)
    fig = layer_activity_figure(inputs, ops, layers[0], t, sample, height)
    frames = []
    for layer in layers:
        z, kind, active, total = layer_activity(inputs, layer, t, sample)
        frames.append(go.Frame(name=layer, data=[_activity_trace(z, kind), _ops_bar(ops, layer)], traces=[0, 1],
                               layout=dict(title_text=_activity_title(layer, t, active, int(total), ops[layer]))))
    fig.frames = frames
    # the slider goes below the colour bar and the bar chart's layer names, so that it covers neither
    slider = dict(_slider(layers, "layer: ", [short_layer_name(n) for n in layers]), y=-0.42, yanchor="top")
    fig.update_layout(sliders=[slider], height=height + 90, margin=dict(b=200))
    return fig


def and_popcount_figure(q_row, k_row, title="", height=260):
    """Three rows of bits: a query's spikes, a key's spikes, and their AND; the popcount is Q·K."""
    q, k = _np(q_row).astype(np.uint8), _np(k_row).astype(np.uint8)
    both = q & k
    fig = go.Figure(go.Heatmap(z=np.stack([q, k, both]), colorscale=[[0, "white"], [1, MEMBRANE_COLOR]],
                               zmin=0, zmax=1, showscale=False, xgap=1, ygap=2,
                               hovertemplate="channel %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(tickvals=[0, 1, 2], ticktext=["Q[n]", "K[m]", "Q AND K"], autorange="reversed")
    fig.update_xaxes(title="channel of the head")
    fig.update_layout(title=title or f"popcount(Q[n] AND K[m]) = {int(both.sum())} = (Q Kᵀ)[n, m]", height=height,
                      margin=dict(t=60, l=80, r=20, b=50))
    return fig


def rate_sweep_figure(sweep, measured=None, height=380):
    """Time of one layer against its input firing rate, event kernel against dense, one panel per layer.

    ``sweep`` is ``benchmark.rate_sweep``'s result; ``measured`` an optional {panel title: (label, rate)}:
    a dotted line in that panel (the trained model's rate for that layer).
    """
    titles = list(sweep)
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.07)

    def mark(x, i, line, text, y, anchor):
        # an annotation on a log axis takes log10 of its position (a shape does not): plotly's rule
        fig.add_vline(x=x, line=line, row=1, col=i)
        fig.add_annotation(x=float(np.log10(x)), y=y, yref="y domain", text=text, showarrow=False, xanchor="left",
                           yanchor=anchor, font_size=10, row=1, col=i)

    for i, title in enumerate(titles, 1):
        r = sweep[title]
        first = i == 1
        shown = list(r["rates"])  # the x range: the measured rates and the lines drawn, nothing more
        fig.add_trace(go.Scatter(x=r["rates"], y=1e3 * np.asarray(r["events_s"]), name="event-driven (adds rows)",
                                 mode="lines+markers", line_color=SPIKE_COLOR, showlegend=first,
                                 legendgroup="events"), 1, i)
        fig.add_trace(go.Scatter(x=r["rates"], y=1e3 * np.asarray(r["dense_s"]), name="dense (torch GEMM + LIF)",
                                 mode="lines+markers", line=dict(color=MEMBRANE_COLOR, dash="dash"),
                                 showlegend=first, legendgroup="dense"), 1, i)
        if r["crossover"] is not None:
            mark(r["crossover"], i, dict(color="black", width=1), f"crossover {r['crossover']:.3f}", 1, "top")
            shown.append(r["crossover"])
        if title in (measured or {}):
            label, rate = measured[title]
            mark(rate, i, dict(color="gray", dash="dot"), label, 0, "bottom")
            shown.append(rate)
        lo, hi = np.log10(min(shown)), np.log10(max(shown))
        pad = 0.05 * (hi - lo) + 0.02
        fig.update_xaxes(type="log", title="input firing rate", range=[float(lo - pad), float(hi + pad)],
                         row=1, col=i)
    fig.update_yaxes(title="ms per call", type="log", row=1, col=1)
    fig.update_yaxes(type="log")
    fig.update_layout(height=height, legend=dict(orientation="h", y=-0.25), margin=dict(t=60, b=90),
                      title_font_size=13)
    for a in fig.layout.annotations[:len(titles)]:
        a.font.size = 11
    return fig
