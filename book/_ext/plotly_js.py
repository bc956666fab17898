"""Sphinx extension: ship the installed plotly.min.js once per page of the book.

Notebook figures are saved as HTML that calls ``Plotly.newPlot`` without
embedding the library (``spikformer_lite.viz.setup_plotly``), so each page
needs ``window.Plotly``. The file is copied from the installed plotly package,
so its version always matches the one that made the figures, and it loads
before require.js (lower priority number) so that it defines a global rather
than an anonymous AMD module.
"""

import os
import shutil
import tempfile

import plotly


def _add_plotly(app):
    src = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    static_dir = tempfile.mkdtemp(prefix="plotly_js_")
    shutil.copy(src, static_dir)
    app.config.html_static_path.append(static_dir)
    app.add_js_file("plotly.min.js", priority=100)


def setup(app):
    app.connect("builder-inited", _add_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
