"""Learning-rate schedules and training curves (chapters 6, 7)."""

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._base import SPIKE_COLOR, INPUT_COLOR, wrap_title


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
    title = wrap_title(title, 560) if title else title   # the book's text column is about 700 px wide; leave room
    extra = 22 * title.count("<br>")
    fig.update_layout(height=height + extra, margin=dict(l=50, r=20, t=60 + extra, b=50), title=title)
    return fig


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts (num_classes, num_classes): row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred are 1-D and of one length; got {y_true.shape} and {y_pred.shape}")
    if len(y_true) and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0 .. {num_classes - 1}")
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def confusion_figure(matrices, class_names, title="", height=380):
    """Confusion matrices ({label: counts}, e.g. from ``confusion_matrix``) side by side, counts written in
    the cells; the diagonal holds the correct answers."""
    names = [str(c) for c in class_names]
    fig = make_subplots(rows=1, cols=len(matrices), subplot_titles=list(matrices), horizontal_spacing=0.08)
    zmax = max(int(np.asarray(m).max()) for m in matrices.values()) or 1
    for i, m in enumerate(matrices.values()):
        m = np.asarray(m)
        fig.add_trace(go.Heatmap(z=m, x=names, y=names, zmin=0, zmax=zmax, colorscale="Blues", showscale=False,
                                 text=[[str(v) if v else "" for v in row] for row in m], texttemplate="%{text}",
                                 hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"), row=1, col=i + 1)
        fig.update_xaxes(title_text="predicted", type="category", row=1, col=i + 1)
        fig.update_yaxes(type="category", autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_yaxes(title_text="true class", row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=70, b=50), title=title)
    return fig
