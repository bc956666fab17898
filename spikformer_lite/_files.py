"""File helpers shared by the data loaders and the checkpoints."""

import hashlib


def file_hash(path, algorithm, chunk=1 << 20):
    """Hex digest of a file's bytes with ``hashlib`` algorithm ``algorithm`` ("md5", "sha256"), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
