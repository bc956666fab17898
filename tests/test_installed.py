"""The package as a reader installs it: a wheel, not editable, in a folder with no repository beside it
(Colab: `pip install "spikformer-lite @ git+..."`). What the chapters read must come with it."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent("""
    import sys
    from pathlib import Path
    import spikformer_lite as sl
    from spikformer_lite import ablations, benchmark, published
    site = Path(sys.argv[1]).resolve()
    assert Path(sl.__file__).resolve().is_relative_to(site), sl.__file__        # the installed copy, not the checkout
    for folder in (published.CHECKPOINTS, ablations.RESULTS, benchmark.RESULTS):
        assert folder.resolve().is_relative_to(site) and folder.is_dir(), folder
    model, entry = published.load_published("cifar10-wide")                    # sha256-checked weights
    assert entry["data"] == "cifar10" and sum(p.numel() for p in model.parameters()) == entry["params"]
    assert (published.CHECKPOINTS / entry["log"]).is_file()
    results = ablations.load_results()
    assert set(results) == set(ablations.ABLATIONS) and all(r["log"] for r in results.values())
    assert sorted(benchmark.RESULTS.glob("*-events.txt")) and sorted(benchmark.RESULTS.glob("*-engine.txt"))
    print("ok")
""")


def test_a_wheel_installed_outside_the_repository_has_what_the_chapters_read(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from book_installed import build_wheel  # the wheel from a copy: the checkout gets no build/ or egg-info

    wheel = build_wheel(tmp_path)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    assert 5e6 < wheel.stat().st_size < 20e6, f"the wheel weighs {wheel.stat().st_size / 1e6:.1f} MB"  # checkpoints in it
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-c", CHECK, str(site)], cwd=elsewhere, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path)}, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
