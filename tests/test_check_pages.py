"""The browser check of the built book (book/_check_pages.py) must fail on what it promises to catch."""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("playwright.sync_api")
spec = importlib.util.spec_from_file_location("check_pages", ROOT / "book" / "_check_pages.py")
check_pages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_pages)
if not Path(check_pages.CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {check_pages.CHROMIUM} (apt-get install chromium)", allow_module_level=True)

BAD = """<html><head><script src="https://cdn.example.invalid/lib.js"></script><script src="plotly.min.js"></script></head>
<body><article class="bd-article" style="width: 600px">
<p>Raw math: <span class="math">\\(x^2\\)</span></p>
<table style="width: 2000px"><tr><td>a table far wider than the column</td></tr></table>
<div id="empty" class="plotly-graph-div"></div>
<div id="stuck" class="plotly-graph-div" style="width: 500px; height: 300px"></div>
</article>
<script>
console.error("boom");
Plotly.newPlot("empty", [], {});
Plotly.newPlot("stuck", [{z: [[1, 2], [3, 4]], type: "heatmap"}], {sliders: [{active: 0, steps: [
  {label: "a", method: "skip", args: []}, {label: "b", method: "skip", args: []}]}]});
</script></body></html>"""

GOOD = """<html><head><script src="plotly.min.js"></script></head><body><article class="bd-article" style="width: 600px">
<p>Plain text.</p><div id="g" class="plotly-graph-div" style="width: 500px; height: 300px"></div></article>
<script>Plotly.newPlot("g", [{y: [1, 3, 2], type: "scatter"}], {});</script></body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import plotly

    root = tmp_path_factory.mktemp("site")
    shutil.copy(os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js"), root)
    (root / "bad.html").write_text(BAD)
    (root / "good.html").write_text(GOOD)
    return root


def run_check(site, name):
    from playwright.sync_api import sync_playwright

    server = check_pages.serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    shots = site / "shots"
    shots.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=check_pages.CHROMIUM, args=check_pages.CHROMIUM_ARGS)
            result = check_pages.check_page(browser, base, Path(name), site, shots)
            browser.close()
    finally:
        server.shutdown()
    return result


def test_a_bad_page_fails_on_every_count(site):
    problems = "\n".join(run_check(site, "bad.html")["problems"])
    assert "loads from the network: https://cdn.example.invalid/lib.js" in problems
    assert "console error: boom" in problems
    assert "math: 1 expressions, 0 typeset" in problems
    assert "wider than the text column: table" in problems
    assert "figure 0 (untitled): no drawn traces" in problems
    assert "figure 1 (untitled): moving its slider to step 1 changed nothing" in problems


def test_a_good_page_passes_and_gets_a_screenshot(site):
    result = run_check(site, "good.html")
    assert result["problems"] == [] and result["figures"] == 1
    assert (site / "shots" / "good.png").stat().st_size > 1000
