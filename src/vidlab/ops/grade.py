"""Cinematic grading ops: 3D LUTs from .cube files, tone curve, bloom, grain, vignette.

A "cinematic look" is a recipe of these small ops, e.g.
``lut file=teal_orange | tone contrast=0.3 | bloom | vignette amount=0.4 | grain``.

Speed comes from doing the float work once, not per pixel:

- ``lut`` bakes the whole 3D LUT (1D shaper, domain, interpolation and ``strength``) into a dense
  table of packed ``uint32`` entries, one per 8-bit RGB input (2^24, 64 MiB), the first time it
  is used; a frame is then one gather (``np.take``, split over threads by rows). Tables are cached
  per (file content hash, interp, strength) at module level, so the op stays a tiny picklable
  dataclass. Results match FFmpeg's ``lut3d`` filter within one code value (FFmpeg truncates,
  we round half up). FFmpeg 9 ignores ``DOMAIN_MIN``, domains narrower than 0..1 and ``DOMAIN_*``
  lines before ``LUT_3D_SIZE``, and reads no 1D shaper from a .cube; we honour all of them. The
  packing assumes a little-endian machine (x86, ARM).
- ``tone`` is a 256-entry ``cv2.LUT``; ``vignette`` a cached gain map and one ``cv2.multiply``;
  ``bloom`` works at a quarter of the resolution in 16-bit linear light; ``grain`` draws
  quantized Gaussian noise from random bytes through a 256-entry inverse-CDF table.

:func:`srgb_to_linear` and :func:`linear_to_srgb` are the exact IEC 61966-2-1 transfer
functions, on float arrays; frames stay ``uint8`` sRGB, so there are no linearize ops.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.ops.base import SpatialOp, param
from vidlab.ops.registry import register_op

log = logging.getLogger(__name__)

# -- sRGB transfer ----------------------------------------------------------------------------------


def srgb_to_linear(x: np.ndarray | float) -> np.ndarray:
    """sRGB-encoded values (0..1) to linear light, the exact IEC 61966-2-1 piecewise curve.

    Keeps float32 input float32 (anything else becomes float64); values outside 0..1 follow the
    same formula (negative values stay on the linear segment)."""
    a = np.asarray(x)
    a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
    lo = a / a.dtype.type(12.92)
    hi = ((np.maximum(a, 0.04045) + a.dtype.type(0.055)) / a.dtype.type(1.055)) ** a.dtype.type(2.4)
    return np.where(a <= 0.04045, lo, hi)


def linear_to_srgb(x: np.ndarray | float) -> np.ndarray:
    """Linear light (0..1) to sRGB encoding, the exact inverse of :func:`srgb_to_linear`."""
    a = np.asarray(x)
    a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
    lo = a * a.dtype.type(12.92)
    hi = a.dtype.type(1.055) * np.maximum(a, 0.0031308) ** a.dtype.type(1 / 2.4) - a.dtype.type(0.055)
    return np.where(a <= 0.0031308, lo, hi)


#: Every 8-bit sRGB code in linear light (float32) and as 16-bit linear (uint16, 65535 = 1.0).
_SRGB_TO_LIN = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
_SRGB_TO_LIN16 = np.round(srgb_to_linear(np.arange(256) / 255.0) * 65535).astype(np.uint16)


@functools.cache
def _lin16_to_srgb8() -> np.ndarray:
    """65536-entry table: 16-bit linear light to the nearest 8-bit sRGB code."""
    return np.round(linear_to_srgb(np.arange(65536) / 65535.0) * 255).astype(np.uint8)


# -- .cube files ------------------------------------------------------------------------------------

MAX_CUBE_SIZE = 256
MAX_1D_SIZE = 65536
_KEYWORD = re.compile(r"^[A-Z][A-Z0-9_]*$")
Triple = tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Shaper:
    """A 1D LUT (one curve per channel), applied before the 3D table or on its own."""

    size: int
    domain_min: Triple
    domain_max: Triple
    table: np.ndarray  # (size, 3) float32


@dataclass(frozen=True, eq=False)
class Cube:
    """A parsed .cube file. ``table`` is float32 ``(N, N, N, 3)`` indexed ``[r][g][b]`` (the file
    lists red fastest); ``size`` is ``N``, 0 with ``table`` None for a file that is only a 1D LUT.
    ``shaper`` is the optional 1D section, applied first. Equality and hashing go by ``digest``
    (a hash of the file's bytes), so caches keyed by a Cube are keyed by content."""

    title: str
    size: int
    domain_min: Triple
    domain_max: Triple
    table: np.ndarray | None
    shaper: Shaper | None = None
    digest: str = ""
    path: str = ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cube) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


class _CubeSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")


def read_cube(path: str | os.PathLike[str]) -> Cube:
    """Parse a .cube file (Adobe/Iridas, with Resolve's 1D shaper extension).

    Supported: ``TITLE``, ``#`` comments, blank lines, ``LUT_3D_SIZE`` (2..256), ``DOMAIN_MIN`` /
    ``DOMAIN_MAX``, ``LUT_1D_SIZE`` with ``LUT_1D_INPUT_RANGE`` (a 1D shaper when a 3D section
    follows, else a plain 1D LUT) and ``LUT_3D_INPUT_RANGE``; other upper-case keywords (such as
    ``LUT_IN_VIDEO_RANGE``) are ignored. Raises :class:`RecipeError`, one line naming the file
    and the line."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise RecipeError("LUT file not found", p) from None
    except IsADirectoryError:
        raise RecipeError("LUT file is a directory", p) from None
    except OSError as exc:
        raise RecipeError(f"cannot read LUT file: {exc.strerror or exc}", p) from None
    return parse_cube(data, p)


def parse_cube(data: bytes, path: str | os.PathLike[str] = "<cube>") -> Cube:
    """Parse the bytes of a .cube file; ``path`` names it in errors."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise RecipeError("LUT file is not text", path) from None
    try:
        cube = _parse_cube_text(text)
    except _CubeSyntaxError as exc:
        raise RecipeError(str(exc), path) from None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return Cube(
        title=cube.title,
        size=cube.size,
        domain_min=cube.domain_min,
        domain_max=cube.domain_max,
        table=cube.table,
        shaper=cube.shaper,
        digest=digest,
        path=os.fspath(path),
    )


def _numbers(tokens: list[str], count: int, keyword: str, line: int) -> list[float]:
    if len(tokens) != count:
        raise _CubeSyntaxError(line, f"{keyword} needs {count} numbers, found {len(tokens)}")
    values = []
    for tok in tokens:
        try:
            v = float(tok)
        except ValueError:
            raise _CubeSyntaxError(line, f"{tok!r} is not a number") from None
        if not math.isfinite(v):
            raise _CubeSyntaxError(line, f"{tok!r} is not a finite number")
        values.append(v)
    return values


def _size(tokens: list[str], keyword: str, line: int, lo: int, hi: int) -> int:
    if len(tokens) != 1:
        raise _CubeSyntaxError(line, f"{keyword} needs one integer, found {len(tokens)} values")
    try:
        n = int(tokens[0])
    except ValueError:
        raise _CubeSyntaxError(line, f"{keyword} {tokens[0]!r} is not an integer") from None
    if n > hi:
        raise _CubeSyntaxError(line, f"{keyword} {n} is over the maximum {hi}")
    if n < lo:
        raise _CubeSyntaxError(line, f"{keyword} {n} is under the minimum {lo}")
    return n


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse_cube_text(text: str) -> Cube:
    lines = text.splitlines()
    title = ""
    size3 = size1 = 0
    domain: dict[str, tuple[Triple, int]] = {}
    range1: tuple[float, float] | None = None
    range3: tuple[float, float] | None = None
    first_data = len(lines)
    for i, raw in enumerate(lines):
        lineno = i + 1
        stripped = raw.strip()
        if stripped.startswith("TITLE"):
            title = stripped[5:].strip().strip('"').strip()
            continue
        body = stripped.split("#", 1)[0].strip()
        if not body:
            continue
        head, *rest = body.split()
        if _is_number(head):
            first_data = i
            break
        if head == "LUT_3D_SIZE":
            size3 = _size(rest, head, lineno, 2, MAX_CUBE_SIZE)
        elif head == "LUT_1D_SIZE":
            size1 = _size(rest, head, lineno, 2, MAX_1D_SIZE)
        elif head in ("DOMAIN_MIN", "DOMAIN_MAX"):
            domain[head] = (tuple(_numbers(rest, 3, head, lineno)), lineno)  # type: ignore[assignment]
        elif head in ("LUT_1D_INPUT_RANGE", "LUT_3D_INPUT_RANGE"):
            lo, hi = _numbers(rest, 2, head, lineno)
            if hi <= lo:
                raise _CubeSyntaxError(lineno, f"{head} maximum {hi:g} must be above its minimum {lo:g}")
            if head == "LUT_1D_INPUT_RANGE":
                range1 = (lo, hi)
            else:
                range3 = (lo, hi)
        elif _KEYWORD.match(head):
            log.debug("ignoring .cube keyword %s on line %d", head, lineno)
        else:
            raise _CubeSyntaxError(lineno, f"{head!r} is not a number or a .cube keyword")

    if not size3 and not size1:
        where = first_data + 1 if first_data < len(lines) else max(len(lines), 1)
        raise _CubeSyntaxError(where, "missing LUT_3D_SIZE (or LUT_1D_SIZE) before the table")

    dmin, dmin_line = domain.get("DOMAIN_MIN", ((0.0, 0.0, 0.0), 0))
    dmax, dmax_line = domain.get("DOMAIN_MAX", ((1.0, 1.0, 1.0), 0))
    for lo, hi in zip(dmin, dmax, strict=True):
        if hi <= lo:
            raise _CubeSyntaxError(max(dmin_line, dmax_line), "DOMAIN_MAX must be above DOMAIN_MIN")

    n1, n3 = size1, size3**3
    expected = n1 + n3
    rows = _table_rows(lines, first_data, expected, _count_label(size1, size3))

    shaper = None
    if size1:
        if range1 is not None:
            s_min, s_max = (range1[0],) * 3, (range1[1],) * 3
        elif not size3:
            s_min, s_max = dmin, dmax
        else:
            s_min, s_max = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        shaper = Shaper(size1, s_min, s_max, np.ascontiguousarray(rows[:n1], dtype=np.float32))  # type: ignore[arg-type]
    table = None
    c_min: Triple = (0.0, 0.0, 0.0)
    c_max: Triple = (1.0, 1.0, 1.0)
    if size3:
        if range3 is not None:
            c_min, c_max = (range3[0],) * 3, (range3[1],) * 3
        else:
            c_min, c_max = dmin, dmax
        # File order is red fastest: entry r + g*N + b*N^2, so reshape gives [b][g][r].
        table = np.ascontiguousarray(rows[n1:].reshape(size3, size3, size3, 3).transpose(2, 1, 0, 3))
        table = table.astype(np.float32, copy=False)
    elif shaper is not None:
        c_min, c_max = shaper.domain_min, shaper.domain_max
    return Cube(title, size3, tuple(map(float, c_min)), tuple(map(float, c_max)), table, shaper)  # type: ignore[arg-type]


def _count_label(size1: int, size3: int) -> str:
    if size1 and size3:
        return f"{size1} + {size3**3} entries for LUT_1D_SIZE {size1} and LUT_3D_SIZE {size3}"
    if size3:
        return f"{size3**3} entries for LUT_3D_SIZE {size3}"
    return f"{size1} entries for LUT_1D_SIZE {size1}"


def _table_rows(lines: list[str], start: int, expected: int, label: str) -> np.ndarray:
    """The table's ``expected`` rows of three numbers, as float64 ``(expected, 3)``. A fast
    path parses everything at once; on any doubt the line-by-line path finds the exact error."""
    body = lines[start:]
    try:  # C parser: skips blank lines and comments, insists on the same column count per row
        values = np.loadtxt(body, dtype=np.float64, comments="#", ndmin=2)
    except ValueError:
        values = None
    if values is not None and values.shape == (expected, 3) and np.isfinite(values).all():
        return values
    out = np.empty((expected, 3), np.float64)
    found = 0
    extra_line = 0
    for i, raw in enumerate(body, start + 1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        tokens = text.split()
        if _KEYWORD.match(tokens[0]) and not _is_number(tokens[0]):
            raise _CubeSyntaxError(i, f"keyword {tokens[0]} after the table data has started")
        if len(tokens) != 3:
            bad = next((t for t in tokens if not _is_number(t)), None)
            if bad is not None:
                raise _CubeSyntaxError(i, f"{bad!r} is not a number")
            raise _CubeSyntaxError(i, f"expected 3 numbers, found {len(tokens)}")
        values = _numbers(tokens, 3, "a table entry", i)
        if found < expected:
            out[found] = values
        elif not extra_line:
            extra_line = i
        found += 1
    if found != expected:
        where = extra_line or max(len(lines), 1)
        raise _CubeSyntaxError(where, f"expected {label}, found {found}")
    return out


# -- baking a cube into a dense 2^24 table ---------------------------------------------------------


def _axis_positions(cube: Cube, channel: int) -> np.ndarray:
    """Where each 8-bit input code of ``channel`` falls on the 3D table's axis (float64, 0..N-1),
    after the shaper and the domain, as FFmpeg computes it (clamped to the table)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    s = cube.shaper
    if s is not None:
        x = _interp_1d(
            s.table[:, channel].astype(np.float64), x, s.domain_min[channel], s.domain_max[channel]
        )
    lo, hi = cube.domain_min[channel], cube.domain_max[channel]
    return np.clip((x - lo) / (hi - lo) * (cube.size - 1), 0.0, cube.size - 1)


def _interp_1d(curve: np.ndarray, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    n = curve.shape[0]
    pos = np.clip((x - lo) / (hi - lo) * (n - 1), 0.0, n - 1)
    prev = pos.astype(np.intp)
    nxt = np.minimum(prev + 1, n - 1)
    d = pos - prev
    return curve[prev] + (curve[nxt] - curve[prev]) * d


def _split(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    prev = pos.astype(np.intp)
    nxt = np.minimum(prev + 1, n - 1)
    return prev, nxt, (pos - prev).astype(np.float32)


def _to_bytes(planes: np.ndarray, strength: float, i0: int, out: np.ndarray) -> None:
    """Quantize ``(3, B, 256, 256)`` float planes (0..1) for red inputs ``i0..i0+B`` into ``out``
    (round half up), packed as R | G<<8 | B<<16 so the entries' little-endian bytes read R, G, B,
    0. With ``strength`` < 1 the identity is mixed in first."""
    rows = planes.shape[1]
    if strength < 1.0:
        s, t = np.float32(strength), np.float32(1.0 - strength)
        planes *= s
        planes[0] += t * _INPUT[i0 : i0 + rows, None, None]
        planes[1] += t * _INPUT[None, :, None]
        planes[2] += t * _INPUT[None, None, :]
    planes *= np.float32(255.0)
    planes += np.float32(0.5)
    np.clip(planes, 0.0, 255.0, out=planes)
    codes = planes.astype(np.uint32)  # truncation of values >= 0: floor
    codes[1] <<= 8
    codes[2] <<= 16
    np.bitwise_or(codes[0], codes[1], out=out)
    out |= codes[2]


_INPUT = (np.arange(256, dtype=np.float32) / np.float32(255.0)).astype(np.float32)
_BLOCK = 16


def _in_blocks(work: Callable[[int, int], None]) -> None:
    """Run ``work(i0, i1)`` over blocks of red inputs on the thread pool (NumPy and BLAS release
    the GIL, so a table builds about twice as fast on two cores)."""
    _run_parallel(work, [(i0, min(256, i0 + _BLOCK)) for i0 in range(0, 256, _BLOCK)])


def _build_trilinear(cube: Cube, strength: float, out: np.ndarray) -> None:
    """Trilinear interpolation is separable: the 8-bit inputs of one axis are a 256 x N weight
    matrix (two non-zeros a row), so the dense table is three matrix products per channel."""
    n = cube.size
    assert cube.table is not None
    weights = []
    for c in range(3):
        prev, nxt, d = _split(_axis_positions(cube, c), n)
        w = np.zeros((256, n), np.float32)
        np.add.at(w, (np.arange(256), prev), 1 - d)
        np.add.at(w, (np.arange(256), nxt), d)
        weights.append(w)
    wr, wg, wb = weights
    table_c = np.ascontiguousarray(np.moveaxis(cube.table, -1, 0))  # (3, N_r, N_g, N_b)
    a = np.einsum("ix,cxyz->ciyz", wr, table_c, optimize=True)  # (3, 256, N_g, N_b)
    wbt = np.ascontiguousarray(wb.T)
    view = out.reshape(256, 256, 256)

    def work(i0: int, i1: int) -> None:
        rows = i1 - i0
        ag = np.matmul(wg, a[:, i0:i1])  # (3, B, 256, N_b): green contracted
        planes = (ag.reshape(-1, n) @ wbt).reshape(3, rows, 256, 256)  # blue: one GEMM
        _to_bytes(planes, strength, i0, view[i0:i1])

    _in_blocks(work)


def _build_tetrahedral(cube: Cube, strength: float, out: np.ndarray) -> None:
    """Tetrahedral interpolation (FFmpeg's, after the Truelight paper) over every 8-bit input, one
    red input at a time on a 256 x 256 (green, blue) plane. The corner weights in closed form
    (max/min of the three fractions) make the six tetrahedra one weighted sum of the eight cell
    corners, and the corners are gathered once per red cell, channels first."""
    n = cube.size
    assert cube.table is not None
    table_c = np.ascontiguousarray(np.moveaxis(cube.table, -1, 0))  # (3, N_r, N_g, N_b)
    pr, nr, dr_all = _split(_axis_positions(cube, 0), n)
    pg, ng, dg = _split(_axis_positions(cube, 1), n)
    pb, nb, db = _split(_axis_positions(cube, 2), n)
    dg2 = np.ascontiguousarray(np.broadcast_to(dg[:, None], (256, 256)))
    db2 = np.ascontiguousarray(np.broadcast_to(db[None, :], (256, 256)))
    max_gb = np.maximum(dg2, db2)
    min_gb = np.minimum(dg2, db2)
    view = out.reshape(256, 256, 256)

    def corners(p: int, q: int) -> list[np.ndarray]:
        planes = []
        for t in (table_c[:, p], table_c[:, q]):  # (3, N_g, N_b)
            tp, tn = t[:, pg], t[:, ng]  # (3, 256, N_b)
            planes += [tp[:, :, pb], tp[:, :, nb], tn[:, :, pb], tn[:, :, nb]]
        return planes  # c000, c001, c010, c011, c100, c101, c110, c111

    def work(i0: int, i1: int) -> None:
        planes = np.empty((3, i1 - i0, 256, 256), np.float32)
        cached: tuple[tuple[int, int], list[np.ndarray]] | None = None
        for i in range(i0, i1):
            key = (int(pr[i]), int(nr[i]))
            if cached is None or cached[0] != key:
                cached = (key, corners(*key))
            c000, c001, c010, c011, c100, c101, c110, c111 = cached[1]
            dr = dr_all[i]
            acc = planes[:, i - i0]
            np.multiply(c000, 1 - np.maximum(dr, max_gb), out=acc)
            acc += c111 * np.minimum(dr, min_gb)
            acc += c100 * np.maximum(0, dr - max_gb)
            acc += c011 * np.maximum(0, min_gb - dr)
            acc += c010 * np.maximum(0, dg2 - np.maximum(dr, db2))
            acc += c001 * np.maximum(0, db2 - np.maximum(dr, dg2))
            acc += c110 * np.maximum(0, np.minimum(dr, dg2) - db2)
            acc += c101 * np.maximum(0, np.minimum(dr, db2) - dg2)
        _to_bytes(planes, strength, i0, view[i0:i1])

    _in_blocks(work)


def dense_table(cube: Cube, interp: str, strength: float = 1.0) -> np.ndarray:
    """The cube baked for every 8-bit RGB input: ``uint32[2^24]`` indexed by ``R<<16 | G<<8 | B``,
    each entry the output bytes R, G, B, 0 (little-endian). 64 MiB and ~1 s to bake: the ``lut``
    op holds it once per process (``Op.state``)."""
    if cube.table is None:
        raise ValueError("a 1D-only cube has no 3D table; use lut1d_table")
    out = np.empty(1 << 24, np.uint32)
    if interp == "tetrahedral":
        _build_tetrahedral(cube, strength, out)
    else:
        _build_trilinear(cube, strength, out)
    return out


@functools.lru_cache(maxsize=16)
def lut1d_table(cube: Cube, strength: float = 1.0) -> np.ndarray:
    """A 1D-only cube as a ``(256, 1, 3)`` uint8 table for ``cv2.LUT``."""
    assert cube.shaper is not None
    s = cube.shaper
    x = np.arange(256) / 255.0
    chans = [
        _interp_1d(s.table[:, c].astype(np.float64), x, s.domain_min[c], s.domain_max[c]) for c in range(3)
    ]
    curve = np.stack(chans, -1) * strength + x[:, None] * (1 - strength)
    return np.clip(np.floor(curve * 255 + 0.5), 0, 255).astype(np.uint8).reshape(256, 1, 3)


# -- applying a dense table -------------------------------------------------------------------------

_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0
_POOL_LOCK = threading.Lock()
_POOL_PREFIX = "vidlab-grade"
_MIN_PARALLEL_PIXELS = 1 << 18


def _threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def _pool() -> ThreadPoolExecutor:
    """A small per-process thread pool (re-made after a fork: threads do not survive one)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            _POOL = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix=_POOL_PREFIX)
            _POOL_PID = os.getpid()
        return _POOL


def _run_parallel(fn: Callable[..., None], jobs: Sequence[tuple[Any, ...]]) -> None:
    """Run ``fn(*job)`` for every job: the first here, the rest on the pool (inline when already
    on a pool thread, so nested use cannot deadlock)."""
    if not jobs:
        return
    if len(jobs) == 1 or threading.current_thread().name.startswith(_POOL_PREFIX):
        for job in jobs:
            fn(*job)
        return
    futures = [_pool().submit(fn, *job) for job in jobs[1:]]
    try:
        fn(*jobs[0])
    finally:
        for f in futures:
            f.result()


def _gather_rows(image: np.ndarray, table: np.ndarray, out: np.ndarray, y0: int, y1: int) -> None:
    bgra = cv2.cvtColor(image[y0:y1], cv2.COLOR_RGB2BGRA)  # bytes B, G, R, 255
    idx = bgra.view(np.uint32).reshape(y1 - y0, -1)  # B | G<<8 | R<<16 | 255<<24
    np.bitwise_and(idx, 0x00FFFFFF, out=idx)
    packed = np.take(table, idx)  # bytes R', G', B', 0
    cv2.cvtColor(packed.view(np.uint8).reshape(y1 - y0, -1, 4), cv2.COLOR_RGBA2RGB, dst=out[y0:y1])


def apply_dense_table(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map every pixel of an ``H x W x 3`` uint8 RGB image through a :func:`dense_table`, in row
    bands over a few threads (OpenCV and ``np.take`` release the GIL)."""
    image = np.ascontiguousarray(image)
    h = image.shape[0]
    out = np.empty_like(image)
    parts = _threads() if image.shape[0] * image.shape[1] >= _MIN_PARALLEL_PIXELS else 1
    bounds = [(h * k // parts, h * (k + 1) // parts) for k in range(parts)]
    _run_parallel(_gather_rows, [(image, table, out, a, b) for a, b in bounds])
    return out


# -- shipped LUTs and file resolution ---------------------------------------------------------------


@functools.cache
def shipped_luts() -> dict[str, Path]:
    """The LUTs that ship with vidlab (``vidlab/data/luts/*.cube``), by name."""
    try:
        folder = resources.files("vidlab.data").joinpath("luts")
    except ModuleNotFoundError:  # pragma: no cover - broken install
        return {}
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".cube"):
            found[entry.name[: -len(".cube")]] = Path(str(entry))
    return dict(sorted(found.items()))


def resolve_lut(file: str) -> Path:
    """A path to a .cube file, or the name of a shipped LUT (``teal_orange``)."""
    p = Path(file).expanduser()
    if p.is_file():
        return p
    shipped = shipped_luts()
    name = file[: -len(".cube")] if file.endswith(".cube") else file
    if name in shipped and os.sep not in file and "/" not in file:
        return shipped[name]
    names = ", ".join(shipped) or "none"
    raise RecipeError(f"op 'lut': LUT file not found: {file} (shipped LUTs: {names})")


@functools.lru_cache(maxsize=16)
def _load_cube(path: str, mtime_ns: int, size: int) -> Cube:
    return read_cube(path)


def load_cube(file: str) -> Cube:
    """Resolve and parse ``file`` (cached while the file's size and mtime stay the same)."""
    p = resolve_lut(file)
    try:
        st = p.stat()
    except OSError as exc:
        raise RecipeError(f"cannot read LUT file: {exc.strerror or exc}", p) from None
    return _load_cube(os.fspath(p), st.st_mtime_ns, st.st_size)


# -- ops --------------------------------------------------------------------------------------------


@register_op
@dataclass(frozen=True)
class Lut(SpatialOp):
    """Apply a 3D LUT from a .cube file (or a shipped look: teal_orange, bleach_bypass...)."""

    name: ClassVar[str] = "lut"
    file: str = param(
        "teal_orange",
        help="a .cube file, or a shipped LUT: teal_orange, bleach_bypass, warm_film, mono_silver",
    )
    interp: str = param(
        "tetrahedral", choices=("trilinear", "tetrahedral"), help="interpolation between table points"
    )
    strength: float = param(1.0, min=0.0, max=1.0, help="mix with the original (0: untouched, 1: full)")

    def validate(self) -> None:
        load_cube(self.file)

    def table(self) -> np.ndarray:
        """The baked dense table: opened once per process for these parameters and this version
        of the file, then shared by every frame, chunk and equal op the process runs."""
        path = resolve_lut(self.file)
        st = path.stat()
        return self.state(
            f"table {st.st_mtime_ns}:{st.st_size}",
            lambda: dense_table(load_cube(self.file), self.interp, self.strength),
        )

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return image
        cube = load_cube(self.file)
        if cube.table is None:
            return cv2.LUT(image, lut1d_table(cube, self.strength))
        return apply_dense_table(image, self.table())


def _logistic_s(x: np.ndarray, k: float, pivot: float) -> np.ndarray:
    """A logistic S-curve through ``pivot``, normalized to map 0 to 0 and 1 to 1."""
    f = 1.0 / (1.0 + np.exp(-k * (x - pivot)))
    f0 = 1.0 / (1.0 + math.exp(k * pivot))
    f1 = 1.0 / (1.0 + math.exp(-k * (1.0 - pivot)))
    return (f - f0) / (f1 - f0)


@functools.lru_cache(maxsize=64)
def tone_curve(contrast: float, pivot: float, shadows: float, highlights: float) -> np.ndarray:
    """The tone curve on 256 points (float64, 0..1): a logistic S through ``pivot`` whose slope
    grows with ``contrast``, then a shadow and a highlight bump that vanish at 0 and 1. Monotonic
    for every parameter in range, and it fixes black and white."""
    x = np.arange(256) / 255.0
    y = x if contrast <= 0 else _logistic_s(x, 10.0 * contrast, pivot)
    # x + a * x(1-x)^2 has slope 1 + a(1-x)(1-3x) >= 0 for |a| <= 1 (same for the mirror image).
    y = y + shadows * y * (1 - y) ** 2
    y = y + highlights * y**2 * (1 - y)
    return np.clip(y, 0.0, 1.0)


@functools.lru_cache(maxsize=64)
def _tone_lut8(contrast: float, pivot: float, shadows: float, highlights: float) -> np.ndarray:
    return np.floor(tone_curve(contrast, pivot, shadows, highlights) * 255 + 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def _tone_gain(contrast: float, pivot: float, shadows: float, highlights: float) -> np.ndarray:
    y = tone_curve(contrast, pivot, shadows, highlights) * 255
    x = np.arange(256, dtype=np.float64)
    gain = np.divide(y, x, out=np.ones(256), where=x > 0)
    return gain.astype(np.float32)


@register_op
@dataclass(frozen=True)
class Tone(SpatialOp):
    """S-curve tone map (contrast around a pivot, shadow and highlight shaping), one 8-bit LUT."""

    name: ClassVar[str] = "tone"
    contrast: float = param(0.3, min=0.0, max=3.0, help="S-curve strength (0: none; slope ~1.2 at 0.3)")
    pivot: float = param(0.5, min=0.05, max=0.95, help="level (0..1) the S-curve turns around")
    shadows: float = param(0.0, min=-1.0, max=1.0, help="lift (+) or deepen (-) the shadows")
    highlights: float = param(0.0, min=-1.0, max=1.0, help="brighten (+) or roll off (-) the highlights")
    luma_only: bool = param(False, help="curve the luma and scale RGB by the same ratio (keeps hue)")

    def _key(self) -> tuple[float, float, float, float]:
        return (self.contrast, self.pivot, self.shadows, self.highlights)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self._key() == (0.0, self.pivot, 0.0, 0.0):
            return image
        if not self.luma_only:
            return cv2.LUT(image, _tone_lut8(*self._key()))
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        gain = cv2.LUT(luma, _tone_gain(*self._key()))
        return cv2.multiply(image, cv2.cvtColor(gain, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_8U)


@functools.lru_cache(maxsize=8)
def vignette_gain(
    height: int, width: int, amount: float, radius: float, softness: float, roundness: float
) -> np.ndarray:
    """The vignette as an ``H x W x 3`` uint8 gain map in code values (255 = unchanged).

    The falloff is defined in linear light, ``1 - amount * smoothstep(radius, radius + softness,
    d)``, with ``d`` the distance from the centre normalized so the corners sit at sqrt(2) (on an
    ellipse following the frame at roundness 0, a circle at 1); it becomes a code-value gain with
    the display's 2.2 power, so ``cv2.multiply`` applies it at 8 bits in one pass."""
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    half_diag = math.hypot(width / 2.0, height / 2.0) / math.sqrt(2.0)
    ax = (1 - roundness) * (width / 2.0) + roundness * half_diag
    ay = (1 - roundness) * (height / 2.0) + roundness * half_diag
    u = (((np.arange(width) - cx) / ax) ** 2).astype(np.float32)
    v = (((np.arange(height) - cy) / ay) ** 2).astype(np.float32)
    d = cv2.sqrt(v[:, None] + u[None, :])
    t = np.clip((d - np.float32(radius)) * np.float32(1 / max(softness, 1e-6)), 0.0, 1.0)
    t = t * t * (3 - 2 * t)  # smoothstep
    gain_lin = 1 - np.float32(amount) * t
    gain = cv2.pow(gain_lin, 1 / 2.2) * np.float32(255) + np.float32(0.5)
    return cv2.cvtColor(gain.astype(np.uint8), cv2.COLOR_GRAY2RGB)


@register_op
@dataclass(frozen=True)
class Vignette(SpatialOp):
    """Darken toward the corners (a linear-light falloff, applied as a cached 8-bit gain map)."""

    name: ClassVar[str] = "vignette"
    amount: float = param(0.3, min=0.0, max=1.0, help="light lost in the corners (linear light, 1 = black)")
    radius: float = param(0.6, min=0.0, max=1.5, help="where darkening starts (corners are at 1.41)")
    softness: float = param(0.8, min=0.01, max=2.0, help="width of the falloff, same units as radius")
    roundness: float = param(0.5, min=0.0, max=1.0, help="0: follows the frame's aspect, 1: a circle")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.amount == 0:
            return image
        h, w = image.shape[:2]
        gain = vignette_gain(h, w, self.amount, self.radius, self.softness, self.roundness)
        return cv2.multiply(image, gain, scale=1 / 255.0)


@register_op
@dataclass(frozen=True)
class Bloom(SpatialOp):
    """Glow around highlights: bright-pass in linear light, blur, add back (at 1/4 resolution)."""

    name: ClassVar[str] = "bloom"
    threshold: float = param(0.75, min=0.0, max=1.0, help="linear-light level where the glow starts")
    knee: float = param(0.25, min=0.0, max=1.0, help="soft knee below the threshold (fraction of it)")
    radius: float = param(0.03, min=0.001, max=0.5, help="blur sigma as a fraction of the frame height")
    strength: float = param(0.6, min=0.0, max=4.0, help="how much of the glow is added back")

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.strength == 0:
            return image
        h, w = image.shape[:2]
        sw, sh = max(1, round(w / 4)), max(1, round(h / 4))
        lin16 = cv2.LUT(image, _SRGB_TO_LIN16)  # 16-bit linear light
        small = cv2.resize(lin16, (sw, sh), interpolation=cv2.INTER_AREA)  # averages light
        bright = self._bright_pass(small.astype(np.float32) * np.float32(1 / 65535))
        if bright is None:
            return image
        glow = _wide_blur(bright, max(0.5, self.radius * sh))
        glow16 = np.clip(glow * np.float32(self.strength * 65535) + np.float32(0.5), 0, 65535)
        glow16 = glow16.astype(np.uint16)
        significant = glow16.max(axis=2) >= _BLOOM_EPS
        if not significant.any():
            return image
        # Upsampling spreads a grid cell one cell further: dilate, then cover with rectangles.
        significant = cv2.dilate(significant.view(np.uint8), np.ones((3, 3), np.uint8)) > 0
        full = cv2.resize(glow16, (w, h), interpolation=cv2.INTER_LINEAR)
        out = image.copy()
        encode = _lin16_to_srgb8()

        def composite(y0: int, y1: int, x0: int, x1: int) -> None:
            summed = cv2.add(lin16[y0:y1, x0:x1], full[y0:y1, x0:x1])  # saturates at 1.0
            out[y0:y1, x0:x1] = np.take(encode, summed)

        _run_parallel(composite, _cover(significant, h, w))
        return out

    def _bright_pass(self, lin: np.ndarray) -> np.ndarray | None:
        """Keep what is above the threshold, with a quadratic soft knee (as game engines do);
        None when nothing reaches the knee."""
        t = self.threshold
        k = max(t * self.knee, 1e-5)
        r, g, b = cv2.split(lin)
        peak = cv2.max(cv2.max(r, g), b)
        if float(peak.max()) <= t - k:
            return None
        soft = np.clip(peak - np.float32(t - k), 0, np.float32(2 * k))
        soft = soft * soft * np.float32(1 / (4 * k))
        contrib = np.maximum(soft, peak - np.float32(t)) / np.maximum(peak, np.float32(1e-5))
        return cv2.multiply(lin, cv2.cvtColor(contrib, cv2.COLOR_GRAY2RGB))


#: Glow under this (16-bit linear, 1e-4) is dropped: under a third of the smallest 8-bit step.
_BLOOM_EPS = 6
_BLOOM_BOX = 64


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur for any sigma at a bounded cost: halve the image (2x2 area, a sigma of 0.5
    px) until the remaining sigma is small. Returns a smaller grid when it halved; callers
    resize."""
    while sigma > 3.0 and min(image.shape[:2]) >= 16:
        h, w = image.shape[:2]
        image = cv2.resize(image, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        sigma = math.sqrt(max(sigma * sigma - 0.25, 0.25)) / 2
    return cv2.GaussianBlur(image, (0, 0), sigma)


def _cover(mask: np.ndarray, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Disjoint full-resolution boxes ``(y0, y1, x0, x1)`` covering the cells of ``mask`` (a
    coarse grid over the frame): strips about 64 px tall, each cut to its columns in use."""
    gh, gw = mask.shape
    step = max(1, round(_BLOOM_BOX * gh / height))
    boxes = []
    for r0 in range(0, gh, step):
        r1 = min(gh, r0 + step)
        cols = np.flatnonzero(mask[r0:r1].any(axis=0))
        if cols.size == 0:
            continue
        y0, y1 = r0 * height // gh, r1 * height // gh
        x0, x1 = int(cols[0]) * width // gw, (int(cols[-1]) + 1) * width // gw
        if y1 > y0 and x1 > x0:
            boxes.append((y0, y1, x0, x1))
    return boxes


@functools.cache
def _gaussian_quantiles() -> np.ndarray:
    """256 equiprobable quantiles of the standard normal: random bytes through this table are
    Gaussian noise at a fraction of the cost of ``standard_normal``."""
    from statistics import NormalDist

    nd = NormalDist()
    q = np.array([nd.inv_cdf((i + 0.5) / 256) for i in range(256)], np.float64)
    return (q / q.std()).astype(np.float32)


def _grain_field(height: int, width: int, size: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with grains about ``size`` pixels across: drawn at 1/size resolution,
    scaled up, softened to hide the interpolation grid. Multiply by :func:`_grain_norm` for a
    unit standard deviation."""
    gh, gw = max(1, round(height / size)), max(1, round(width / size))
    raw = np.frombuffer(rng.bytes(gh * gw), np.uint8).reshape(gh, gw)
    field = cv2.LUT(raw, _gaussian_quantiles())
    if (gh, gw) != (height, width):
        field = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
    if size > 1:
        field = cv2.GaussianBlur(field, (0, 0), 0.35 * size)
    return field


@functools.lru_cache(maxsize=16)
def _grain_norm(height: int, width: int, size: float) -> float:
    """1 / the standard deviation that scaling and softening leave (measured once per shape)."""
    if size <= 1:
        return 1.0
    field = _grain_field(height, width, size, np.random.default_rng(0))
    return 1.0 / max(float(field.std()), 1e-6)


@functools.lru_cache(maxsize=16)
def _grain_weights(amount: float, luma_weighted: bool) -> np.ndarray:
    """Grain standard deviation in code values for each luma code: strongest in the midtones."""
    y = np.arange(256) / 255.0
    w = 0.25 + 0.75 * 4 * y * (1 - y) if luma_weighted else np.ones(256)
    return (w * amount * 255).astype(np.float32)


@register_op
@dataclass(frozen=True)
class Grain(SpatialOp):
    """Film grain: seeded Gaussian noise, new every frame, strongest in the midtones.

    A frame's grain depends only on ``seed`` and the frame's index in the source, so chunked and
    parallel runs reproduce it exactly."""

    name: ClassVar[str] = "grain"
    seed: int = param(0, min=0, max=2**31 - 1, help="random seed (same seed, same grain)")
    amount: float = param(
        0.02, min=0.0, max=0.5, help="grain standard deviation in the midtones, fraction of full scale"
    )
    size: float = param(1.5, min=1.0, max=8.0, help="grain size in pixels")
    luma_weighted: bool = param(True, help="strongest in the midtones, weaker in shadows and highlights")

    def apply(self, image: np.ndarray, index: int = 0) -> np.ndarray:
        if self.amount == 0:
            return image
        h, w = image.shape[:2]
        rng = np.random.default_rng([self.seed, index])
        field = _grain_field(h, w, self.size, rng)
        weights = _grain_weights(self.amount, self.luma_weighted) * np.float32(_grain_norm(h, w, self.size))
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        scaled = cv2.multiply(field, cv2.LUT(luma, weights))
        return cv2.add(image, cv2.cvtColor(scaled, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_8U)

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            yield frame.with_image(self.apply(frame.image, frame.index))
