"""The checkpoints committed under spikformer_lite/checkpoints/: each matches its manifest entry, and the README's table
states what the manifest records (so the two cannot drift apart when a run is re-exported)."""

import csv
from pathlib import Path

import pytest

from spikformer_lite.checkpoint import sha256sum
from spikformer_lite.published import CHECKPOINTS, load_published, manifest

ENTRIES = manifest()
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_manifest_lists_the_checkpoints_the_book_uses():
    assert {"nmnist-quick", "cifar10-quick", "cifar10-wide", "cifar10dvs-sim-quick"} <= set(ENTRIES)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_published_file_matches_its_manifest_entry(name):
    entry = ENTRIES[name]
    assert sha256sum(CHECKPOINTS / entry["file"]) == entry["sha256"]
    model, _ = load_published(name)
    assert sum(p.numel() for p in model.parameters()) == entry["params"]
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in model.cfg.__dict__.items()}
    assert {k: cfg[k] for k in entry["config"]} == entry["config"]
    with open(CHECKPOINTS / entry["log"]) as f:
        log = list(csv.DictReader(f))
    assert len(log) == entry["epochs_done"] <= entry["epochs_planned"]
    assert abs(float(log[-1]["wall_s"]) / 3600 - entry["wall_hours"]) < 1e-3
    assert 0 < entry["test_acc"] <= 1 and entry["test_n"] > 0


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_readme_table_row_states_the_manifest_accuracy_and_epochs(name):
    entry = ENTRIES[name]
    rows = [line for line in README.splitlines() if line.startswith(f"| `{name}`")]
    assert len(rows) == 1, f"README.md needs one published-checkpoints row for {name}"
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    epochs, top1 = cells[3], cells[4]
    acc = 100 * entry["test_acc"]
    assert top1.startswith((f"{acc:.2f}%", f"{acc:.1f}%")), (top1, acc)
    done, planned = entry["epochs_done"], entry["epochs_planned"]
    if done < planned:
        assert epochs.startswith(f"{done} of {planned}") and "interim" in rows[0], epochs
    else:
        assert epochs.split()[0] == str(done), epochs
