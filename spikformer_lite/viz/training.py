"""Learning-rate schedules and training curves (chapters 6, 7)."""

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import SPIKE_COLOR, INPUT_COLOR


def lr_schedule_figure(recipes, epochs_per_point=1, height=320):
    """The learning rate a run uses over the epochs of each recipe ({label: Recipe}): for a recipe with
    ``per_step_lr`` the schedule sampled every ``epochs_per_point``; otherwise (timm's default) a staircase,
    the rate of each whole epoch held for the epoch."""
    from ..train import lr_at

    fig = go.Figure()
    for label, r in recipes.items():
        total = r.epochs + r.cooldown_epochs
        e = np.arange(0, total + 1e-9, epochs_per_point)
        y = [lr_at(v if r.per_step_lr else math.floor(v + 1e-9), r) for v in e]
        fig.add_trace(go.Scatter(x=e, y=y, mode="lines", name=label, line_shape="linear" if r.per_step_lr else "hv"))
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
