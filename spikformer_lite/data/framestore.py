"""Event frames of a whole split on disk, as small integer counts, read one batch at a time.

An event frame counts the events that fell on each (time bin, polarity, pixel), so it holds small
integers. Held as float32 in memory, CIFAR10-DVS's 9,000 training recordings at T=16 would take
9,000 x 16 x 2 x 128 x 128 x 4 bytes = 18.9 GB before the first step. A ``FrameStore`` keeps them
instead in one ``.npy`` file of the smallest unsigned integer type that holds the largest count
(usually uint8: 4.7 GB on disk for that split), and reads the samples of a batch with ``os.preadv``:
the process holds one batch, the operating system's page cache holds what fits, and peak memory
does not grow with the number of recordings. The batch becomes float where it is used
(``train.make_batch``, on the training device).

The file is written once (``FrameStore.build``), with a progress bar. A killed build resumes where it
stopped: samples are written into ``frames.partial.npy`` and ``progress.json`` records how many are
done; the finished file is renamed to ``frames.npy`` and ``meta.json`` is written last, so a folder
without ``meta.json`` is never read as a store.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

COUNT_DTYPES = (np.uint8, np.uint16, np.uint32)
FRAMES, PARTIAL, PROGRESS, META, LOCK = "frames.npy", "frames.partial.npy", "progress.json", "meta.json", "build.lock"


def count_dtype(max_count):
    """The smallest of uint8, uint16, uint32 that holds ``max_count``; OverflowError above uint32's range."""
    for dtype in COUNT_DTYPES:
        if max_count <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise OverflowError(f"an event count of {max_count:,} does not fit in uint32 (at most "
                        f"{np.iinfo(np.uint32).max:,} events per pixel, bin and polarity)")


def to_counts(frames, dtype, name="frames"):
    """``frames`` (event counts, any numeric type) as ``dtype``, checked: every value a whole number in its range.

    Raises ValueError for a negative or fractional count and OverflowError for one that ``dtype``
    cannot hold, naming the largest count and the type that would hold it.
    """
    frames = np.asarray(frames)
    if frames.size == 0:
        return frames.astype(dtype)
    lo, hi = frames.min(), frames.max()
    if lo < 0 or (frames.dtype.kind == "f" and not np.array_equal(frames, np.floor(frames))):
        raise ValueError(f"{name} must hold event counts (whole numbers >= 0); found {lo} .. {hi}")
    if hi > np.iinfo(dtype).max:
        raise OverflowError(f"{name}: a count of {int(hi):,} does not fit in {np.dtype(dtype).name} "
                            f"(at most {np.iinfo(dtype).max:,}); it needs {count_dtype(int(hi)).name}")
    return frames.astype(dtype)


def _header_size(path):
    """Bytes before the data in an .npy file, and its (shape, dtype)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if fortran:
            raise ValueError(f"{path}: a frame store must be C-ordered")
        return f.tell(), tuple(shape), np.dtype(dtype)


def _new_npy(path, shape, dtype):
    """Create an .npy file of ``shape`` and ``dtype`` (sparse zeros) without writing its data; returns the header size."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        offset = f.tell()
        f.truncate(offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return offset


def _integer_indices(idx):
    """``idx`` as a 1-D int64 array; a boolean mask or fractional indices are refused, not converted."""
    arr = np.atleast_1d(np.asarray(idx))
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"frame store indices must be integers, got {arr.dtype} (for a boolean mask, pass "
                        "np.flatnonzero(mask))")
    return arr.astype(np.int64)


def _pread_into(fd, buffer, offset):
    """Read len(buffer) bytes at ``offset`` into ``buffer``; returns how many were read."""
    if hasattr(os, "preadv"):  # Linux, macOS: no shared file position
        return os.preadv(fd, [buffer], offset)
    os.lseek(fd, offset, os.SEEK_SET)  # elsewhere (Windows): seek, then read
    got = 0
    while got < len(buffer):
        chunk = os.read(fd, len(buffer) - got)
        if not chunk:
            break
        buffer[got:got + len(chunk)] = chunk
        got += len(chunk)
    return got


def _pwrite(fd, data, offset):
    """Write all of ``data`` at ``offset`` (a short write, e.g. on a full disk, is continued or raises)."""
    view, done = memoryview(data), 0
    while done < len(view):
        if hasattr(os, "pwrite"):
            wrote = os.pwrite(fd, view[done:], offset + done)
        else:  # Windows: seek, then write
            os.lseek(fd, offset + done, os.SEEK_SET)
            wrote = os.write(fd, view[done:])
        if wrote <= 0:
            raise OSError(f"wrote {done} of {len(view)} bytes at offset {offset}: is the disk full?")
        done += wrote


def _lock(file):
    """An exclusive lock on ``file`` where the system has flock (Linux, macOS); elsewhere none."""
    try:
        import fcntl
    except ImportError:
        return
    fcntl.flock(file, fcntl.LOCK_EX)


def _write_json(path, obj):
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


class FrameStore:
    """Integer frames (N, T, P, H, W) of one split in ``<folder>/frames.npy``, read a batch at a time.

    ``store[i]`` is sample ``i`` as a torch integer tensor (T, P, H, W); ``store[idx]`` for a list,
    array or tensor of indices is the batch (B, T, P, H, W). Nothing else is kept in memory.
    ``store.subset(idx)`` is a view of some samples. The file is an ordinary .npy: ``np.load(path,
    mmap_mode="r")`` reads it too.
    """

    def __init__(self, folder, indices=None):
        self.folder = Path(folder)
        meta_path = self.folder / META
        if not meta_path.is_file():
            raise FileNotFoundError(f"no finished frame store in {self.folder} (no {META}); build it with "
                                    "FrameStore.build")
        self.meta = json.loads(meta_path.read_text())
        self.path = self.folder / FRAMES
        self.offset, shape, self.dtype = _header_size(self.path)
        self._n, self.sample_shape = shape[0], shape[1:]
        if self._n != self.meta["n"] or list(self.sample_shape) != self.meta["sample_shape"]:
            raise ValueError(f"{self.path} holds {shape}, but {META} says {self.meta['n']} samples of "
                             f"{tuple(self.meta['sample_shape'])}: the store is damaged; delete {self.folder}")
        self.sample_bytes = int(np.prod(self.sample_shape)) * self.dtype.itemsize
        expected = self.offset + self._n * self.sample_bytes
        if self.path.stat().st_size != expected:
            raise ValueError(f"{self.path} has {self.path.stat().st_size:,} bytes, expected {expected:,}: the store "
                             f"is damaged; delete {self.folder} to rebuild it")
        self.indices = None if indices is None else np.asarray(indices, np.int64)
        self._fd = self._pid = None

    # ---------------------------------------------------------------- reading

    def __len__(self):
        return self._n if self.indices is None else len(self.indices)

    @property
    def shape(self):
        return (len(self), *self.sample_shape)

    @property
    def nbytes_on_disk(self):
        return self.path.stat().st_size

    def _file(self):
        if self._pid != os.getpid():  # one descriptor per process (DataLoader workers, torchrun ranks)
            self._fd, self._pid = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0)), os.getpid()
        return self._fd

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_fd", "_pid")}

    def __setstate__(self, state):
        self.__dict__.update(state, _fd=None, _pid=None)

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)

    def read(self, idx, out=None):
        """Samples ``idx`` (an int or a 1-D sequence of ints) as a numpy array of the store's dtype."""
        single = np.ndim(idx) == 0
        idx = _integer_indices(idx)
        n = len(self)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for a frame store of {n} samples: {idx.min()} .. {idx.max()}")
        idx = np.where(idx < 0, idx + n, idx)
        rows = idx if self.indices is None else self.indices[idx]
        if out is None:
            out = np.empty((len(rows), *self.sample_shape), self.dtype)
        fd = self._file()
        for j, row in enumerate(rows.tolist()):
            got = _pread_into(fd, memoryview(out[j]).cast("B"), self.offset + row * self.sample_bytes)
            if got != self.sample_bytes:
                raise OSError(f"{self.path}: read {got} of {self.sample_bytes} bytes of sample {row}; "
                              "the file was truncated after it was built")
        return out[0] if single else out

    def __getitem__(self, idx):
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        frames = self.read(idx)
        try:
            return torch.from_numpy(frames)
        except TypeError:  # torch before 2.3 has no uint16/uint32 tensors: a wider signed type holds the counts
            return torch.from_numpy(frames.astype(np.int32 if frames.dtype == np.uint16 else np.int64))

    def subset(self, idx):
        """A view of samples ``idx`` of this store (no data is read)."""
        idx = _integer_indices(idx.cpu().numpy() if isinstance(idx, torch.Tensor) else idx)
        base = np.arange(self._n) if self.indices is None else self.indices
        return FrameStore(self.folder, base[idx])

    def __repr__(self):
        return (f"FrameStore({len(self)} samples of {tuple(self.sample_shape)} {self.dtype.name}, "
                f"{self.nbytes_on_disk / 1e9:.2f} GB at {self.folder})")

    # ---------------------------------------------------------------- writing

    @classmethod
    def build(cls, folder, n, make, progress=True, desc="framing", meta=None, commit_every_s=2.0):
        """Open the store in ``folder``, building it first if it is not finished.

        ``make(i)`` returns sample ``i``'s frames (event counts, any numeric dtype, the same shape for
        every sample). Samples are written in order into ``frames.partial.npy``; every
        ``commit_every_s`` seconds the file is synced and ``progress.json`` records how many are done,
        so a killed build continues from there. The type is the smallest that holds sample 0's counts
        and widens (the part already written is converted) when a later count needs it. One process builds at a time (a file lock); another
        waiting on the lock opens the finished store.
        """
        from ..progress import tqdm

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / META).is_file():
            return cls(folder)
        if n < 1:
            raise ValueError(f"a frame store needs at least one sample, got n={n}")
        with open(folder / LOCK, "w") as lock:
            _lock(lock)
            if (folder / META).is_file():  # another process finished it while this one waited
                return cls(folder)
            partial, progress_path = folder / PARTIAL, folder / PROGRESS
            state = json.loads(progress_path.read_text()) if progress_path.is_file() else None
            if state is not None and (state.get("n") != n or not partial.is_file()):
                state = None  # a build of something else, or its file is gone: start again
            if state is None:
                first = np.asarray(make(0))
                dtype = count_dtype(int(first.max()) if first.size else 0)
                offset = _new_npy(partial, (n, *first.shape), dtype)
                state = dict(n=n, done=0, sample_shape=list(first.shape))
                _write_json(progress_path, state)
            shape = tuple(state["sample_shape"])
            offset, file_shape, dtype = _header_size(partial)  # the type is the file's: widening may have changed it
            if file_shape != (n, *shape):
                raise ValueError(f"{partial} holds {file_shape}, but {PROGRESS} says {(n, *shape)}: "
                                 f"delete {folder} to rebuild")
            sample_bytes = int(np.prod(shape)) * dtype.itemsize
            bar = tqdm(total=n, initial=state["done"], desc=desc, disable=not progress, leave=False,
                       dynamic_ncols=True, unit="rec")
            fd = os.open(partial, os.O_RDWR | getattr(os, "O_BINARY", 0))
            max_count, last_commit = int(state.get("max_count", 0)), time.monotonic()
            try:
                for i in range(state["done"], n):
                    frames = np.asarray(make(i))
                    if frames.shape != shape:
                        raise ValueError(f"sample {i} has frames of shape {frames.shape}, the store holds {shape}")
                    top = int(frames.max()) if frames.size else 0
                    if top > np.iinfo(dtype).max:  # widen the type: convert what is written, then go on
                        wider = count_dtype(top)  # OverflowError past uint32, with the file still open
                        os.close(fd)
                        fd = None
                        dtype, offset = cls._widen(partial, n, shape, dtype, wider, i)
                        sample_bytes = int(np.prod(shape)) * dtype.itemsize
                        fd = os.open(partial, os.O_RDWR | getattr(os, "O_BINARY", 0))
                    data = to_counts(frames, dtype, name=f"sample {i}")
                    _pwrite(fd, np.ascontiguousarray(data).tobytes(), offset + i * sample_bytes)
                    max_count = max(max_count, top)
                    bar.update(1)
                    if time.monotonic() - last_commit > commit_every_s or i == n - 1:
                        os.fsync(fd)
                        state.update(done=i + 1, max_count=max_count)
                        _write_json(progress_path, state)
                        last_commit = time.monotonic()
            finally:
                if fd is not None:
                    os.close(fd)
                bar.close()
            os.replace(partial, folder / FRAMES)
            _write_json(folder / META, dict(n=n, sample_shape=list(shape), dtype=dtype.name, max_count=max_count,
                                            **(meta or {})))
            progress_path.unlink()
        return cls(folder)

    @staticmethod
    def _widen(partial, n, shape, old, new, done, chunk=64):
        """Rewrite the first ``done`` samples of ``partial`` as dtype ``new``; returns (new, header size)."""
        tmp = partial.with_name("frames.widen.npy")
        new_offset = _new_npy(tmp, (n, *shape), new)
        old_offset = _header_size(partial)[0]
        per = int(np.prod(shape))
        with open(partial, "rb") as src, open(tmp, "r+b") as dst:
            for lo in range(0, done, chunk):
                hi = min(done, lo + chunk)
                src.seek(old_offset + lo * per * old.itemsize)
                block = np.frombuffer(src.read((hi - lo) * per * old.itemsize), old)
                dst.seek(new_offset + lo * per * new.itemsize)
                dst.write(block.astype(new).tobytes())
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, partial)
        return np.dtype(new), new_offset
