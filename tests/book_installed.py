"""Every chapter as a Colab reader runs it: the package installed from a wheel (not editable) into a fresh
venv with the lock's pins, the chapter notebooks alone in a folder outside the repository (no checkpoints/,
runs/ or benchmarks/ beside them), an empty data root, and the data downloaded from a local mirror of the
official files (tests/mirror.py), as in tests/book_from_scratch.py.

    python tests/book_installed.py                          (make test-installed; CI runs it)
    python tests/book_installed.py --notebooks 06           chapters whose file name starts with 06
    python tests/book_installed.py --wheel dist/x.whl       a given wheel instead of one built from the checkout

It checks that the kernel imports spikformer_lite from the fresh venv's site-packages, prints the wheel's
size, removes its temporary folder (also on failure) and exits nonzero on any failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from mirror import build, serve  # noqa: E402

# The kernel's own answer: where spikformer_lite comes from, checked inside the notebook's kernel.
WHERE = """\
import sys, sysconfig
from pathlib import Path
import spikformer_lite
site = Path(sysconfig.get_paths()["purelib"]).resolve()
where = Path(spikformer_lite.__file__).resolve()
print("kernel python:", sys.executable)
print("spikformer_lite from:", where)
assert where.is_relative_to(site), f"spikformer_lite from {where}, not from {site}"
assert not where.is_relative_to(Path(REPO).resolve()), f"spikformer_lite from the repository: {where}"
"""


def run(cmd, **kw):
    """Run a command, its output shown only if it fails (pip warns about every local index folder)."""
    print("$", " ".join(map(str, cmd)), flush=True)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if proc.returncode:
        sys.exit(f"FAIL ({proc.returncode}): {' '.join(map(str, cmd))}\n{(proc.stdout + proc.stderr)[-5000:]}")


def build_wheel(tmp):
    """The wheel from a copy of the package (the checkout gets no build/ or egg-info)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "spikformer_lite", src / "spikformer_lite", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run([sys.executable, "-m", "pip", "-q", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src])
    return next((tmp / "dist").glob("spikformer_lite-*.whl"))


def make_venv(tmp, wheel, python):
    venv = tmp / "venv"
    run([python, "-m", "venv", venv])
    pip = [venv / "bin/python", "-m", "pip", "-q", "--disable-pip-version-check"]
    t0 = time.perf_counter()
    run([*pip, "install", "-r", REPO / "requirements-lock.txt"])
    run([*pip, "install", "--no-deps", wheel])
    print(f"venv with the lock and the wheel in {time.perf_counter() - t0:.0f} s", flush=True)
    run([venv / "bin/python", "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"])
    return venv


def kernel_env(venv, env):
    """The venv's kernelspec first, ahead of any user-level one; no PYTHONPATH into the repository."""
    env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_DATA_DIR")}
    env["JUPYTER_PATH"] = str(venv / "share/jupyter")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def check_kernel(venv, env, folder):
    """Fail loudly unless the kernel nbmake will start (python3) is the venv's, importing the installed wheel."""
    out = subprocess.run([venv / "bin/jupyter", "kernelspec", "list", "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    spec = json.loads(out)["kernelspecs"]["python3"]
    argv0 = Path(spec["spec"]["argv"][0])
    print("kernelspec python3:", spec["resource_dir"], "->", argv0, flush=True)
    if not Path(spec["resource_dir"]).resolve().is_relative_to(venv.resolve()) or argv0.parent.resolve() != (venv / "bin").resolve():
        sys.exit(f"FAIL: the python3 kernelspec is not the fresh venv's: {spec['resource_dir']} ({argv0})")
    path = folder / "where.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "id": "where", "metadata": {},
                                           "outputs": [], "source": f"REPO = {str(REPO)!r}\n" + WHERE}],
                                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                                "nbformat": 4, "nbformat_minor": 5}))
    # nbclient (what nbmake runs) in the venv, starting the kernel by name as nbmake does
    code = ("import sys, nbformat, nbclient; nb = nbformat.read(sys.argv[1], 4); "
            "nbclient.NotebookClient(nb, kernel_name='python3').execute(); "
            "print(''.join(o.get('text', '') for o in nb.cells[0].outputs))")
    proc = subprocess.run([venv / "bin/python", "-c", code, path], env=env, cwd=folder, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"FAIL: the kernel does not import spikformer_lite from the fresh venv:\n{(proc.stdout + proc.stderr)[-3000:]}")
    for line in proc.stdout.strip().splitlines():
        print("  " + line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", nargs="*", default=None, metavar="PREFIX",
                        help="only chapters whose file name starts with one of these (e.g. 06)")
    parser.add_argument("--wheel", default=None, help="install this wheel instead of building one from the checkout")
    parser.add_argument("--python", default=os.environ.get("PYTHON", "python3"), help="the interpreter for the fresh venv")
    args = parser.parse_args()
    shared = os.environ.get("SPIKFORMER_DATA") or str(REPO.parent / "shared" / "data")
    chapters = sorted((REPO / "book").glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        chapters = [c for c in chapters if c.name.startswith(tuple(args.notebooks))]
    if not chapters:
        sys.exit("FAIL: no chapter matches")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="book_installed_") as tmp:
        tmp = Path(tmp)
        wheel = Path(args.wheel).resolve() if args.wheel else build_wheel(tmp)
        print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB", flush=True)
        venv = make_venv(tmp, wheel, args.python)
        book = tmp / "book"
        book.mkdir()
        for c in chapters:
            shutil.copy(c, book / c.name)
        build(tmp / "mirror", shared)
        server, url = serve(tmp / "mirror")
        try:
            empty = tmp / "data"
            empty.mkdir()
            print(f"mirror served at {url}; data root {empty} (empty); chapters in {book}: {[c.name for c in chapters]}", flush=True)
            env = kernel_env(venv, dict(os.environ, SPIKFORMER_DATA=str(empty), SPIKFORMER_DOWNLOAD_MIRROR=url))
            check = tmp / "check"
            check.mkdir()
            check_kernel(venv, env, check)
            t0 = time.perf_counter()
            rc = subprocess.call([venv / "bin/python", "-m", "pytest", "--nbmake", "--nbmake-timeout=600", str(book), "-q",
                                  "-p", "no:cacheprovider"], env=env, cwd=book)
            print(f"chapters ran in {time.perf_counter() - t0:.0f} s", flush=True)
        finally:
            server.shutdown()
        fetched = sorted(str(p.relative_to(empty)) for p in empty.rglob("*") if p.is_file() and "cache" not in p.parts)
        print("fetched into the empty data root:", fetched)
        print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB; "
              f"{'passed' if rc == 0 else 'FAILED'} in {time.perf_counter() - start:.0f} s", flush=True)
        return rc


if __name__ == "__main__":
    sys.exit(main())
