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


# Figures, progress bars and table headers as the reviewer saw them in chapters 6-9 (LAYOUT_JS,
# PROGRESS_JS, HEADERS_JS), and as the book's stylesheet (book/_ext/static/book.css) shows them.
BAD_LAYOUT = """<html><head><script src="plotly.min.js"></script></head><body><article class="bd-article" style="width: 700px">
<div id="cb" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<div id="mb" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<div id="cut" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<div id="sl" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<div class="cell_output"><div class="widget-hbox"><div class="widget-progress"><div class="progress">
<div class="progress-bar" style="width: 0%"></div></div></div><div class="widget-html">0/125 [00:00&lt;?, ?it/s]</div></div>
<pre>epoch 1:  40%|####      | 50/125 [00:10&lt;00:15, 5.0it/s]</pre></div>
<table style="width: 150px"><tr><th style="overflow-wrap: anywhere; word-break: break-all">Accuracy</th>
<th style="overflow-wrap: anywhere; word-break: break-all">Firingrates</th></tr><tr><td>1</td><td>2</td></tr></table>
</article>
<script>
Plotly.newPlot("cb", [{z: [[1, 2], [3, 4]], type: "heatmap", colorbar: {x: 0.5}},
                      {z: [[4, 3], [2, 1]], type: "heatmap", xaxis: "x2", yaxis: "y2", showscale: false}],
               {grid: {rows: 1, columns: 2, pattern: "independent"}, title: {text: "colour bar on the data"}});
Plotly.newPlot("mb", [{y: [1, 3, 2], name: "a rather long legend entry"}, {y: [2, 1, 3], name: "b"}],
               {title: {text: "A long title that runs all the way under the mode bar at the top", x: 0.98, xanchor: "right", y: 0.97},
                margin: {t: 30}, legend: {x: 1, xanchor: "right", y: 1.12, orientation: "h"}}, {displayModeBar: true});
Plotly.newPlot("cut", [{y: [1, 3, 2], mode: "markers", name: "rates"}], {yaxis: {range: [0, 2.5]}, title: {text: "A title pushed past the left edge", x: 0, xanchor: "right"},
               xaxis: {title: {text: "x"}}});
Plotly.newPlot("sl", [{z: [[1, 2], [3, 4]], type: "heatmap", colorbar: {orientation: "h", y: -0.45, yanchor: "top", len: 0.5, thickness: 12}}],
               {title: {text: "colour bar on the slider"}, margin: {b: 140}, sliders: [{active: 0, y: -0.3, steps: [
                 {label: "first", method: "skip", args: []}, {label: "second", method: "skip", args: []}]}]});
</script></body></html>"""

GOOD_LAYOUT = """<html><head><script src="plotly.min.js"></script><link rel="stylesheet" href="book.css"></head><body>
<article class="bd-article" style="width: 700px">
<div id="cb" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<div id="lg" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<div class="cell_output"><div class="widget-hbox"><div class="widget-progress"><div class="progress">
<div class="progress-bar" style="width: 100%"></div></div></div><div class="widget-html">125/125 [00:25&lt;00:00]</div></div>
<pre>epoch 1: 100%|##########| 125/125 [00:25&lt;00:00, 5.0it/s]</pre><pre>a ratio, not a bar: 3/7</pre></div>
<table><tr><th>Accuracy</th><th>Firing rates of the second block</th><th>Energy (mJ)</th></tr>
<tr><td>0.91</td><td>0.12</td><td>1.2</td></tr></table>
</article>
<script>
Plotly.newPlot("cb", [{z: [[1, 2], [3, 4]], type: "heatmap"},
                      {z: [[4, 3], [2, 1]], type: "heatmap", xaxis: "x2", yaxis: "y2", showscale: false}],
               {grid: {rows: 1, columns: 2, pattern: "independent"}, title: {text: "Two maps, one colour bar"},
                modebar: {orientation: "h"}});
Plotly.newPlot("lg", [{y: [1, 3, 2], name: "a rather long legend entry"}, {y: [2, 1, 3], name: "b"},
                      {x: [0.01, 0.3], y: [1, 3], mode: "markers", xaxis: "x", name: "log"}],
               {title: {text: "A title and a legend", x: 0.5}, modebar: {orientation: "h"}, xaxis: {type: "log", range: [-2.1, 0.5]},
                yaxis: {title: {text: "membrane potential"}}}, {displayModeBar: true});
</script></body></html>"""


@pytest.fixture(scope="module")
def layout_site(site):
    shutil.copy(ROOT / "book" / "_ext" / "static" / "book.css", site)
    (site / "bad_layout.html").write_text(BAD_LAYOUT)
    (site / "good_layout.html").write_text(GOOD_LAYOUT)
    return site


def test_overlaps_clipped_titles_frozen_bars_and_broken_headers_are_caught(layout_site):
    problems = "\n".join(run_check(layout_site, "bad_layout.html")["problems"])
    assert "figure 0 (colour bar on the data): colour bar 0 overlaps a plot area" in problems
    assert "figure 3 (colour bar on the slider): colour bar 0 overlaps a slider or the legend" in problems
    assert "the title lies under the mode bar" in problems and "the legend lies under the mode bar" in problems
    assert 'the title is cut off at the edge of the figure: "A title pushed past the left edge"' in problems
    assert 'figure 2 (A title pushed past the left edge): 1 marker(s) of trace "rates" lie outside the set axis range' in problems
    assert "progress bar short of its end: widget at 0% (0/125)" in problems
    assert 'progress bar short of its end: text bar "' in problems and "50/125" in problems
    assert "table header breaks inside the word 'Accuracy'" in problems
    assert "table header breaks inside the word 'Firingrates'" in problems


def test_the_book_stylesheet_gives_figures_tables_and_finished_bars_that_pass(layout_site):
    result = run_check(layout_site, "good_layout.html")
    assert result["problems"] == [] and result["figures"] == 2
