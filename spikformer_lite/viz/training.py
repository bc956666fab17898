"""Learning-rate schedules and training curves (chapters 6, 7)."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import SPIKE_COLOR, INPUT_COLOR


def lr_schedule_figure(recipes, epochs_per_point=1, height=320):
    """The learning rate over the epochs of each recipe: {label: Recipe}."""
    from ..train import lr_at

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
