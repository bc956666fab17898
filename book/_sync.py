"""Every chapter is written in MyST Markdown (``book/NN_*.md``, jupytext's ``md:myst`` format). The notebook
beside it (``book/NN_*.ipynb``), which nbmake, Colab, Binder and the book build run, is generated from it:
without outputs, with the Colab install cell put after the title, and with stable cell ids.

    python book/_sync.py                  write every chapter's notebook from its source
    python book/_sync.py book/06_*.md     only these chapters
    python book/_sync.py --check          write nothing; exit 1 and name each notebook that is out of date

Edit the ``.md``, never the ``.ipynb``. tests/test_book.py fails when a pair is out of sync, and checks that
the install cell is a no-op outside Colab. The repository URL in the install cell comes from
``repository.url`` in ``_config.yml``.
"""

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
MARKER = "# On Colab: install"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def repository_url():
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    if not match:
        raise SystemExit("_config.yml sets no repository.url")
    return match.group(1)


def install_source():
    """The first code cell of every chapter: on Colab it installs this package and turns on the widget
    manager that plotly's FigureWidget needs; anywhere else it does nothing."""
    return f'''{MARKER} this book's package (Colab's own PyTorch is kept) and turn on the widget
# manager that the live figures need. Anywhere else (your machine, Binder, the book build) this does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install --quiet "spikformer-lite[data] @ git+{repository_url()}"
    from google.colab import output

    output.enable_custom_widget_manager()'''


def sources():
    return sorted(BOOK.glob("[0-9][0-9]_*.md"))


def notebook(source):
    """The notebook that a chapter's MyST source gives (an nbformat node)."""
    source = Path(source)
    parsed = jupytext.read(source, fmt="md:myst")
    if not parsed.cells or parsed.cells[0].cell_type != "markdown" or not parsed.cells[0].source.startswith("# "):
        raise ValueError(f"{source.name}: the first cell must be the chapter's '# Title' in markdown")
    if any(c.cell_type == "code" and c.source.startswith(MARKER) for c in parsed.cells):
        raise ValueError(f"{source.name}: holds an install cell; it is added here, remove it from the source")
    cells = []
    for cell in parsed.cells:
        keep = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=keep)
        elif cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=keep)
        else:
            raise ValueError(f"{source.name}: a {cell.cell_type} cell; only markdown and code cells are used")
        cells.append(new)
    cells.insert(1, nbformat.v4.new_code_cell(install_source()))
    for i, cell in enumerate(cells):
        cell.id = f"c{i:03d}"
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb


def text(source):
    """The stored text of the notebook generated from ``source``."""
    return nbformat.writes(notebook(source)) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write each chapter's notebook from its MyST source.")
    parser.add_argument("sources", nargs="*", type=Path, help="chapter sources (default: every book/NN_*.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for source in args.sources or sources():
        if source.suffix != ".md" or not source.exists():
            parser.error(f"{source}: expected an existing chapter source book/NN_name.md")
        target = source.with_suffix(".ipynb")
        wanted = text(source)
        if target.exists() and target.read_text() == wanted:
            continue
        if args.check:
            stale.append(target.name)
        else:
            target.write_text(wanted)
            print(f"{target.name}: written from {source.name}")
    if stale:
        print("out of date (run python book/_sync.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
