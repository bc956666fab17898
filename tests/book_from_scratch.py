"""Every chapter under nbmake as a new reader on Binder or Colab meets it: an empty data root, and the
data downloaded on first use. There is no network here, so the downloads come from a local mirror of
the official files, built from the offline copies (tests/mirror.py) and served over http on localhost.

    python tests/book_from_scratch.py        (make test-fresh; CI runs it)
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mirror import build, serve  # noqa: E402


def main():
    shared = os.environ.get("SPIKFORMER_DATA") or str(HERE.parents[1] / "shared" / "data")
    with tempfile.TemporaryDirectory(prefix="book_from_scratch_") as tmp:
        start = time.perf_counter()
        build(Path(tmp) / "mirror", shared)
        server, url = serve(Path(tmp) / "mirror")
        empty = Path(tmp) / "data"
        empty.mkdir()
        print(f"mirror built in {time.perf_counter() - start:.0f} s, served at {url}; data root {empty} (empty)", flush=True)
        env = dict(os.environ, SPIKFORMER_DATA=str(empty), SPIKFORMER_DOWNLOAD_MIRROR=url)
        rc = subprocess.call([sys.executable, "-m", "pytest", "--nbmake", "--nbmake-timeout=600", str(HERE.parent / "book"), "-q"], env=env,
                             cwd=HERE.parent)
        server.shutdown()
        fetched = sorted(str(p.relative_to(empty)) for p in empty.rglob("*") if p.is_file() and "cache" not in p.parts)
        print("fetched into the empty data root:", fetched)
        return rc


if __name__ == "__main__":
    sys.exit(main())
