"""Fetch the browser libraries the built book needs, so that its pages load nothing from a CDN.

Run: python book/_vendor.py   (``make book`` runs it; it does nothing when the files are already there).

Each library is an exact version from the npm registry, checked against its pinned sha512
(the registry's own ``integrity`` field) before anything is unpacked into ``book/_static/vendor``:

- MathJax 3 (``es5/`` only): typesets the math; ``mathjax_path`` in ``_config.yml`` points here.
- require.js and the ipywidgets HTML manager: what myst-nb loads on a page that embeds widget state
  (``nb_ipywidgets_js`` in ``_config.yml``). Our pages embed none today (``book/_ext/offline_pages.py``
  drops it and each live widget has a figure without a kernel beside it), so these are for a future
  chapter that embeds plain ipywidgets.

The folder is ignored by git; ``book/_ext/offline_pages.py`` adds it to the pages' static files.
"""

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "_static" / "vendor"

# name@version: (sha512 integrity from `npm view NAME@VERSION dist.integrity`, folder in the tarball, target)
PACKAGES = {
    "mathjax@3.2.2": (
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "package/es5/", "mathjax"),
    "requirejs@2.3.7": (
        "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        "package/require.js", "requirejs/require.js"),
    "@jupyter-widgets/html-manager@1.0.15": (
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        "package/dist/", "html-manager"),
}
STAMP = VENDOR / "packages.json"


def integrity(path):
    return "sha512-" + base64.b64encode(hashlib.sha512(Path(path).read_bytes()).digest()).decode()


def unpack(tarball, prefix, target):
    """Extract the members under ``prefix`` (a folder ending in "/", or one file) to ``target``."""
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and
                   (m.name == prefix or (prefix.endswith("/") and m.name.startswith(prefix)))]
        if not members:
            raise SystemExit(f"{tarball.name}: nothing under {prefix!r}; the package layout changed")
        for m in members:
            if m.name.endswith(".map"):
                continue  # source maps: 6 MB the pages never load
            rel = Path(m.name[len(prefix):]) if prefix.endswith("/") else Path()
            if ".." in rel.parts:
                raise SystemExit(f"{tarball.name}: unsafe path {m.name!r}")
            dest = target / rel if prefix.endswith("/") else target
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def main():
    if STAMP.exists() and json.loads(STAMP.read_text()) == sorted(PACKAGES):
        return 0
    if shutil.which("npm") is None:
        raise SystemExit("book/_vendor.py needs npm (Debian: apt-get install npm) to fetch MathJax, "
                         "require.js and the widget manager from the npm registry")
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (pinned, prefix, target) in PACKAGES.items():
            out = subprocess.run(["npm", "pack", "--json", "--pack-destination", tmp, spec],
                                 check=True, capture_output=True, text=True).stdout
            tarball = Path(tmp) / json.loads(out)[0]["filename"]
            got = integrity(tarball)
            if got != pinned:
                raise SystemExit(f"{spec}: sha512 {got} is not the pinned {pinned}; not unpacking it")
            unpack(tarball, prefix, VENDOR / target)
            print(f"vendored {spec} -> book/_static/vendor/{target}")
    STAMP.write_text(json.dumps(sorted(PACKAGES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
