"""Small files in the real on-disk formats of the event data sets, for offline tests.

- DVS128 Gesture as tonic stores it: <root>/DVSGesture/ibmGesture<Split>/user<NN>_<light>/<label>.npy,
  each an int (N, 4) array of x, y, p, t (milliseconds), next to the archive file tonic looks for.
- CIFAR10-DVS as tonic stores it: <root>/CIFAR10DVS/<class>/cifar10_<class>_<i>.aedat4, AEDAT 4.0 files:
  the magic line, a length-prefixed IOHeader flatbuffer ("IOHE") whose XML description declares one
  event stream of 128 x 128, then packets (stream id, length, size-prefixed "EVTS" EventPacket flatbuffer
  of 16-byte Event structs t:int64, x:int16, y:int16, on:bool). Written with the flatbuffers package,
  read back by tonic through the aedat package.
"""

import struct
from pathlib import Path

import numpy as np

CIFAR10DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def write_dvsgesture(root, split="train", n=100, seed=0):
    rng = np.random.default_rng(seed)
    folder = Path(root) / "DVSGesture" / ("ibmGestureTrain" if split == "train" else "ibmGestureTest")
    for i in range(n):
        user = folder / f"user{i // 11 + 1:02d}_{['fluorescent', 'led'][i % 2]}"
        user.mkdir(parents=True, exist_ok=True)
        m = int(rng.integers(50, 200))
        ev = np.stack([rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m),
                       np.sort(rng.integers(0, 6000, m))], axis=1)
        np.save(user / f"{i % 11}.npy", ev)
    (folder.parent / f"{folder.name}.tar.gz").write_bytes(b"")  # tonic only checks that it exists


AEDAT4_EVENT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "?"],
                         "offsets": [0, 8, 10, 12], "itemsize": 16})  # the 16-byte Event struct, 3 bytes of padding


def aedat4_bytes(t, x, y, on, width=128, height=128, packet_size=1000, fast=False):
    """The bytes of an AEDAT 4.0 file. ``fast``: each packet's events go into the flatbuffer as one
    numpy block instead of struct by struct (the same bytes, tested; for large synthetic sets)."""
    import flatbuffers

    description = (f'<dv version="2.0"><node name="outInfo" path="/outInfo/"><node name="0" path="/outInfo/0/">'
                   f'<attr key="typeIdentifier" type="string">EVTS</attr><node name="info" path="/outInfo/0/info/">'
                   f'<attr key="sizeX" type="int">{width}</attr><attr key="sizeY" type="int">{height}</attr>'
                   f'</node></node></node></dv>')
    b = flatbuffers.Builder(1024)
    desc = b.CreateString(description)
    b.StartObject(3)
    b.PrependInt32Slot(0, 0, 0)  # compression: None
    b.PrependInt64Slot(1, -1, 0)  # file_data_position: -1 (no data table)
    b.PrependUOffsetTRelativeSlot(2, desc, 0)
    b.Finish(b.EndObject(), file_identifier=b"IOHE")
    header = bytes(b.Output())
    out = [b"#!AER-DAT4.0\r\n", struct.pack("<I", len(header)), header]
    for lo in range(0, len(t), packet_size):
        hi = min(lo + packet_size, len(t))
        b = flatbuffers.Builder(16 * (hi - lo) + 64)
        b.StartVector(16, hi - lo, 8)
        if fast:
            block = np.zeros(hi - lo, AEDAT4_EVENT)
            block["t"], block["x"], block["y"], block["on"] = t[lo:hi], x[lo:hi], y[lo:hi], on[lo:hi]
            raw = block.tobytes()
            b.head -= len(raw)
            b.Bytes[b.head:b.head + len(raw)] = raw
        for i in range(hi - 1, lo - 1, -1) if not fast else ():  # flatbuffers builds back to front
            b.Prep(8, 16)
            b.Pad(3)
            b.PrependBool(bool(on[i]))
            b.PrependInt16(int(y[i]))
            b.PrependInt16(int(x[i]))
            b.PrependInt64(int(t[i]))
        vec = b.EndVector()
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, vec, 0)
        b.FinishSizePrefixed(b.EndObject(), file_identifier=b"EVTS")
        packet = bytes(b.Output())
        out += [struct.pack("<II", 0, len(packet)), packet]
    return b"".join(out)


def write_cifar10dvs(root, per_class=100, seed=0, events=(20, 60), keep=True, classes=CIFAR10DVS_CLASSES):
    """per_class recordings per class (tonic wants at least 1,000 files in all), each with a number of
    events drawn from ``events`` (low, high); returns their events if ``keep``."""
    rng = np.random.default_rng(seed)
    written = {}
    for c, name in enumerate(CIFAR10DVS_CLASSES):
        if name not in classes:
            continue
        folder = Path(root) / "CIFAR10DVS" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            m = int(rng.integers(*events))
            t = np.sort(rng.integers(0, 100_000, m))
            x, y, on = rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m)
            (folder / f"cifar10_{name}_{i}.aedat4").write_bytes(aedat4_bytes(t, x, y, on, fast=m > 1000))
            if keep:
                written[(c, i)] = (t, x, y, on)
    (Path(root) / "CIFAR10DVS" / "CIFAR10DVS.zip").write_bytes(b"")  # tonic only checks that it exists
    return written
