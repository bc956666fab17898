"""Energy figures: the model's energy against its firing rate under two accountings, and the two
attention orders' cost by sequence length."""

import numpy as np
import plotly.graph_objects as go

from ._base import MEMBRANE_COLOR, SPIKE_COLOR, _slider
from .. import energy

CURVES = [  # (memory_model key, label, colour, dash)
    ("paper_snn", "SNN, paper's eq. 22 (0.9 pJ per SOP)", SPIKE_COLOR, "dot"),
    ("paper_ann", "ANN fp32, paper's eq. 22 (4.6 pJ per MAC)", MEMBRANE_COLOR, "dot"),
    ("snn", "SNN with memory access", SPIKE_COLOR, "solid"),
    ("qnn", "quantised ANN with memory access", MEMBRANE_COLOR, "solid"),
]


def energy_curves(cfg, T, rates, **memory_kw):
    """{key: [mJ per image at each rate]} of ``energy.memory_model``, plus the break-even rate."""
    rows = [energy.memory_model(cfg, float(r), T=T, **memory_kw) for r in rates]
    out = {key: [row[key] for row in rows] for key, *_ in CURVES}
    out["break_even"] = rows[0]["break_even"]
    return out


def _traces(cfg, T, rates, measured, memory_kw):
    c = energy_curves(cfg, T, rates, **memory_kw)
    traces = [go.Scatter(x=rates, y=c[key], name=label, mode="lines", line=dict(color=colour, dash=dash))
              for key, label, colour, dash in CURVES]
    values = [y for k, v in c.items() if k != "break_even" for y in v]
    top, bottom = max(values), min(y for y in values if y > 0)  # the energy axis is logarithmic
    be = c["break_even"]
    traces.append(go.Scatter(x=[be, be], y=[bottom, top], mode="lines", line=dict(color="black", width=1),
                             name=f"break-even with memory: {be:.3f}"))
    if measured is not None:
        label, rate = measured
        traces.append(go.Scatter(x=[rate, rate], y=[bottom, top], mode="lines", line=dict(color="gray", dash="dash"),
                                 name=f"{label}: {rate:.3f}"))
    return traces


def energy_figure(cfg, T=None, measured=None, rates=None, height=420, **memory_kw):
    """Energy per image of the spike-fed layers against the average firing rate: the paper's compute-only
    view (dotted) and ``energy.memory_model`` with memory access (solid), with the break-even rate and an
    optional measured ``(label, rate)``, on a logarithmic energy axis. ``memory_kw`` goes to ``energy.memory_model``."""
    T = cfg.T if T is None else T
    rates = np.linspace(0, 0.5, 51) if rates is None else rates
    fig = go.Figure(_traces(cfg, T, rates, measured, memory_kw))
    bits = energy.qnn_bits(T)
    fig.update_layout(height=height, xaxis_title="average input firing rate (spikes per neuron per step)",
                      yaxis_title="mJ per image", yaxis_type="log", legend=dict(font_size=10),
                      title=f"Spikformer-{cfg.depth}-{cfg.embed_dim}, {cfg.image_size}x{cfg.image_size}, T={T} (quantised ANN: {bits}-bit activations)", title_font_size=13)
    return fig


def energy_slider_figure(cfg, T_values=(1, 2, 4, 8), measured=None, height=440, **memory_kw):
    """``energy_figure`` with a slider over T, precomputed (no kernel)."""
    rates = np.linspace(0, 0.5, 51)
    active = T_values.index(cfg.T) if cfg.T in T_values else 0
    names = [f"T={T}" for T in T_values]
    frames = [go.Frame(name=n, data=_traces(cfg, T, rates, measured, memory_kw),
                       layout=dict(title=f"Spikformer-{cfg.depth}-{cfg.embed_dim}, {cfg.image_size}x{cfg.image_size}, T={T} (quantised ANN: {energy.qnn_bits(T)}-bit activations)"))
              for n, T in zip(names, T_values)]
    fig = energy_figure(cfg, T_values[active], measured, rates, height, **memory_kw)
    fig.frames = frames
    fig.update_layout(sliders=[_slider(names, "time steps: ", active=active, pad=50)], margin=dict(b=120))
    return fig


def attention_order_figure(D, d, lengths=None, marks=None, height=360):
    """MACs of the two attention products per block and step against the number of tokens N, in
    (Q K^T) V and in Q (K^T V) order (``energy.attention_macs``); ``marks``: {label: N} to point at."""
    lengths = np.unique(np.geomspace(4, 4096, 40).astype(int)) if lengths is None else np.asarray(lengths)
    fig = go.Figure()
    for order, label, colour in (("qk_first", "(Q K^T) V: 2 N² D", MEMBRANE_COLOR),
                                 ("kv_first", "Q (K^T V): 2 N D d", SPIKE_COLOR)):
        fig.add_trace(go.Scatter(x=lengths, y=[energy.attention_macs(int(n), D, d, order) for n in lengths],
                                 name=label, mode="lines", line_color=colour))
    fig.add_vline(x=d, line=dict(color="black", width=1), annotation_text=f"N = d = {d}")
    for label, n in (marks or {}).items():
        fig.add_vline(x=n, line=dict(color="gray", dash="dot"), annotation_text=label,
                      annotation_position="bottom right", annotation_font_size=10)
    fig.update_xaxes(type="log", title="tokens N")
    fig.update_yaxes(type="log", title="MACs per block and step")
    fig.update_layout(height=height, title=f"the two attention products, D={D}, head dim d={d}", title_font_size=13)
    return fig
