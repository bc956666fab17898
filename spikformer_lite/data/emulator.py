"""An event-camera emulator: static images to events, as a DVS watching a moving image records them.

CIFAR10-DVS (Li et al., 2017) was made by showing CIFAR-10 images on a monitor and
moving them with a repeated closed-loop smooth (RCLS) motion in front of a DVS
camera; N-MNIST (Orchard et al., 2015) instead moved the camera in three saccades.
Both motions are here: ``rcls_path`` (a smooth closed loop, repeated) and
``saccade_path`` (three straight saccades, the default of ``emulate_events``, which
the simulated CIFAR10-DVS of ``spikformer_lite.train.simulated_cifar10dvs`` and its
published checkpoint were made with). The camera is simulated. Each pixel remembers the log intensity at its last event; when the
current log intensity differs from it by at least the contrast threshold C, the
pixel emits an event (ON if brighter, OFF if darker) and its memory moves by C,
so a large change gives several events. After an event a pixel is blind for a
refractory period. Optional background noise adds random events.

Everything this produces is **simulated**, and labelled so wherever it is used.
"""

import numpy as np

from .events import EVENT_DTYPE

SIMULATED_PREFIX = "simulated events (spikformer_lite.data.emulator) from "
SIMULATED_SOURCE = SIMULATED_PREFIX + "CIFAR-10, JPEG re-encoded"  # from the offline copy (data.cifar.cifar10_source)


def to_gray(image):
    """(H, W, 3) uint8 or float image -> (H, W) float64 luminance in [0, 1]."""
    img = np.asarray(image, np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    return img @ np.array([0.299, 0.587, 0.114]) if img.ndim == 3 else img


def shift_image(image, dx, dy):
    """Move a (H, W) image by (dx, dy) pixels, sub-pixel, bilinear; edges repeat the border."""
    H, W = image.shape
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    x, y = np.clip(xs - dx, 0, W - 1), np.clip(ys - dy, 0, H - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    fx, fy = x - x0, y - y0
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def saccade_path(n_steps, amplitude=2.0):
    """Three straight saccades, right-down, left, back up to the start (like N-MNIST's triangle)."""
    corners = np.array([[0.0, 0.0], [amplitude, amplitude], [-amplitude, amplitude], [0.0, 0.0]])
    s = np.linspace(0, 3, n_steps)
    seg = np.minimum(s.astype(int), 2)
    frac = (s - seg)[:, None]
    return corners[seg] * (1 - frac) + corners[seg + 1] * frac  # (n_steps, 2): dx, dy


def rcls_path(n_steps, amplitude=2.0, loops=2):
    """A repeated closed-loop smooth motion, in the spirit of CIFAR10-DVS's RCLS: the image goes
    ``loops`` times round a circle of radius ``amplitude`` pixels, starting and ending at rest."""
    phase = np.linspace(0.0, 2 * np.pi * loops, n_steps)
    return np.stack([amplitude * np.sin(phase), amplitude * (1 - np.cos(phase))], axis=1)  # (n_steps, 2): dx, dy


def emulate_events(image, path=None, n_steps=60, step_us=5000, threshold=0.2, refractory_us=1000,
                   noise_rate_hz=0.0, scale=1, seed=0):
    """Events (tonic layout, sorted by t) of a DVS watching ``image`` move along ``path``.

    image: (H, W) or (H, W, 3). path: (n, 2) offsets (dx, dy) in input pixels, one per time step
    of ``step_us`` microseconds (default: ``saccade_path(n_steps)``). threshold: contrast threshold
    C on log intensity. scale: integer upsampling of the image onto the sensor (4 maps 32x32
    CIFAR-10 onto a 128x128 sensor, as CIFAR10-DVS). Returns (events, sensor_size).
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    gray = to_gray(image)
    if scale > 1:
        gray = np.kron(gray, np.ones((scale, scale)))
    H, W = gray.shape
    path = saccade_path(n_steps) if path is None else np.asarray(path, np.float64)
    rng = np.random.default_rng(seed)
    eps = 1e-3  # keeps log finite for black pixels
    reference = np.log(shift_image(gray, *(path[0] * scale)) + eps)  # memory of each pixel
    last_event = np.full((H, W), -np.inf)
    chunks = []
    for step in range(1, len(path)):
        t = step * step_us
        log_i = np.log(shift_image(gray, *(path[step] * scale)) + eps)
        diff = log_i - reference
        n = np.floor(np.abs(diff) / threshold).astype(np.int64)  # events this pixel owes
        ready = (t - last_event) >= refractory_us
        if refractory_us > 0:  # at most one event per refractory period within the step
            n = np.minimum(n, max(1, step_us // refractory_us))
        n[~ready] = 0
        ys, xs = np.nonzero(n)
        if len(xs):
            counts = n[ys, xs]
            rep = np.repeat(np.arange(len(xs)), counts)
            k = np.concatenate([np.arange(c) for c in counts])  # index of the event within its pixel
            spacing = step_us / (counts[rep] + 1)
            ev = np.empty(len(rep), EVENT_DTYPE)
            ev["x"], ev["y"] = xs[rep], ys[rep]
            ev["t"] = (t - step_us + (k + 1) * spacing).astype(np.int64)
            ev["p"] = diff[ys, xs][rep] > 0
            chunks.append(ev)
            sign = np.sign(diff[ys, xs])
            reference[ys, xs] += sign * counts * threshold  # memory moves by C per event
            last_event[ys, xs] = t
        if noise_rate_hz > 0:
            n_noise = rng.poisson(noise_rate_hz * H * W * step_us * 1e-6)
            ev = np.empty(n_noise, EVENT_DTYPE)
            ev["x"], ev["y"] = rng.integers(0, W, n_noise), rng.integers(0, H, n_noise)
            ev["t"] = rng.integers(t - step_us, t, n_noise)
            ev["p"] = rng.integers(0, 2, n_noise).astype(bool)
            chunks.append(ev)
    events = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    events = events[np.argsort(events["t"], kind="stable")]
    return events, (W, H, 2)
