"""Book hygiene: notebooks are stored without outputs, and _toc.yml lists exactly the notebooks in book/."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


def toc_files():
    """Every ``file:`` entry of _toc.yml (the root included), as paths relative to the repo root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def test_there_are_notebooks():
    assert NOTEBOOKS, "book/ holds no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: strip them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_model_code(path):
    """Model code lives in spikformer_lite; a notebook that subclasses nn.Module has drifted."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            assert "nn.Module)" not in source and "@njit" not in source, f"{path.name} defines model code"


def test_toc_lists_every_notebook_and_nothing_else():
    listed = set()
    for entry in toc_files():
        matches = [p for p in (ROOT / f"{entry}{ext}" for ext in ("", ".ipynb", ".md")) if p.is_file()]
        assert matches, f"_toc.yml lists {entry!r}, which does not exist"
        listed.add(matches[0].resolve())
    on_disk = {p.resolve() for p in NOTEBOOKS}
    assert on_disk - listed == set(), f"notebooks missing from _toc.yml: {sorted(on_disk - listed)}"


def _sync_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_sync", ROOT / "book" / "_sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chapter_has_a_myst_source_and_nothing_else_is_a_notebook():
    sources = {p.stem for p in _sync_module().sources()}
    assert sources, "book/ holds no chapter sources (book/NN_*.md)"
    assert {p.stem for p in NOTEBOOKS} == sources, "every notebook in book/ must be generated from a book/NN_*.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_sync_with_its_myst_source(path):
    """Each notebook is exactly what book/_sync.py makes of its MyST source (cells, tags, install cell)."""
    assert path.read_text() == _sync_module().text(path.with_suffix(".md")), \
        f"{path.name} differs from {path.stem}.md: edit the .md and run python book/_sync.py"


def test_sync_check_fails_on_a_stale_notebook(tmp_path, monkeypatch):
    sync = _sync_module()
    source = tmp_path / "01_x.md"
    source.write_text("---\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
                      "# A title\n\n```{code-cell}\n:tags: [hide-input]\n\nx = 1\n```\n\nText.\n")
    monkeypatch.setattr(sync, "BOOK", tmp_path)
    assert sync.main(["--check"]) == 1  # no notebook yet
    assert sync.main([]) == 0
    assert sync.main(["--check"]) == 0
    nb = json.loads((tmp_path / "01_x.ipynb").read_text())
    assert [c["cell_type"] for c in nb["cells"]] == ["markdown", "code", "code", "markdown"]
    assert nb["cells"][2]["metadata"] == {"tags": ["hide-input"]}
    source.write_text(source.read_text().replace("x = 1", "x = 2"))
    assert sync.main(["--check"]) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_colab_install_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == _sync_module().install_source(), \
        f"{path.name}: its first code cell is not the install cell; run python book/_sync.py"


def _run_install_cell(colab):
    """Run the install cell as IPython would (its %pip line magic transformed), recording magics and calls."""
    import sys
    import types

    from IPython.core.inputtransformer2 import TransformerManager

    calls = []

    class Shell:
        def run_line_magic(self, name, line, *args):
            calls.append(("magic", name, line))

    fake = types.ModuleType("google.colab")
    fake.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(("widgets",)))
    saved = {k: sys.modules.get(k) for k in ("google", "google.colab")}
    try:
        if colab:
            sys.modules["google"] = types.ModuleType("google")
            sys.modules["google.colab"] = fake
        else:
            sys.modules.pop("google.colab", None)
        code = TransformerManager().transform_cell(_sync_module().install_source())
        exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: Shell()})
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return calls


def test_install_cell_does_nothing_outside_colab():
    assert _run_install_cell(colab=False) == []


def test_install_cell_on_colab_installs_from_the_configured_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    calls = _run_install_cell(colab=True)
    assert calls[0][:2] == ("magic", "pip") and f"git+{url}" in calls[0][2] and "[data]" in calls[0][2]
    assert calls[1] == ("widgets",)


def test_readme_uses_the_configured_repository_url():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    readme = (ROOT / "README.md").read_text()
    assert url in readme
    assert "<this repository" not in readme and "<this repository" not in (ROOT / "book" / "intro.md").read_text()


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2].isdigit()], ids=lambda p: p.name)
def test_every_chapter_ends_with_exercises_whose_solutions_end_in_a_check(path):
    """2-4 exercises per chapter: a stub tagged raises-exception that raises NotImplementedError, then a
    solution tagged solution and hide-cell (a toggle in the book) whose last statement is an assert.
    nbmake runs the solutions, so their checks run."""
    import ast

    cells = json.loads(path.read_text())["cells"]
    tags = lambda c: c.get("metadata", {}).get("tags", [])
    stubs = [i for i, c in enumerate(cells) if "raises-exception" in tags(c)]
    assert 2 <= len(stubs) <= 4, f"{path.name}: {len(stubs)} exercise stubs"
    for i in stubs:
        assert "raise NotImplementedError" in "".join(cells[i]["source"]), f"{path.name} cell {i}"
        solution = cells[i + 1]
        assert {"solution", "hide-cell"} <= set(tags(solution)), f"{path.name} cell {i + 1} is not a toggled solution"
        body = ast.parse("".join(solution["source"])).body
        assert isinstance(body[-1], ast.Assert), f"{path.name} cell {i + 1}: a solution must end in an assert"
    assert stubs[0] > len(cells) // 2, f"{path.name}: the exercises belong at the end"
