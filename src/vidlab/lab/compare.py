"""Side-by-side comparison of an original, a test (encoded/processed) and optionally an enhanced
video, kept in sync by timestamp, with labels, per-frame PSNR and an optional difference heatmap.

Layout: the views sit next to each other with no gaps, each exactly the original's size, in the
order original, test, [enhanced], [diff]. The composite is ``views x W`` wide and ``H`` high
(``W x H`` = the original's frame size); labels and overlays are drawn inside the views.

Sync: each view keeps its own clock (timestamps relative to its own first frame). For every
original frame at time ``t`` the other views show their latest frame with time ``<= t``, so a
different frame rate or dropped frames stay in sync. The composite stops at the first original
frame that lies past the end of any other input (equal frame rates: the shortest input's frame
count).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.events import EventBus, EventCallback, Meter
from vidlab.core.frame import Frame
from vidlab.io.codecs import EncodeSettings
from vidlab.io.images import write_png
from vidlab.io.probe import VideoInfo, _reason, open_input, probe
from vidlab.io.reader import VideoReader
from vidlab.io.writer import VideoWriter, check_writable_file
from vidlab.metrics.image import psnr
from vidlab.ops.basic import Identity
from vidlab.pipeline.recipe import Recipe
from vidlab.pipeline.runner import FrameSource, stream

log = logging.getLogger(__name__)

DEFAULT_LABELS = ("Original", "Test", "Enhanced")
DEFAULT_DIFF_MAX = 64.0
DEFAULT_GRID_FRAMES = 6
COLORMAPS = {"inferno": cv2.COLORMAP_INFERNO, "viridis": cv2.COLORMAP_VIRIDIS}

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BOX_DARKEN = 0.35  # the translucent label box keeps 35% of the picture behind it
_LEGEND_BG = 24


# -- drawing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TextStyle:
    """Font scale, stroke, padding and margin for a view of a given height."""

    scale: float
    thickness: int
    pad: int
    margin: int

    @classmethod
    def for_height(cls, height: int) -> _TextStyle:
        scale = max(0.35, 0.6 * height / 480)
        return cls(scale, max(1, round(scale * 1.5)), max(2, round(5 * scale)), max(2, round(8 * scale)))


def _dark_box(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    """Darken a rectangle in place (a translucent black box), clipped to the image."""
    h, w = img.shape[:2]
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x1 > x0 and y1 > y0:
        roi = img[y0:y1, x0:x1]
        roi[...] = (roi.astype(np.float32) * _BOX_DARKEN + 0.5).astype(np.uint8)


def text_box(img: np.ndarray, lines: Sequence[str], *, corner: str = "tl") -> tuple[int, int, int, int]:
    """Draw ``lines`` of white text on a dark translucent box at a corner of ``img`` (in place):
    ``tl`` top-left or ``bl`` bottom-left. Returns the box as ``(x0, y0, x1, y1)``."""
    st = _TextStyle.for_height(img.shape[0])
    sizes = [cv2.getTextSize(s, _FONT, st.scale, st.thickness) for s in lines]
    line_h = max(h + base for (_, h), base in sizes)
    box_w = max(w for (w, _), _ in sizes) + 2 * st.pad
    box_h = len(lines) * line_h + (len(lines) - 1) * st.pad + 2 * st.pad
    x0 = st.margin
    y0 = st.margin if corner == "tl" else img.shape[0] - st.margin - box_h
    _dark_box(img, x0, y0, x0 + box_w, y0 + box_h)
    y = y0 + st.pad
    for text, ((_, h), _) in zip(lines, sizes, strict=True):
        cv2.putText(
            img, text, (x0 + st.pad, y + h), _FONT, st.scale, (255, 255, 255), st.thickness, cv2.LINE_AA
        )
        y += line_h + st.pad
    return x0, y0, x0 + box_w, y0 + box_h


def psnr_text(value: float) -> str:
    return "PSNR inf" if math.isinf(value) else f"PSNR {value:.2f} dB"


def colormap_code(name: str) -> int:
    try:
        return COLORMAPS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown colormap '{name}' (known: {', '.join(COLORMAPS)})") from None


def _apply_colormap(values: np.ndarray, colormap: int) -> np.ndarray:
    """uint8 values -> RGB through an OpenCV colormap (which returns BGR)."""
    return np.ascontiguousarray(cv2.applyColorMap(values, colormap)[..., ::-1])


def zero_color(colormap: str = "inferno") -> np.ndarray:
    """The RGB color a zero difference gets in the heatmap."""
    return _apply_colormap(np.zeros((1, 1), np.uint8), colormap_code(colormap))[0, 0]


def diff_heatmap(
    original: np.ndarray, test: np.ndarray, diff_max: float = DEFAULT_DIFF_MAX, colormap: str = "inferno"
) -> np.ndarray:
    """|original - test| averaged over the channels, mapped through a colormap on a fixed scale
    (0 .. ``diff_max`` code values; larger differences saturate), so a color means the same
    difference in every frame. Returns RGB uint8 without the legend."""
    diff = cv2.absdiff(original, test).astype(np.float32).mean(axis=2)
    scaled = np.clip(diff * (255.0 / diff_max) + 0.5, 0, 255).astype(np.uint8)
    return _apply_colormap(scaled, colormap_code(colormap))


def draw_legend(img: np.ndarray, diff_max: float, colormap: str = "inferno") -> tuple[int, int, int, int]:
    """A color bar with ``0`` and ``diff_max`` ticks at the bottom right of ``img`` (in place),
    on an opaque dark box. Returns the box ``(x0, y0, x1, y1)``."""
    h, w = img.shape[:2]
    st = _TextStyle.for_height(h)
    bar_w = max(24, min(w // 3, 256))
    bar_h = max(6, h // 30)
    lo, hi = "0", f"{diff_max:g}"
    (lo_w, th), base = cv2.getTextSize(lo, _FONT, st.scale, st.thickness)
    hi_w = cv2.getTextSize(hi, _FONT, st.scale, st.thickness)[0][0]
    box_w = max(bar_w, lo_w + hi_w + st.pad) + 2 * st.pad
    box_h = bar_h + th + base + 3 * st.pad
    x0, y0 = w - st.margin - box_w, h - st.margin - box_h
    # Opaque, unlike the labels: the legend looks the same in every frame.
    img[max(0, y0) : max(0, y0 + box_h), max(0, x0) : max(0, x0 + box_w)] = _LEGEND_BG
    bx, by = x0 + st.pad, y0 + st.pad
    ramp = np.linspace(0, 255, bar_w).round().astype(np.uint8)[None, :]
    bar = _apply_colormap(np.repeat(ramp, bar_h, axis=0), colormap_code(colormap))
    x_end = min(w, bx + bar_w)
    if bx >= 0 and by >= 0 and x_end > bx:
        img[by : by + bar_h, bx:x_end] = bar[:, : x_end - bx]
    ty = by + bar_h + st.pad + th
    white = (255, 255, 255)
    cv2.putText(img, lo, (bx, ty), _FONT, st.scale, white, st.thickness, cv2.LINE_AA)
    cv2.putText(img, hi, (bx + bar_w - hi_w, ty), _FONT, st.scale, white, st.thickness, cv2.LINE_AA)
    return x0, y0, x0 + box_w, y0 + box_h


def _matched(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``img`` at exactly ``width x height`` (stretched if the aspect differs), for PSNR and diff."""
    if img.shape[1] == width and img.shape[0] == height:
        return img
    shrink = img.shape[1] > width
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _slot(img: np.ndarray, matched: np.ndarray, width: int, height: int) -> np.ndarray:
    """The view as shown: scaled to ``height`` keeping its aspect, centered in a ``width`` slot
    (black bars if narrower, cropped at the sides if wider)."""
    if img.shape[0] == height and img.shape[1] == width:
        return img.copy()
    w = max(1, round(img.shape[1] * height / img.shape[0]))
    if abs(w - width) <= 1:
        return matched.copy()  # same aspect up to rounding
    interp = cv2.INTER_AREA if img.shape[0] > height else cv2.INTER_CUBIC
    scaled = cv2.resize(img, (w, height), interpolation=interp)
    out = np.zeros((height, width, 3), np.uint8)
    if w < width:
        x = (width - w) // 2
        out[:, x : x + w] = scaled
    else:
        x = (w - width) // 2
        out[:] = scaled[:, x : x + width]
    return out


def compose(
    original: np.ndarray,
    test: np.ndarray,
    enhanced: np.ndarray | None = None,
    *,
    labels: Sequence[str] | None = None,
    diff: bool = False,
    diff_max: float = DEFAULT_DIFF_MAX,
    colormap: str = "inferno",
) -> tuple[np.ndarray, float, float | None]:
    """One composite from RGB frames: ``(image, psnr_test, psnr_enhanced)``. The test and
    enhanced frames may have another size (they are scaled to the original's height); PSNR and
    the diff are computed against the original at the original's size."""
    height, width = original.shape[:2]
    n_inputs = 2 if enhanced is None else 3
    names = resolve_labels(labels, n_inputs, diff)
    test_m = _matched(test, width, height)
    psnr_t = psnr(original, test_m)
    views = [original.copy(), _slot(test, test_m, width, height)]
    overlays = [[names[0]], [names[1], psnr_text(psnr_t)]]
    psnr_e = None
    if enhanced is not None:
        enh_m = _matched(enhanced, width, height)
        psnr_e = psnr(original, enh_m)
        views.append(_slot(enhanced, enh_m, width, height))
        overlays.append([names[2], psnr_text(psnr_e)])
    if diff:
        heat = diff_heatmap(original, test_m, diff_max, colormap)
        draw_legend(heat, diff_max, colormap)
        views.append(heat)
        overlays.append([names[-1]])
    for view, lines in zip(views, overlays, strict=True):
        text_box(view, lines)
    return np.ascontiguousarray(np.concatenate(views, axis=1)), psnr_t, psnr_e


def resolve_labels(labels: Sequence[str] | None, n_inputs: int, diff: bool) -> list[str]:
    """One label per input view, plus the diff view's (given, or ``|first - second|``)."""
    given = list(DEFAULT_LABELS[:n_inputs]) if labels is None else [s.strip() for s in labels]
    if len(given) not in (n_inputs, n_inputs + int(diff)):
        want = f"{n_inputs}" + (f" or {n_inputs + 1} (with the diff view's)" if diff else "")
        raise UsageError(
            f"labels: got {len(given)} labels for {n_inputs} videos; give {want}", param="labels"
        )
    if diff and len(given) == n_inputs:
        given.append(f"|{given[0]} - {given[1]}|")
    return given


# -- streams ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompositeFrame:
    """One side-by-side frame. ``pts`` is seconds from the original's first frame; PSNR in dB
    against the original (``inf`` when identical)."""

    image: np.ndarray
    pts: Fraction
    index: int
    psnr_test: float
    psnr_enhanced: float | None


class _Follower:
    """Walks one stream along the original's clock, holding its latest frame at or before ``t``."""

    def __init__(self, reader: VideoReader, tolerance: Fraction) -> None:
        self.reader = reader
        self._frames = iter(reader)
        first = next(self._frames, None)
        if first is None:  # pragma: no cover - the reader raises for an empty range
            raise MediaError("no frames decoded", reader.path)
        self.origin = first.pts
        self.current: Frame = first
        self._next: Frame | None = next(self._frames, None)
        self.tolerance = tolerance

    def at(self, t: Fraction) -> np.ndarray:
        while self._next is not None and self._next.pts - self.origin <= t + self.tolerance:
            self.current = self._next
            self._next = next(self._frames, None)
        return self.current.image

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


class _Views:
    """The inputs of a comparison, probed and validated up front (one-line errors naming the
    file) so that nothing is decoded or written when an input is bad."""

    def __init__(
        self,
        original: str | os.PathLike[str],
        test: str | os.PathLike[str],
        enhanced: str | os.PathLike[str] | None,
        *,
        labels: Sequence[str] | None,
        diff: bool,
        diff_max: float,
        colormap: str,
    ) -> None:
        if not diff_max > 0:
            raise UsageError(f"diff_max must be > 0, got {diff_max:g}", param="diff_max")
        colormap_code(colormap)
        self.paths = [Path(original), Path(test)] + ([Path(enhanced)] if enhanced is not None else [])
        self.labels = resolve_labels(labels, len(self.paths), diff)
        self.diff, self.diff_max, self.colormap = diff, diff_max, colormap
        self.infos: list[VideoInfo] = [probe(p) for p in self.paths]
        fps = max(i.fps for i in self.infos)
        # Timestamps are rounded to each stream's time base: allow one tick, never a frame.
        self.tolerance = min(max(i.time_base for i in self.infos), 1 / (4 * fps))
        # Relative to each stream's own start; the original's frames past this are dropped.
        self.end = min(i.duration for i in self.infos[1:])

    @property
    def original(self) -> VideoInfo:
        return self.infos[0]

    @property
    def views(self) -> int:
        return len(self.paths) + int(self.diff)

    @property
    def size(self) -> tuple[int, int]:
        """Composite ``(width, height)``."""
        return self.views * self.original.width, self.original.height

    def planned_frames(self) -> int:
        """How many composites :meth:`frames` will yield, from packet timestamps (no decoding)."""
        times = _frame_times(self.paths[0], self.original)
        return sum(1 for t in times if t < self.end - self.tolerance)

    def frames(self) -> Iterator[CompositeFrame]:
        readers = [VideoReader(p, info=i) for p, i in zip(self.paths, self.infos, strict=True)]
        orig_frames = iter(readers[0])
        followers: list[_Follower] = []
        try:
            followers = [_Follower(r, self.tolerance) for r in readers[1:]]
            origin: Fraction | None = None
            for n, frame in enumerate(orig_frames):
                origin = frame.pts if origin is None else origin
                t = frame.pts - origin
                if t >= self.end - self.tolerance:
                    return
                others = [f.at(t) for f in followers]
                image, p_t, p_e = compose(
                    frame.image,
                    others[0],
                    others[1] if len(others) > 1 else None,
                    labels=self.labels,
                    diff=self.diff,
                    diff_max=self.diff_max,
                    colormap=self.colormap,
                )
                yield CompositeFrame(image, t, n, p_t, p_e)
        finally:
            for f in followers:
                f.close()
            with contextlib.suppress(Exception):
                orig_frames.close()  # type: ignore[attr-defined]


def _frame_times(path: Path, info: VideoInfo) -> list[Fraction]:
    """Presentation times of the frames the reader yields, relative to the first, from packets."""
    with open_input(path) as container:
        vs = container.streams.video[0]
        tb = Fraction(vs.time_base) if vs.time_base else Fraction(1, 90000)
        pts: list[Fraction] = []
        try:
            for pkt in container.demux(vs):
                if pkt.size and (pkt.pts if pkt.pts is not None else pkt.dts) is not None:
                    pts.append(Fraction(pkt.pts if pkt.pts is not None else pkt.dts) * tb)
        except av.error.FFmpegError as exc:
            raise MediaError(f"corrupt data while reading packets ({_reason(exc)})", path) from None
    pts = sorted(p for p in pts if p >= info.start_time)
    return [p - pts[0] for p in pts] if pts else []


def compose_frames(
    original: str | os.PathLike[str],
    test: str | os.PathLike[str],
    enhanced: str | os.PathLike[str] | None = None,
    *,
    diff: bool = False,
    labels: Sequence[str] | None = None,
    diff_max: float = DEFAULT_DIFF_MAX,
    colormap: str = "inferno",
) -> Iterator[CompositeFrame]:
    """Decode the videos and yield side-by-side composites, synced by timestamp (see the module
    docstring for layout and sync). The inputs are probed now, so a missing or unreadable file
    raises here, before the first frame is asked for."""
    views = _Views(original, test, enhanced, labels=labels, diff=diff, diff_max=diff_max, colormap=colormap)
    return views.frames()


# -- display ---------------------------------------------------------------------------------------


def display_problem() -> str | None:
    """Why a window cannot be opened here, or None when it can."""
    gui = [ln for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        return (
            "show needs OpenCV with GUI support, but this build has none (opencv-python-headless); "
            "use save or grid"
        )
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "show needs a display, but DISPLAY and WAYLAND_DISPLAY are unset; use save or grid"
    return None


class _Window:
    """Plays composites in an OpenCV window at the original's pace; q or Esc closes it."""

    title = "vidlab compare"

    def __init__(self, fps: Fraction) -> None:
        problem = display_problem()
        if problem is None:
            try:
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            except cv2.error as exc:
                problem = f"show cannot open a window ({str(exc).strip().splitlines()[-1]})"
        if problem is not None:
            raise UsageError(problem, param=("show", "save", "grid"))
        self.period = 1 / float(fps)
        self.open = True
        self._due = time.perf_counter()

    def show(self, image: np.ndarray) -> None:
        if not self.open:
            return
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self._due += self.period
        wait = max(1, round((self._due - time.perf_counter()) * 1000))
        if cv2.waitKey(wait) & 0xFF in (27, ord("q")):
            self.close()

    def close(self) -> None:
        if self.open:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
            self.open = False


# -- the whole comparison --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompareResult:
    """What :func:`compare` made: composite count and size, files written, mean PSNR (dB, over
    the frames that differ; ``inf`` when every frame is identical)."""

    frames: int
    width: int
    height: int
    output: Path | None
    grid: Path | None
    psnr_test: float
    psnr_enhanced: float | None


def default_grid_path(save: Path) -> Path:
    """``OUT.grid.png`` beside the saved video."""
    return save.with_name(f"{save.stem}.grid.png")


def grid_picks(count: int, rows: int) -> list[int]:
    """``rows`` evenly spaced frame indices from ``count`` frames, first and last included."""
    if count <= 0:
        return []
    if rows >= count:
        return list(range(count))
    if rows == 1:
        return [(count - 1) // 2]
    return sorted({round(i * (count - 1) / (rows - 1)) for i in range(rows)})


def contact_sheet(frames: Sequence[CompositeFrame]) -> np.ndarray:
    """Composites stacked vertically, each with its frame number and time at the bottom left."""
    rows = []
    for f in frames:
        row = f.image.copy()
        text_box(row, [f"#{f.index}  {float(f.pts):.3f} s"], corner="bl")
        rows.append(row)
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def _mean_psnr(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.inf


def _even(image: np.ndarray) -> np.ndarray:
    """Pad one black row/column when a side is odd: 4:2:0 H.264 needs even sizes."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def compare(
    original: str | os.PathLike[str],
    test: str | os.PathLike[str],
    enhanced: str | os.PathLike[str] | None = None,
    *,
    save: str | os.PathLike[str] | None = None,
    grid: str | os.PathLike[str] | None = None,
    grid_frames: int = DEFAULT_GRID_FRAMES,
    show: bool = False,
    diff: bool = False,
    labels: Sequence[str] | None = None,
    diff_max: float = DEFAULT_DIFF_MAX,
    colormap: str = "inferno",
    crf: float | None = None,
    on_event: EventCallback | None = None,
) -> CompareResult:
    """Build the side-by-side and send it to any of: ``save`` (an H.264 video at the original's
    frame rate and timestamps, written atomically), ``grid`` (a PNG of ``grid_frames`` evenly
    spaced composites stacked vertically), ``show`` (a window). Every check (outputs asked for,
    display, inputs, output paths) runs before the first frame is decoded."""
    if save is None and grid is None and not show:
        raise UsageError("nothing to do: give save, grid or show", param=("save", "grid", "show"))
    if grid_frames < 1:
        raise UsageError(f"grid_frames must be >= 1, got {grid_frames}", param="grid_frames")
    window = _Window(Fraction(1)) if show else None  # fails now, without a display
    try:
        views = _Views(
            original, test, enhanced, labels=labels, diff=diff, diff_max=diff_max, colormap=colormap
        )
        if window is not None:
            window.period = 1 / float(views.original.fps)
        out_path = Path(save) if save is not None else None
        grid_path = Path(grid) if grid is not None else None
        inputs = {p.resolve() for p in views.paths if p.exists()}
        for p in (out_path, grid_path):
            if p is not None and p.exists() and p.resolve() in inputs:
                raise UsageError("output would overwrite an input", p)
        if grid_path is not None:
            check_writable_file(grid_path)
            if grid_path.suffix.lower() != ".png":
                raise UsageError("the grid is a PNG; give a .png file name", grid_path)
        total = views.planned_frames() if grid_path is not None or on_event is not None else None
        picks = set(grid_picks(total, grid_frames)) if grid_path is not None and total else set()
        writer = _writer(out_path, views, crf) if out_path is not None else None
        try:
            done, psnr_t, psnr_e, kept, last = _drive(views, writer, window, picks, total, on_event)
            sheet = None
            if grid_path is not None:
                if last is not None and last.index not in {f.index for f in kept} and len(kept) < grid_frames:
                    kept.append(last)  # fewer frames than planned: end on the last one
                sheet = contact_sheet(kept)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if grid_path is not None and sheet is not None:
            write_png(grid_path, sheet)
    finally:
        if window is not None:
            window.close()
    width, height = views.size
    return CompareResult(
        frames=done,
        width=width,
        height=height,
        output=out_path,
        grid=grid_path,
        psnr_test=_mean_psnr(psnr_t),
        psnr_enhanced=_mean_psnr(psnr_e) if enhanced is not None else None,
    )


def _writer(path: Path, views: _Views, crf: float | None) -> VideoWriter:
    src = views.original
    width, height = views.size
    info = src.with_changes(
        path=str(path),
        codec="libx264",
        width=width + width % 2,
        height=height + height % 2,
        pix_fmt="yuv420p",
        bit_depth=8,
        audio=(),
    )
    return VideoWriter(path, info, EncodeSettings(codec="libx264", crf=crf, pix_fmt="yuv420p"))


def _drive(
    views: _Views,
    writer: VideoWriter | None,
    window: _Window | None,
    picks: set[int],
    total: int | None,
    on_event: EventCallback | None,
) -> tuple[int, list[float], list[float], list[CompositeFrame], CompositeFrame | None]:
    """Pull every composite through the runner's stream into the outputs (the video, the
    window); keep the grid's picks and the last frame, and report progress as events."""
    psnr_t: list[float] = []
    psnr_e: list[float] = []
    kept: list[CompositeFrame] = []
    last: list[CompositeFrame] = []
    made: dict[int, CompositeFrame] = {}

    def composites() -> Iterator[Frame]:
        for cf in views.frames():
            made[cf.index] = cf
            yield Frame(_even(cf.image), cf.pts, cf.index)

    def shown(frame: Frame) -> None:
        cf = made.pop(frame.index)
        if window is not None:
            window.show(cf.image)
        if cf.index in picks:
            kept.append(cf)
        last[:] = [cf]
        psnr_t.append(cf.psnr_test)
        if cf.psnr_enhanced is not None:
            psnr_e.append(cf.psnr_enhanced)

    info = views.original
    with EventBus(on_event) as bus:
        meter = Meter(bus, "compare", total)
        source = FrameSource(composites(), info)
        done = stream(source, Recipe((Identity(),)), writer, on_output=shown, on_frame=meter.progress)
        meter.finish("done")
    return done, psnr_t, psnr_e, kept, last[0] if last else None
