"""Thin ipywidgets shells around the tested figure functions of ``viz``.

``live(make_figure, **controls)`` shows the controls above a plotly
FigureWidget and redraws it in place with ``make_figure(**values)`` whenever a
control moves. The figure is updated through the widget's own state rather
than re-displayed in an Output widget, which also keeps headless execution
(nbclient, nbmake, the book build) free of Output-widget round trips.

A live widget needs a running kernel. Its display also carries a short HTML
note, which static renderers (the built book, GitHub) show instead of an empty
gap; Jupyter, JupyterLab and Colab prefer the widget view and show the widget.
"""

import ipywidgets as widgets
import plotly.graph_objects as go


STATIC_NOTE = (
    '<div class="live-widget-note"><p><b>Live widget:</b> it needs a running kernel. Launch this chapter '
    '(Binder or Colab, buttons at the top of the page) to move its controls; the figure without a kernel '
    'is next to it.</p></div>'
)


class LiveBox(widgets.VBox):
    """A VBox whose display adds ``STATIC_NOTE`` as text/html for renderers without a kernel."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle = dict(bundle)
            bundle["text/html"] = STATIC_NOTE
        return bundle


def live(make_figure, **controls):
    """Controls (ipywidgets value widgets, by keyword) above a figure redrawn by ``make_figure``."""
    if not controls:
        raise ValueError("live() needs at least one control, e.g. tau=widgets.FloatSlider(...)")

    def values():
        return {name: control.value for name, control in controls.items()}

    fig = go.FigureWidget(make_figure(**values()))

    def redraw(_change=None):
        new = make_figure(**values())
        with fig.batch_update():
            if len(fig.data) == len(new.data):
                for trace, new_trace in zip(fig.data, new.data):
                    trace.update(new_trace, overwrite=True)
            else:
                fig.data = []
                fig.add_traces(new.data)
            fig.layout.update(new.layout, overwrite=True)

    for control in controls.values():
        control.observe(redraw, names="value")
    box = LiveBox([widgets.HBox(list(controls.values())), fig])
    box.figure = fig  # for tests and for readers who want to poke at it
    return box
