"""Open every page of the built book in headless Chromium and check what a reader would see.

Run: python book/_check_pages.py [_build/html]   (``make check-book``, after ``make book``).

Each page is served from localhost and fails the check on:
- a console error or an uncaught exception in the page;
- a request to anywhere but this local server (the pages must work offline: nothing from a CDN);
- a plotly figure with no drawn traces, or a heatmap that opens as one flat colour;
- a figure with a slider that does not change when the slider is moved (a real mouse click on
  another position of its rail);
- math that MathJax left untypeset (raw ``\\(...\\)``), or a MathJax error;
- a figure whose colour bar overlaps a plot area, a slider or the legend, whose title or legend lies under its mode bar, or whose
  title or axis title is cut off at the figure's edge, or whose markers lie outside a set axis range (LAYOUT_JS);
- a progress bar short of its end: a widget bar below 100%, a text bar "n/N" with n < N (PROGRESS_JS);
- a table header that wraps inside a word (HEADERS_JS);
- a table, figure or image wider than the text column (cut off, or scrolling sideways);
- a page heavier than 3 MB (its HTML, with everything inlined into it).
It writes one full-page screenshot per page to ``_build/screenshots/`` and prints one line per page.

Chromium: Debian's ``/usr/bin/chromium`` (``apt-get install chromium``), driven by the ``playwright``
Python package, which needs no browser download (``CHROMIUM`` overrides the path).
"""

import functools
import http.server
import os
import sys
import threading
from pathlib import Path

MAX_PAGE_BYTES = 3_000_000
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As the workplace's own probe starts it: headless, no sandbox as root, no background network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}

# Runs in the page: one record of every plotly figure, with what is drawn in it.
FIGURES_JS = """
() => Array.from(document.querySelectorAll('.plotly-graph-div')).map((gd, i) => {
  const data = gd._fullData || [];
  const visible = data.filter(t => t.visible === true);
  const drawn = gd.querySelectorAll('g.trace, .hm, .imagelayer image, .heatmaplayer image, .gl-container canvas, '
                                    + '.pielayer .slice, .barlayer .point').length;
  const flat = visible.filter(t => t.type === 'heatmap' && Array.isArray(t.z)).filter(t => {
    const v = t.z.flat(2).filter(x => x !== null && Number.isFinite(x));
    return v.length > 1 && Math.min(...v) === Math.max(...v);
  }).length;
  const title = ((gd.layout || {}).title || {}).text || '';
  return {index: i, title: String(title).slice(0, 60), traces: visible.length, drawn: drawn, flat: flat,
          sliders: ((gd.layout || {}).sliders || []).length};
})
"""

# A fingerprint of what a figure shows: its plot layers as rendered, and its current data.
FINGERPRINT_JS = """
(i) => {
  const gd = document.querySelectorAll('.plotly-graph-div')[i];
  const layers = Array.from(gd.querySelectorAll('.cartesianlayer, .imagelayer, .heatmaplayer, .layer-above, .gtitle'))
    .map(e => e.innerHTML).join('|');
  const data = JSON.stringify((gd.data || []).map(t => [t.x, t.y, t.z, t.text, t.source]));
  let h = 0; const s = layers + data;
  for (let k = 0; k < s.length; k++) { h = (h * 31 + s.charCodeAt(k)) | 0; }
  return h + ':' + s.length;
}
"""

# Where a figure's slider rail is on screen, and which step is active.
RAIL_JS = """
(i) => {
  const gd = document.querySelectorAll('.plotly-graph-div')[i];
  gd.scrollIntoView({block: 'center'});
  const rail = gd.querySelector('.slider-rail-rect');
  if (!rail) return null;
  const r = rail.getBoundingClientRect();
  const s = gd.layout.sliders[0];
  return {x: r.x, y: r.y, w: r.width, h: r.height, n: s.steps.length, active: s.active || 0};
}
"""

MATH_JS = """
async () => {
  if (!window.MathJax) return {math: document.querySelectorAll('.math').length, typeset: 0, errors: 0, raw: -1};
  if (MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const math = Array.from(document.querySelectorAll('.math'));
  const typeset = math.filter(e => e.querySelector('mjx-container')).length;
  const errors = document.querySelectorAll('mjx-merror').length;
  const main = document.querySelector('article') || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  let raw = 0;
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (n.parentElement.closest('pre, code, script, style, .plotly-graph-div')) continue;
    if (/\\\\\\(|\\\\\\[|\\$\\$/.test(n.textContent)) raw += 1;
  }
  return {math: math.length, typeset: typeset, errors: errors, raw: raw};
}
"""

WIDE_JS = """
() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('article');
  if (!article) return [];
  const right = article.getBoundingClientRect().right;
  const out = [];
  for (const e of article.querySelectorAll('table, .plotly-graph-div, img, svg.main-svg, figure')) {
    const r = e.getBoundingClientRect();
    let scroller = e.parentElement, scrolls = false;
    while (scroller && scroller !== article) {
      const st = getComputedStyle(scroller);
      if (['auto', 'scroll'].includes(st.overflowX) && scroller.scrollWidth > scroller.clientWidth + 1) { scrolls = true; break; }
      scroller = scroller.parentElement;
    }
    if (r.width > 0 && (r.right > right + 1 || scrolls)) {
      const what = e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : '');
      out.push(what + ' ' + Math.round(r.width) + 'px' + (scrolls ? ' (scrolls sideways)' : ' (cut off)'));
    }
  }
  return out;
}
"""

# Runs in the page: what overlaps or is cut off inside each plotly figure. Boxes are screen rectangles
# (getBoundingClientRect); two boxes overlap when they share more than OVERLAP_PX in both directions.
# - a colour bar (g.colorbar, with its ticks and title) over a subplot's plot area (its drag rectangle,
#   rect.nsewdrag: exactly the area inside the axes), its own subplot's or another's, or over a slider
#   (g.slider-container, with its labels) or the legend (g.legend);
# - the figure title (.gtitle) or the legend (g.legend) under the mode bar (.modebar, present even
#   while hidden until hover);
# - the figure title or an axis title (.g-xtitle, .g-ytitle) reaching outside the figure (svg.main-svg);
# - markers of a scatter trace outside an axis range the figure sets (autorange off; linear and log axes,
#   log ranges in log10 as plotly keeps them); lines are not checked (a reference line may run past).
LAYOUT_JS = """
(i) => {
  const PX = 2;
  const gd = document.querySelectorAll('.plotly-graph-div')[i];
  const box = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 ? r : null; };
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > PX
                           && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > PX;
  const out = [];
  const areas = Array.from(gd.querySelectorAll('.draglayer rect.nsewdrag')).map(box).filter(Boolean);
  gd.querySelectorAll('g.colorbar').forEach((cb, k) => {
    const b = box(cb);
    if (b && areas.some(a => overlap(a, b))) out.push('colour bar ' + k + ' overlaps a plot area');
    const others = Array.from(gd.querySelectorAll('g.slider-container, g.legend')).map(box).filter(Boolean);
    if (b && others.some(a => overlap(a, b))) out.push('colour bar ' + k + ' overlaps a slider or the legend');
  });
  const mb = gd.querySelector('.modebar');
  const mbox = mb ? box(mb) : null;
  const title = gd.querySelector('.gtitle');
  const tbox = title && title.textContent.trim() ? box(title) : null;
  const legend = gd.querySelector('g.legend');
  const lbox = legend ? box(legend) : null;
  if (mbox && tbox && overlap(mbox, tbox)) out.push('the title lies under the mode bar');
  if (mbox && lbox && overlap(mbox, lbox)) out.push('the legend lies under the mode bar');
  const fl = gd._fullLayout || {};
  for (const t of (gd._fullData || [])) {
    if (t.visible !== true || !/^scatter(gl)?$/.test(t.type) || !String(t.mode || '').includes('markers')) continue;
    const n = Math.max((t.x || []).length, (t.y || []).length);
    const coords = (v, v0, dv) => v || Array.from({length: n}, (_, j) => (v0 || 0) + j * (dv || 1));  // y alone: x = x0 + j dx
    const axes = [[fl['xaxis' + (t.xaxis || 'x').slice(1)], coords(t.x, t.x0, t.dx)],
                  [fl['yaxis' + (t.yaxis || 'y').slice(1)], coords(t.y, t.y0, t.dy)]];
    let outside = 0;
    for (let j = 0; j < n; j++) {
      const off = axes.some(([ax, v]) => {
        if (!ax || ax.autorange !== false || !['linear', 'log'].includes(ax.type)) return false;
        const val = ax.type === 'log' ? Math.log10(v[j]) : +v[j];
        const [lo, hi] = [Math.min(...ax.range), Math.max(...ax.range)];
        return Number.isFinite(val) && (val < lo - 1e-9 * (hi - lo) || val > hi + 1e-9 * (hi - lo));
      });
      const fin = axes.every(([ax, v]) => Number.isFinite(+v[j]));
      if (fin && off) outside += 1;
    }
    if (outside) out.push(outside + ' marker(s) of trace "' + (t.name || t.index) + '" lie outside the set axis range');
  }
  const svg = gd.querySelector('svg.main-svg');
  const fbox = svg ? box(svg) : null;
  if (fbox) {
    for (const [sel, what] of [['.gtitle', 'the title'], ['.g-xtitle', 'an x-axis title'], ['.g-ytitle', 'a y-axis title']]) {
      for (const t of gd.querySelectorAll(sel)) {
        const r = t.textContent.trim() ? box(t) : null;
        if (r && (r.left < fbox.left - 1 || r.top < fbox.top - 1 || r.right > fbox.right + 1 || r.bottom > fbox.bottom + 1))
          out.push(what + ' is cut off at the edge of the figure: "' + t.textContent.trim().slice(0, 40) + '"');
      }
    }
  }
  return out;
}
"""

# Progress bars a static page shows short of their end: a widget bar (ipywidgets' .widget-progress,
# whose .progress-bar has its width in percent) below 100%, or a "n/N" label beside it with n < N; an
# HTML <progress> below its max; a text bar in a cell's output (tqdm's "40%|####      | 50/125").
PROGRESS_JS = """
() => {
  const out = [];
  for (const w of document.querySelectorAll('.widget-progress')) {
    const bar = w.querySelector('.progress-bar');
    const pct = bar ? parseFloat(bar.style.width) : NaN;
    const row = w.closest('.widget-hbox') || w.parentElement;
    const m = (row ? row.textContent : '').match(/(\\d+)\\s*\\/\\s*(\\d+)/);
    if ((Number.isFinite(pct) && pct < 99.9) || (m && +m[1] < +m[2]))
      out.push('widget at ' + (Number.isFinite(pct) ? pct + '%' : '?') + (m ? ' (' + m[0] + ')' : ''));
  }
  for (const p of document.querySelectorAll('progress')) {
    if (p.hasAttribute('value') && p.value < p.max) out.push('<progress> at ' + p.value + '/' + p.max);
  }
  for (const o of document.querySelectorAll('.cell_output, .output')) {
    const re = /(\\d+)%\\|[^|\\n]*\\|\\s*(\\d+)\\/(\\d+)/g;
    let m;
    while ((m = re.exec(o.textContent)) !== null) { if (+m[1] < 100 || +m[2] < +m[3]) out.push('text bar "' + m[0].slice(-30) + '"'); }
  }
  return Array.from(new Set(out));
}
"""

# Table header cells whose text wraps inside a word: a run of letters or digits (one text node) whose
# characters lie on more than one line (its Range has client rectangles at more than one height).
HEADERS_JS = """
() => {
  const article = document.querySelector('article') || document.body;
  const out = [];
  for (const th of article.querySelectorAll('th')) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (node.parentElement.closest('mjx-container, .math')) continue;
      const re = /[\\p{L}\\p{N}]{2,}/gu;
      let m;
      while ((m = re.exec(node.textContent)) !== null) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) out.push(m[0]);
      }
    }
  }
  return out;
}
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def pages(root):
    skip = {"genindex.html", "search.html"}
    found = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("_static", "_sources") or rel.name in skip:
            continue
        if rel.name == "index.html" and len(rel.parts) == 1 and path.stat().st_size < 2000:
            continue  # jupyter-book's redirect to the intro
        found.append(rel)
    return found


def check_page(browser, base, rel, root, shots):
    problems = []
    weight = (root / rel).stat().st_size
    if weight > MAX_PAGE_BYTES:
        problems.append(f"page weighs {weight / 1e6:.1f} MB (limit {MAX_PAGE_BYTES / 1e6:.0f} MB)")
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(180_000)  # generous: on a busy 2-core machine a page with 40 figures takes a while
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console error: {msg.text[:200]}"))
    page.on("pageerror", lambda exc: problems.append(f"page error: {str(exc)[:200]}"))

    def route(r):
        url = r.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            problems.append(f"loads from the network: {url[:120]}")
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(base + rel.as_posix(), wait_until="load")
        page.wait_for_timeout(1500)  # plotly draws after load; MATH_JS waits for MathJax itself
        math = page.evaluate(MATH_JS)
    except Exception as err:  # a page that does not load is a finding, not a crash of the check
        problems.append(f"did not load: {str(err).splitlines()[0][:200]}")
        page.close()
        return dict(page=rel.as_posix(), mb=weight / 1e6, figures=0, sliders=0, math=0, problems=problems)
    if math["raw"] > 0 or math["typeset"] < math["math"] or math["errors"]:
        problems.append(f"math: {math['math']} expressions, {math['typeset']} typeset, {math['errors']} MathJax errors, "
                        f"{max(math['raw'], 0)} text nodes with raw TeX")
    figures = page.evaluate(FIGURES_JS)
    sliders_moved = 0
    for fig in figures:
        name = f"figure {fig['index']} ({fig['title'] or 'untitled'})"
        if fig["traces"] == 0 or fig["drawn"] == 0:
            problems.append(f"{name}: no drawn traces ({fig['traces']} traces, {fig['drawn']} drawn elements)")
        if fig["flat"]:
            problems.append(f"{name}: opens with {fig['flat']} heatmap(s) of one flat colour")
        problems.extend(f"{name}: {what}" for what in page.evaluate(LAYOUT_JS, fig["index"]))  # before any click
        if fig["sliders"]:
            rail = page.evaluate(RAIL_JS, fig["index"])
            if rail is None:
                problems.append(f"{name}: has a slider but no rail was drawn")
                continue
            before = page.evaluate(FINGERPRINT_JS, fig["index"])
            target = 0 if rail["active"] != 0 else rail["n"] - 1
            frac = (target + 0.5) / rail["n"]
            page.mouse.click(rail["x"] + frac * rail["w"], rail["y"] + rail["h"] / 2)
            page.wait_for_timeout(400)
            after = page.evaluate(FINGERPRINT_JS, fig["index"])
            if after == before:
                problems.append(f"{name}: moving its slider to step {target} changed nothing")
            else:
                sliders_moved += 1
    problems.extend(f"progress bar short of its end: {p}" for p in page.evaluate(PROGRESS_JS))
    problems.extend(f"table header breaks inside the word {w!r}" for w in page.evaluate(HEADERS_JS))
    wide = page.evaluate(WIDE_JS)
    problems.extend(f"wider than the text column: {w}" for w in wide)
    shot = shots / (rel.with_suffix("").as_posix().replace("/", "__") + ".png")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    return dict(page=rel.as_posix(), mb=weight / 1e6, figures=len(figures), sliders=sliders_moved, math=math["math"],
                problems=problems)


def main(argv):
    from playwright.sync_api import sync_playwright

    root = Path(argv[1] if len(argv) > 1 else "_build/html").resolve()
    if not (root / "index.html").is_file():
        raise SystemExit(f"no built book at {root}: run `make book` first")
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set CHROMIUM=path)")
    shots = root.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    server = serve(root)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for rel in pages(root):
            results.append(check_page(browser, base, rel, root, shots))
            r = results[-1]
            print(f"{r['page']:32s} {r['mb']:5.2f} MB  {r['figures']:3d} figures  {r['sliders']:2d} sliders moved  "
                  f"{r['math']:4d} math  {'ok' if not r['problems'] else str(len(r['problems'])) + ' problem(s)'}",
                  flush=True)
            for problem in r["problems"]:
                print(f"    {problem}")
        browser.close()
    server.shutdown()
    failed = [r for r in results if r["problems"]]
    print(f"{len(results)} pages, {len(failed)} with problems; screenshots in {shots}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
