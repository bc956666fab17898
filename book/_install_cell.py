"""The first code cell of every chapter: on Colab it installs this package and turns on the widget
manager that plotly's FigureWidget needs; anywhere else it does nothing.

Run: python book/_install_cell.py   (writes the cell into every notebook in book/, right after the
title; the URL comes from ``repository.url`` in ``_config.yml``). tests/test_book.py checks that each
notebook carries exactly this cell and that it is a no-op outside Colab.
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# On Colab: install"


def repository_url():
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    if not match:
        raise SystemExit("_config.yml sets no repository.url")
    return match.group(1)


def source():
    return f'''{MARKER} this book's package (Colab's own PyTorch is kept) and turn on the widget
# manager that the live figures need. Anywhere else (your machine, Binder, the book build) this does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install --quiet "spikformer-lite[data] @ git+{repository_url()}"
    from google.colab import output

    output.enable_custom_widget_manager()'''


def apply(nb):
    """Put the install cell after the notebook's first (title) cell, replacing an older copy."""
    cells = [c for c in nb.cells if not (c.cell_type == "code" and c.source.startswith(MARKER))]
    cell = nbformat.v4.new_code_cell(source())
    cell.id = "install"
    cells.insert(1, cell)
    nb.cells = cells
    return nb


if __name__ == "__main__":
    for path in sorted((ROOT / "book").glob("[0-9]*.ipynb")):
        if path.name in ("06_training_cifar.ipynb", "07_neuromorphic.ipynb", "08_two_paths.ipynb"):
            continue  # written by book/_make_notebooks.py, which calls apply()
        nb = nbformat.read(path, as_version=4)
        nbformat.write(apply(nb), path)
        print(f"{path.name}: install cell written")
    sys.exit(0)
