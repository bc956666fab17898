"""The package's progress bars: tqdm's notebook widget live, none when a notebook is executed for the book.

A widget progress bar saved in an executed notebook keeps the state its widget model had when the
notebook's widget state was written (its first, "0/125"), so the static pages of the book showed bars
frozen at the start. The book build (``make book``) therefore sets ``SPIKFORMER_PROGRESS=off``:

- ``auto`` (default): ``tqdm.auto`` (a widget in Jupyter, text in a terminal);
- ``plain``: text bars (``tqdm.std``), also in Jupyter;
- ``off``: no bars at all (what a static page should show: the cell's results, not its progress).
"""

import os

MODES = ("auto", "plain", "off")


def progress_mode():
    mode = os.environ.get("SPIKFORMER_PROGRESS", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"SPIKFORMER_PROGRESS={mode!r}: expected one of {MODES}")
    return mode


def tqdm(*args, **kwargs):
    """``tqdm`` as the environment asks (see the module's docstring); same arguments as tqdm's."""
    mode = progress_mode()
    if mode == "off":
        kwargs["disable"] = True
    if mode == "auto":
        from tqdm.auto import tqdm as bar
    else:
        from tqdm.std import tqdm as bar
    return bar(*args, **kwargs)
