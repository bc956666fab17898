"""Sphinx extension: the book's stylesheet (static/book.css: tables that wrap, headers that break between
words only, each figure's mode bar in a strip above it, the live-widget note)
and two fixes for errors the browser check (book/_check_pages.py) found in every page.

- sphinx-thebe 0.3.1 under Jupyter Book 1 writes its inline ``const THEBE_JS_URL = ...`` script twice,
  and the second copy throws "Identifier 'THEBE_JS_URL' has already been declared". Identical inline
  scripts are written once.
- pydata-sphinx-theme logs "Got invalid theme mode: ." when no default mode is set: we set "auto"
  (the theme follows the reader's system setting), as the theme means to.
"""


from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def _add_css(app):
    app.config.html_static_path.append(str(STATIC))
    app.add_css_file("book.css")


def _default_mode(app, config):
    config.html_context.setdefault("default_mode", "auto")  # a template variable of the theme


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body")
        key = (getattr(script, "filename", None) or "", body)  # the copies differ only in None against ""
        if body and key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("config-inited", _default_mode)
    app.connect("builder-inited", _add_css)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
