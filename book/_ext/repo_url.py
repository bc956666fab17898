"""Sphinx extension: write the repository's address (``repository.url`` in ``_config.yml``) into
the book's Markdown pages wherever they say ``{{ repository_url }}``, code blocks included."""

TOKEN = "{{ repository_url }}"


def _substitute(app, docname, source):
    url = app.config.html_theme_options.get("repository_url", "")
    if TOKEN in source[0]:
        if not url:
            raise ValueError(f"{docname} uses {TOKEN} but _config.yml sets no repository.url")
        source[0] = source[0].replace(TOKEN, url)


def setup(app):
    app.connect("source-read", _substitute)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
