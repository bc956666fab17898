"""Sphinx extension: pages that load nothing from a CDN, and carry no dead widget state.

- Adds ``book/_static/vendor`` (MathJax, require.js, the ipywidgets HTML manager, fetched and
  sha512-checked by ``book/_vendor.py``) to the static files; ``_config.yml`` points ``mathjax_path``
  and ``nb_ipywidgets_js`` at them.
- Drops the ipywidgets state that the executed notebooks carry. Our live widgets are plotly
  FigureWidgets, which need a kernel: embedded in a static page they drew nothing and added about
  5 MB of JavaScript (plotly's bundle inside the widget state) to every page that had one. The widget
  views are switched off for HTML in ``_config.yml`` (``nb_mime_priority_overrides``), so the page
  shows the widget's HTML note instead, next to the chapter's figure without a kernel.
"""

from pathlib import Path

from sphinx.errors import ExtensionError

VENDOR = Path(__file__).resolve().parent.parent / "_static" / "vendor"


def _add_vendor(app):
    if not (VENDOR / "packages.json").exists():
        raise ExtensionError(f"{VENDOR} is missing: run `python book/_vendor.py` (make book does) to fetch "
                             "MathJax, require.js and the widget manager from the npm registry")
    app.config.html_static_path.append(str(VENDOR))


def _drop_widget_state(app, doctree):
    data = getattr(app.env, "nb_metadata", {}).get(app.env.docname, {})
    js_files = data.get("js_files", {})
    for key in [k for k in js_files if k.startswith("ipywidgets")]:
        del js_files[key]


def setup(app):
    app.connect("builder-inited", _add_vendor)
    app.connect("doctree-read", _drop_widget_state)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
