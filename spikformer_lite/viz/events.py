"""Event streams and frames from DVS sensors and the emulator (chapters 5, 7)."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import SPIKE_COLOR, MEMBRANE_COLOR, _slider, _np, _heatmap_grid, _compact


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


def event_frames_grid_figure(frames, names, title="", height=None):
    """Several recordings' event frames (S, T, 2, H, W) in one grid: for each recording a row of ON panels
    (reds) above a row of OFF panels (blues), one column per time bin; ``names`` labels the recordings.
    One colour range for all panels, so that the counts compare across recordings and binnings."""
    f = np.stack([_np(x) for x in frames])
    if f.ndim != 5 or f.shape[2] != 2 or len(names) != len(f):
        raise ValueError(f"frames must be (S, T, 2, H, W) with one name per recording; got shape {f.shape} "
                         f"and {len(names)} names")
    zmax = float(f.max()) or 1.0
    T = f.shape[1]
    traces, titles = [], []
    for s, name in enumerate(names):
        for polarity, channel in (("ON", 1), ("OFF", 0)):
            traces += [_channel_heatmap(f[s, t, channel], zmax, polarity) for t in range(T)]
            titles += [f"{name}: {polarity} t={t}" for t in range(T)]
    return _heatmap_grid(traces, titles, T, title, lambda rows: height or 130 * rows + 70, vertical_spacing=0.03,
                         top=60)
