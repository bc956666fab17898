"""File helpers shared by the data loaders and the checkpoints."""

import hashlib
from importlib import resources
from pathlib import Path


def package_path(*parts):
    """A file or folder shipped inside the package (checkpoints/, results/), found with importlib.resources:
    the same place in a git checkout, an editable install and a pip install into site-packages (Colab)."""
    return Path(str(resources.files("spikformer_lite").joinpath(*parts)))


def file_hash(path, algorithm, chunk=1 << 20):
    """Hex digest of a file's bytes with ``hashlib`` algorithm ``algorithm`` ("md5", "sha256"), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
