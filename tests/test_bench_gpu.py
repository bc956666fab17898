"""benchmarks/bench_gpu.py on a CPU: its --device cpu smoke run goes through every code path but the
CUDA-only ones (synchronisation, memory statistics, GradScaler), and without CUDA it measures nothing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "bench_gpu.py"


def bench(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_cpu_smoke_run_prints_a_row_of_numbers_for_each_contender():
    names = ["ours-torch-fp32", "ours-torch-bf16", "ours-triton-fp32", "sj-fp32"]
    proc = bench("--device", "cpu", "--batch", "2", "--rounds", "1", "--steps", "1", "--contenders", *names)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    number = r"\s+(\d+\.\d)"
    for name in ("ours-torch-fp32", "ours-torch-bf16", "sj-fp32"):
        # train img/s, eval img/s, train/SJ, eval/SJ, two memory columns ("-" on a CPU), 1st train s, 1st eval s
        row = re.search(rf"^{name}{number}{number}\s+(\d+\.\d\d)x\s+(\d+\.\d\d)x\s+-\s+-{number}{number}$",
                        proc.stdout, re.M)
        assert row, f"no row of numbers for {name}:\n{proc.stdout}"
        assert all(float(v) > 0 for v in row.groups())
    assert re.search(r"^sj-fp32\s+\S+\s+\S+\s+1\.00x\s+1\.00x", proc.stdout, re.M)  # SpikingJelly's best is itself
    assert re.search(r"^ours-triton-fp32\s+skipped: triton runs on CUDA tensors only$", proc.stdout, re.M)
    assert re.search(r"^ours best vs SpikingJelly best: train ours-torch-\w+ \d+\.\d\dx sj-fp32; eval", proc.stdout, re.M)


def test_a_failing_contender_shows_its_error_and_the_exit_is_nonzero_only_when_all_failed(tmp_path):
    (tmp_path / "spikingjelly").mkdir()  # SpikingJelly's import fails in this process
    (tmp_path / "spikingjelly" / "__init__.py").write_text("raise ImportError('no spikingjelly here')\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--batch", "2", "--contenders", "sj-fp32",
                           "sj-fp16"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"^sj-fp32\s+error: ImportError: no spikingjelly here$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^sj-fp16\s+skipped: no fp16 autocast on the CPU$", proc.stdout, re.M), proc.stdout
    assert "n/a (no row of ours was measured)" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_without_cuda_it_says_so_and_exits_0():
    proc = bench("--contenders", "ours-torch-fp32")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("no CUDA device here, so nothing was measured")
