"""Matting building blocks, pure image algorithms for the layers pipeline's segment, refine and
inpaint stages:

- :class:`BackgroundModel`: a coarse foreground mask (float 0..1) for static-camera footage,
  from the difference to a background model (a temporal median, or OpenCV's MOG2) backed up by
  frame differencing, frame by frame after a warm-up;
- :func:`guided_refine`: He et al.'s fast guided filter (colour guide) that turns a coarse
  mask into a soft matte which follows the picture's edges;
- :func:`trimap_from_mask` and :func:`matting_refine`: the quality mode, a trimap solved by
  PyMatting's closed-form (Levin et al.) or KNN matting, which keeps soft edges and hair;
- :func:`clean_plate`: the background behind the subject, a per-pixel temporal median of the
  frames where it is uncovered, with the never-uncovered pixels inpainted.

The installed OpenCV (``opencv-python-headless``) has no ``ximgproc`` (a contrib module), so the
guided filter is implemented here on box filters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np

from vidlab.core.errors import MissingDependencyError, UsageError

__all__ = [
    "BackgroundModel",
    "clean_plate",
    "guided_refine",
    "matting_refine",
    "trimap_from_mask",
]

METHODS = ("median", "mog2")
MATTING_METHODS = ("cf", "knn", "lkm")


def _unit(alpha: np.ndarray) -> np.ndarray:
    """A mask as float32 0..1 (``uint8`` divided by 255)."""
    a = np.asarray(alpha)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    return a.astype(np.float32, copy=False)


def _check_rgb(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise UsageError(f"{name} must be H x W x 3, got shape {a.shape}", param=name)
    return a


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - np.float32(lo)) * np.float32(1 / max(hi - lo, 1e-6)), 0, 1)


class BackgroundModel:
    """Foreground segmentation for a static camera, one frame at a time.

    ``method="median"``: the background is the per-pixel median of the last ``window`` frames
    (every ``sample``-th): :meth:`fit` takes them from frames given up front; without it the
    model bootstraps on the first frames :meth:`apply` sees (masks are rough until the subject
    has moved on). As frames stream, the median is recomputed on a band of rows per frame
    (all rows once every ``refresh`` frames, default ``window``), so a ghost of a subject that
    was in the warm-up fades and slow lighting changes are followed, at a bounded cost per
    frame.

    ``method="mog2"``: OpenCV's Gaussian-mixture subtractor (``history`` frames, no shadow
    detection); :meth:`fit` runs the warm-up frames through it.

    The mask: the per-pixel colour distance to the background (on a lightly blurred picture,
    so sensor noise averages out), mapped to 0..1 by a ramp from ``low`` to ``high`` times the
    frame's robust noise level (MOG2's own foreground decision gates its distance); frame
    differencing raises pixels that differ from the background only weakly (a subject colour
    close to the background's) where they also move. A median filter drops speckle, and holes
    smaller than ``fill_holes`` of the frame are filled.
    """

    def __init__(
        self,
        method: str = "median",
        *,
        window: int = 30,
        sample: int = 1,
        refresh: int | None = None,
        history: int = 120,
        var_threshold: float = 16.0,
        low: float = 6.0,
        high: float = 16.0,
        motion: float = 1.0,
        blur: float = 1.0,
        fill_holes: float = 0.002,
    ) -> None:
        if method not in METHODS:
            raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}", param="method")
        if window < 1 or sample < 1:
            raise UsageError("window and sample must be >= 1", param=("window", "sample"))
        if not 0 <= low < high:
            raise UsageError(f"need 0 <= low < high, got {low} and {high}", param=("low", "high"))
        self.method, self.window, self.sample = method, window, sample
        self.low, self.high, self.motion, self.blur = low, high, motion, blur
        self.fill_holes = fill_holes
        self.history, self.var_threshold = history, var_threshold
        self.refresh = max(1, window if refresh is None else refresh)
        self._bg: np.ndarray | None = None  # float32 H x W x 3 (median mode)
        self._buf: deque[np.ndarray] = deque(maxlen=window)  # smoothed frames, uint8
        self._fitted = False
        self._seen = 0
        self._band = 0  # the next band of rows to refresh
        self._prev: np.ndarray | None = None
        self._mog = None
        if method == "mog2":
            self._mog = cv2.createBackgroundSubtractorMOG2(history, var_threshold, False)

    # -- the model ------------------------------------------------------------------------------

    @property
    def background(self) -> np.ndarray | None:
        """The current background estimate (RGB ``uint8``), None before any frame."""
        if self._mog is not None:
            img = self._mog.getBackgroundImage()
            return None if img is None else img
        if self._bg is None:
            return None
        return np.clip(self._bg + 0.5, 0, 255).astype(np.uint8)

    def _smooth(self, rgb: np.ndarray) -> np.ndarray:
        img = rgb.astype(np.float32)
        if self.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), self.blur)
        return img

    def fit(self, frames: Sequence[np.ndarray]) -> BackgroundModel:
        """Learn the background from warm-up frames (RGB ``uint8``); returns ``self``."""
        if len(frames) == 0:
            raise UsageError("fit needs at least one frame", param="frames")
        if self._mog is not None:
            rate = 1.0 / max(1, min(len(frames), self.history))
            for f in frames:
                self._mog.apply(_check_rgb(f, "frames"), learningRate=rate)
            self._seen += len(frames)
            return self
        for f in list(frames[:: self.sample])[-self.window :]:
            self._buf.append(self._u8(self._smooth(_check_rgb(f, "frames"))))
        self._bg = np.median(np.stack(self._buf), axis=0).astype(np.float32)
        self._fitted = True
        return self

    @staticmethod
    def _u8(img: np.ndarray) -> np.ndarray:
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def _distance(self, img: np.ndarray, bg: np.ndarray) -> np.ndarray:
        """The largest per-channel difference to the background (code values)."""
        d = cv2.absdiff(img, bg)
        return cv2.max(cv2.max(d[..., 0], d[..., 1]), d[..., 2])  # 10x np.max(axis=2)

    def apply(self, frame: np.ndarray, *, learn: bool = True) -> np.ndarray:
        """The next frame's coarse foreground mask (float32 0..1, ``H x W``). ``learn=False``
        leaves the model as it is: for the warm-up frames :meth:`fit` has already seen."""
        rgb = _check_rgb(frame, "frame")
        img = self._smooth(rgb)
        if self._mog is not None:
            fg = self._mog.apply(rgb, learningRate=-1 if learn else 0)
            bg_img = self._mog.getBackgroundImage()
            bg = self._smooth(bg_img) if bg_img is not None else img
            gate = cv2.dilate(fg, np.ones((5, 5), np.uint8)) > 0
        else:
            if learn or self._bg is None:
                self._follow(img)
            assert self._bg is not None
            bg = self._bg
            gate = None
        dist = self._distance(img, bg)
        noise = self._noise(dist)
        strong = _ramp(dist, self.low * noise, self.high * noise)
        if gate is not None:
            strong = strong * gate
        mask = strong
        if self.motion > 0 and self._prev is not None:
            move = self._distance(img, self._prev)
            moving = _ramp(move, self.low * noise, self.high * noise)
            weak = _ramp(dist, 0.5 * self.low * noise, self.low * noise)
            mask = np.maximum(mask, self.motion * moving * weak)
        self._prev = img
        return self._clean(mask)

    @staticmethod
    def _noise(dist: np.ndarray) -> float:
        """The frame's noise level: the median distance (most of a frame is background), as a
        sigma-like scale, with a floor of one code value."""
        return max(1.0, float(np.median(dist[::4, ::4])) * 1.4826)

    def _follow(self, img: np.ndarray) -> None:
        """Add the frame to the window (every ``sample``-th) and bring the median up to date:
        the whole of it while bootstrapping (after 1, 2, 4, 8... frames), else one band."""
        if self._seen % self.sample == 0:
            self._buf.append(self._u8(img))
        self._seen += 1
        n = len(self._buf)
        if self._bg is None or (not self._fitted and n < self.window and n & (n - 1) == 0):
            self._bg = np.median(np.stack(self._buf), axis=0).astype(np.float32)
            return
        h = self._bg.shape[0]
        rows = -(-h // self.refresh)
        r0 = self._band * rows
        r1 = min(h, r0 + rows)
        self._band = (self._band + 1) % self.refresh
        if r0 < r1:
            band = np.stack([b[r0:r1] for b in self._buf])
            self._bg[r0:r1] = np.median(band, axis=0)

    def _clean(self, mask: np.ndarray) -> np.ndarray:
        m = cv2.medianBlur(np.clip(mask * 255 + 0.5, 0, 255).astype(np.uint8), 5)
        if self.fill_holes > 0:
            solid = (m >= 128).astype(np.uint8)
            holes = 1 - solid
            _, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
            h, w = m.shape
            x, y, bw, bh, area = (stats[:, k] for k in range(5))
            inner = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
            fill = inner & (area <= self.fill_holes * h * w)
            fill[0] = False  # label 0: the solid mask itself
            m[fill[labels]] = 255
        return m.astype(np.float32) * np.float32(1 / 255)


# -- refinement ------------------------------------------------------------------------------------


def _box(img: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(img, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_refine(
    mask: np.ndarray,
    rgb: np.ndarray,
    radius: int = 4,
    eps: float = 1e-4,
    *,
    subsample: int | None = None,
) -> np.ndarray:
    """Refine a coarse mask into an alpha matte (float32 0..1) with He et al.'s guided filter,
    guided by the colour picture: locally, alpha is an affine function of RGB, so the matte
    takes the picture's edges. ``radius`` is the window (px at full size), ``eps`` the
    regularization (on 0..1 colours: larger gives smoother, mask-like mattes). The coefficients
    are computed at 1/``subsample`` of the size (the fast guided filter; default: ``radius``/4,
    at least 1) and upsampled."""
    guide = _check_rgb(rgb).astype(np.float32) * np.float32(1 / 255)
    p = _unit(mask)
    h, w = p.shape
    if guide.shape[:2] != (h, w):
        raise UsageError(f"mask is {w}x{h} but rgb is {guide.shape[1]}x{guide.shape[0]}", param="mask")
    if radius < 1:
        raise UsageError(f"radius must be >= 1, got {radius}", param="radius")
    s = max(1, radius // 4) if subsample is None else max(1, int(subsample))
    r = max(1, round(radius / s))
    if s > 1:
        size = (max(1, round(w / s)), max(1, round(h / s)))
        I = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)  # noqa: E741 - He et al.'s name
        q = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
    else:
        I, q = guide, p  # noqa: E741
    mean_i = _box(I, r)
    mean_p = _box(q, r)
    cov_ip = _box(I * q[..., None], r) - mean_i * mean_p[..., None]
    # the 3x3 colour covariance per pixel (symmetric: six planes) plus eps on the diagonal
    rr = _box(I[..., 0] * I[..., 0], r) - mean_i[..., 0] ** 2 + eps
    rg = _box(I[..., 0] * I[..., 1], r) - mean_i[..., 0] * mean_i[..., 1]
    rb = _box(I[..., 0] * I[..., 2], r) - mean_i[..., 0] * mean_i[..., 2]
    gg = _box(I[..., 1] * I[..., 1], r) - mean_i[..., 1] ** 2 + eps
    gb = _box(I[..., 1] * I[..., 2], r) - mean_i[..., 1] * mean_i[..., 2]
    bb = _box(I[..., 2] * I[..., 2], r) - mean_i[..., 2] ** 2 + eps
    # inverse by cofactors
    i_rr = gg * bb - gb * gb
    i_rg = gb * rb - rg * bb
    i_rb = rg * gb - gg * rb
    i_gg = rr * bb - rb * rb
    i_gb = rb * rg - rr * gb
    i_bb = rr * gg - rg * rg
    det = rr * i_rr + rg * i_rg + rb * i_rb
    cr, cg, cb = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = (
        np.stack(
            [
                i_rr * cr + i_rg * cg + i_rb * cb,
                i_rg * cr + i_gg * cg + i_gb * cb,
                i_rb * cr + i_gb * cg + i_bb * cb,
            ],
            axis=2,
        )
        / det[..., None]
    )
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    mean_a, mean_b = _box(a.astype(np.float32), r), _box(b.astype(np.float32), r)
    if s > 1:
        mean_a = cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.einsum("hwc,hwc->hw", mean_a, guide) + mean_b
    return np.clip(out, 0, 1).astype(np.float32)


def trimap_from_mask(
    mask: np.ndarray, erode: int = 4, dilate: int = 4, *, threshold: float = 0.5
) -> np.ndarray:
    """A trimap (float32: 1 foreground, 0 background, 0.5 unknown) from a mask: the mask above
    ``threshold`` eroded by ``erode`` px is foreground, anything beyond ``dilate`` px of it
    background, the band between unknown."""
    if erode < 0 or dilate < 0:
        raise UsageError("erode and dilate must be >= 0", param=("erode", "dilate"))
    solid = (_unit(mask) > threshold).astype(np.uint8)

    def disc(r: int) -> np.ndarray:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    fg = cv2.erode(solid, disc(erode)) if erode else solid
    reach = cv2.dilate(solid, disc(dilate)) if dilate else solid
    trimap = np.full(solid.shape, 0.5, np.float32)
    trimap[fg > 0] = 1.0
    trimap[reach == 0] = 0.0
    return trimap


def matting_refine(
    rgb: np.ndarray,
    trimap: np.ndarray,
    method: str = "cf",
    *,
    epsilon: float = 1e-4,
    margin: int = 16,
) -> np.ndarray:
    """Solve a trimap's unknown band for a soft alpha (float32 0..1) with PyMatting: ``cf``
    closed-form matting (Levin et al.), ``knn`` (Chen et al.) or ``lkm`` (He et al.'s
    large-kernel closed form). ``epsilon`` regularizes the closed-form Laplacians (``cf``,
    ``lkm``): PyMatting's default 1e-7 suits clean photographs; noisy, compressed footage
    wants more. Only the unknown band's bounding box plus ``margin`` px is solved; the known
    regions keep the trimap's 0 and 1. PyMatting compiles its numba kernels on first import
    (about 40 s once per install, then cached)."""
    if method not in MATTING_METHODS:
        raise UsageError(
            f"method must be one of {', '.join(MATTING_METHODS)}, got {method!r}", param="method"
        )
    img = _check_rgb(rgb)
    tri = _unit(trimap)
    if tri.shape != img.shape[:2]:
        raise UsageError(f"trimap is {tri.shape[::-1]} but rgb is {img.shape[1::-1]}", param="trimap")
    try:
        import pymatting
    except ImportError:
        raise MissingDependencyError(
            "matting_refine needs pymatting (pip install pymatting)", param="method"
        ) from None
    out = (tri >= 0.75).astype(np.float32)
    unknown = (tri > 0.25) & (tri < 0.75)
    if not unknown.any():
        return out
    ys, xs = np.nonzero(unknown)
    h, w = tri.shape
    y0, y1 = max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)
    x0, x1 = max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)
    crop = img[y0:y1, x0:x1].astype(np.float64) / 255.0
    tcrop = tri[y0:y1, x0:x1].astype(np.float64)
    if method == "cf":
        alpha = pymatting.estimate_alpha_cf(crop, tcrop, laplacian_kwargs={"epsilon": epsilon})
    elif method == "lkm":
        alpha = pymatting.estimate_alpha_lkm(crop, tcrop, laplacian_kwargs={"epsilon": epsilon})
    else:
        alpha = pymatting.estimate_alpha_knn(crop, tcrop)
    band = unknown[y0:y1, x0:x1]  # KNN treats the known pixels as soft constraints: pin them
    out[y0:y1, x0:x1][band] = np.clip(alpha[band], 0, 1).astype(np.float32)
    return out


# -- clean plate -----------------------------------------------------------------------------------


def _masked_median(stack: np.ndarray, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median over time of ``stack`` (T x H x W x 3 uint8) leaving out ``hidden``
    (T x H x W bool) samples: (median uint8, count of samples used)."""
    vals = stack.astype(np.uint16)
    vals[hidden] = 0xFFFF  # sorted past every real value
    vals.sort(axis=0)
    count = (~hidden).sum(axis=0)
    lo = np.maximum(count - 1, 0) // 2
    hi = count // 2
    hi = np.where(count > 0, np.minimum(hi, np.maximum(count - 1, 0)), 0)
    pick_lo = np.take_along_axis(vals, lo[None, ..., None].repeat(3, axis=3), axis=0)[0]
    pick_hi = np.take_along_axis(vals, hi[None, ..., None].repeat(3, axis=3), axis=0)[0]
    med = (pick_lo.astype(np.uint32) + pick_hi + 1) // 2
    med[count == 0] = 0
    return med.astype(np.uint8), count


def clean_plate(
    frames: Sequence[np.ndarray] | np.ndarray,
    alphas: Sequence[np.ndarray] | np.ndarray,
    window: int = 0,
    *,
    threshold: float = 0.05,
    grow: int = 2,
    inpaint: str = "telea",
    inpaint_radius: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The background behind a subject, for a static camera (or frames already aligned):
    frame by frame, the per-pixel median of the frames within ``window`` (centred, shifted at
    the clip's ends; 0 or more than the clip: all frames) where the pixel is uncovered (alpha
    below ``threshold``, after the subject is grown by ``grow`` px to keep its soft edge out).
    Pixels uncovered in no frame of the window are inpainted (``telea`` or ``ns``, OpenCV's
    Telea and Navier-Stokes, ``inpaint_radius`` px). Returns the backgrounds (N x H x W x 3
    ``uint8``) and the never-seen masks (N x H x W bool)."""
    if inpaint not in ("telea", "ns"):
        raise UsageError(f"inpaint must be telea or ns, got {inpaint!r}", param="inpaint")
    stack = np.asarray(frames)
    if stack.ndim != 4 or stack.shape[3] != 3 or stack.dtype != np.uint8:
        raise UsageError(
            f"frames must be N x H x W x 3 uint8, got {stack.shape} {stack.dtype}", param="frames"
        )
    n, h, w = stack.shape[:3]
    if len(alphas) != n:
        raise UsageError(f"{len(alphas)} alphas for {n} frames", param="alphas")
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2) if grow > 0 else None
    hidden = np.empty((n, h, w), bool)
    for i, a in enumerate(alphas):
        covered = (_unit(a) >= threshold).astype(np.uint8)
        if covered.shape != (h, w):
            raise UsageError(f"alpha {i} is {covered.shape[::-1]}, frames are {w}x{h}", param="alphas")
        if kernel is not None:
            covered = cv2.dilate(covered, kernel)
        hidden[i] = covered > 0
    span = n if window <= 0 or window >= n else window
    flag = cv2.INPAINT_TELEA if inpaint == "telea" else cv2.INPAINT_NS
    plates = np.empty_like(stack)
    unseen = np.empty((n, h, w), bool)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in range(n):
        start = min(max(0, i - span // 2), n - span)
        if start not in cache:
            med, count = _masked_median(stack[start : start + span], hidden[start : start + span])
            never = count == 0
            if never.any():
                med = cv2.inpaint(med, never.astype(np.uint8) * 255, inpaint_radius, flag)
            cache = {start: (med, never)}  # windows only move forward: keep one
        plates[i], unseen[i] = cache[start]
    return plates, unseen
