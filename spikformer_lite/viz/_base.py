"""Shared pieces: the plotly renderer for the book, colours, sliders, heatmap grids, tables."""

import sys

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots


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
    # The mode bar (zoom, save, ...) lies horizontally, shown on hover; the book's stylesheet
    # (book/_ext/static/book.css) moves it into a strip above each figure, where it covers no title or
    # legend. (Standing vertically at the right edge, it covered the legends there.)
    pio.templates["spikformer"] = go.layout.Template(layout=dict(modebar=dict(orientation="h")))
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


def _np(x):
    return np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)


def wrap_title(text, width_px, font_px=17):
    """Break a plotly title into lines that fit ``width_px`` (plotly never wraps a title itself, and the static
    page cuts it at the figure's edge). Lines are split at spaces; a segment wrapped in <sub>...</sub> is
    wrapped with the tags repeated on each line, at the smaller size of subscript text."""
    import re
    import textwrap

    lines = []
    for segment in text.split("<br>"):
        m = re.fullmatch(r"(<(\w+)>)(.*)(</\2>)", segment, flags=re.S)
        open_tag, inner, close_tag = (m.group(1), m.group(3), m.group(4)) if m else ("", segment, "")
        chars = max(10, int(width_px / (0.55 * font_px * (0.7 if open_tag == "<sub>" else 1.0))))
        lines += [open_tag + line + close_tag for line in textwrap.wrap(inner, chars) or [""]]
    return "<br>".join(lines)


def image_figure(image, title="", height=260):
    """An (H, W, 3) uint8 image."""
    fig = go.Figure(go.Image(z=_np(image)))
    title = wrap_title(title, height - 20) if title else title
    extra = 20 * title.count("<br>")
    fig.update_layout(height=height + extra, width=height, margin=dict(l=10, r=10, t=40 + extra, b=10), title=title)
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


def markdown_table(rows, columns=None):
    """A list of dicts as a Markdown table (for IPython.display.Markdown)."""
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- events (data chapter)


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
