"""book/_vendor.py: what it unpacks is checked first, and a tarball cannot write outside its folder."""

import base64
import hashlib
import importlib.util
import io
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("vendor", ROOT / "book" / "_vendor.py")
vendor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vendor)


def _tarball(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_integrity_is_npms_sha512_format(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert vendor.integrity(tmp_path / "f") == "sha512-" + base64.b64encode(hashlib.sha512(b"abc").digest()).decode()


def test_every_pin_is_a_sha512_integrity():
    for spec_, (pin, prefix, target) in vendor.PACKAGES.items():
        assert pin.startswith("sha512-") and len(base64.b64decode(pin[7:])) == 64, spec_
        assert prefix.startswith("package/") and ".." not in target


def test_unpack_keeps_the_folder_drops_source_maps_and_refuses_escapes(tmp_path):
    good = _tarball(tmp_path / "good.tgz", {"package/es5/a.js": b"a", "package/es5/x/b.js": b"b",
                                            "package/es5/a.js.map": b"m", "package/other.js": b"o"})
    vendor.unpack(good, "package/es5/", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.js")) == ["a.js", "x/b.js"]
    assert not list((tmp_path / "out").rglob("*.map"))
    bad = _tarball(tmp_path / "bad.tgz", {"package/es5/../../evil.js": b"x"})
    with pytest.raises(SystemExit, match="unsafe path"):
        vendor.unpack(bad, "package/es5/", tmp_path / "out2")
    with pytest.raises(SystemExit, match="nothing under"):
        vendor.unpack(good, "package/missing/", tmp_path / "out3")
