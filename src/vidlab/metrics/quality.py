"""Full-reference quality of a distorted video against its reference: PSNR and SSIM exactly as
FFmpeg's ``psnr`` and ``ssim`` filters define them (computed by those filters, in-process through
a PyAV filter graph, on the videos' own Y'CbCr planes), and VMAF through libvmaf in
imageio-ffmpeg's ffmpeg binary with its default model.

Results are per frame plus a ``global`` block pooled as mean, harmonic mean, min, max and 5th
percentile, shaped like ffmpeg-quality-metrics' JSON (lists under ``psnr``, ``ssim``, ``vmaf``
with keys such as ``psnr_y``, ``ssim_y``, ``vmaf``). The planes are the format's own: ``y``,
``u``, ``v`` for Y'CbCr, ``y`` alone for gray, ``r``, ``g``, ``b`` for RGB (``a`` with alpha),
each with an ``avg`` over planes; formats the filters do not take (palettes, packed RGB) are
compared as planar RGB (``gbrp``).

PSNR is capped as libvmaf caps it: a frame's PSNR is at most ``6 * bits + 12`` dB (60 dB for
8-bit, 72 for 10-bit; libvmaf's ``psnr_max`` when ``min_sse`` is 0), so identical (lossless)
frames report the cap instead of infinity, pool to finite values, and the JSON is strict.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.filter import Graph

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.stages import Stages
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.native import native_frames
from vidlab.io.probe import VideoInfo, probe

# The formats FFmpeg's psnr and ssim filters take (others are converted, see _compare_format).
_PSNR_PREFIX, _SSIM_PREFIX = "lavfi.psnr.", "lavfi.ssim."
# Plane letters in the order they are reported.
_PLANE_ORDER = "yuvrgba"
METRICS = ("psnr", "ssim", "vmaf")
_PAIR_TB = Fraction(1, 1000)


def pooled(values: list[float]) -> dict[str, float]:
    """Mean, harmonic mean, min, max and 5th percentile (linear, as NumPy's default). The
    harmonic mean is libvmaf's ``1 / mean(1 / (x + 1)) - 1`` (defined for zeros); infinite
    values pool to infinity. Plain Python: a metrics run need not load NumPy."""
    if not values:
        return {}
    a = sorted(float(v) for v in values)
    n = len(a)
    inverse = [math.inf if v == -1.0 else 1.0 / (v + 1.0) for v in a]
    mean_inverse = math.fsum(inverse) / n
    harmonic = (1.0 / mean_inverse if mean_inverse else math.inf) - 1.0
    if all(math.isfinite(v) for v in a):
        pos = 0.05 * (n - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        p5 = a[lo] + (a[hi] - a[lo]) * (pos - lo)
    else:
        p5 = a[int(0.05 * (n - 1))]
    return {
        "mean": math.fsum(a) / n if all(math.isfinite(v) for v in a) else sum(a) / n,
        "harmonic_mean": harmonic,
        "min": a[0],
        "max": a[-1],
        "p5": p5,
    }


@dataclass
class QualityReport:
    """Per-frame metric dicts (``n`` counts from 1, as ffmpeg-quality-metrics does)."""

    reference: Path
    distorted: Path
    offset: int = 0
    psnr: list[dict[str, float]] = field(default_factory=list)
    ssim: list[dict[str, float]] = field(default_factory=list)
    vmaf: list[dict[str, float]] = field(default_factory=list)
    extra: list[dict[str, float]] = field(default_factory=list)
    #: The PSNR cap in dB (``6 * bits + 12``, libvmaf's rule), None when PSNR was not measured.
    psnr_max: float | None = None

    @property
    def frames(self) -> int:
        return max(len(self.psnr), len(self.ssim), len(self.vmaf), len(self.extra))

    def global_(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for metric in (*METRICS, "extra"):
            rows = getattr(self, metric)
            if rows:
                keys = [k for k in rows[0] if k != "n"]
                out[metric] = {k: pooled([r[k] for r in rows]) for k in keys}
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {m: getattr(self, m) for m in (*METRICS, "extra") if getattr(self, m)}
        data["global"] = self.global_()
        data["input_file_ref"] = str(self.reference)
        data["input_file_dist"] = str(self.distorted)
        data["offset"] = self.offset
        if self.psnr_max is not None:
            data["psnr_max"] = self.psnr_max
        return data

    @property
    def capped_frames(self) -> int:
        """Frames whose PSNR (any plane) sits at the cap: identical, or nearly, to the reference."""
        cap = self.psnr_max
        if cap is None:
            return 0
        return sum(1 for r in self.psnr if any(k.startswith("psnr_") and v >= cap for k, v in r.items()))

    def to_json(self) -> str:
        """Strict JSON (no NaN or Infinity: PSNR is capped; anything else non-finite is null)."""
        return _dumps(finite_json(self.to_dict()))

    def rows(self) -> list[dict[str, float]]:
        """One row per frame with every metric as a column (tidy: a frame is an observation)."""
        merged: dict[int, dict[str, float]] = {}
        for metric in (*METRICS, "extra"):
            for r in getattr(self, metric):
                merged.setdefault(int(r["n"]), {"n": r["n"]}).update(r)
        return [merged[n] for n in sorted(merged)]

    def to_csv(self) -> str:
        rows = self.rows()
        if not rows:
            return ""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
        return buf.getvalue()


def _dumps(data: dict[str, Any]) -> str:
    """Indented JSON with one frame per line: readable, and written by the C encoder (an
    indented ``json.dumps`` falls back to the pure-Python one, slow for 300 frames of VMAF)."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            text = "[\n    " + ",\n    ".join(json.dumps(v, allow_nan=False) for v in value) + "\n  ]"
        else:
            text = json.dumps(value, indent=2, allow_nan=False).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}"


def _fmt(v: float) -> str | float:
    return "inf" if isinstance(v, float) and math.isinf(v) else v


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float made ``None``, so ``json.dumps(..., allow_nan=False)``
    (and every strict JSON parser) accepts it. PSNR is already capped (see the module)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    return obj


def psnr_cap(bits: int) -> float:
    """libvmaf's PSNR ceiling for ``bits``-deep samples: ``6 * bits + 12`` dB (60 for 8-bit)."""
    return float(6 * bits + 12)


def _plane_key(letter: str) -> tuple[int, str]:
    return (_PLANE_ORDER.find(letter) if letter in _PLANE_ORDER else len(_PLANE_ORDER), letter)


def psnr_values(meta: Any, cap: float) -> dict[str, float]:
    """The psnr filter's frame metadata as ``mse_<plane>``, ``mse_avg``, ``psnr_<plane>``,
    ``psnr_avg`` for whatever planes the format has (y; y/u/v; r/g/b; and a), PSNR capped."""
    mse: dict[str, float] = {}
    db: dict[str, float] = {}
    for key, value in meta.items():
        if not key.startswith(_PSNR_PREFIX):
            continue
        name = key[len(_PSNR_PREFIX) :]
        if name.startswith("mse."):
            mse[name[4:].lower()] = float(value)
        elif name.startswith("psnr."):
            db[name[5:].lower()] = min(float(value), cap)
        elif name == "mse_avg":
            mse["avg"] = float(value)
        elif name == "psnr_avg":
            db["avg"] = min(float(value), cap)
    if "avg" not in mse or "avg" not in db or not db:
        raise MediaError("the psnr filter reported no values for this pixel format")
    out = {f"mse_{p}": mse[p] for p in sorted((p for p in mse if p != "avg"), key=_plane_key)}
    out["mse_avg"] = mse["avg"]
    out.update({f"psnr_{p}": db[p] for p in sorted((p for p in db if p != "avg"), key=_plane_key)})
    out["psnr_avg"] = db["avg"]
    return out


def ssim_values(meta: Any) -> dict[str, float]:
    """The ssim filter's frame metadata as ``ssim_<plane>`` (Y/U/V, Y alone, R/G/B) and
    ``ssim_avg`` (its ``All``); the filter's ``dB`` form is left out."""
    planes: dict[str, float] = {}
    avg: float | None = None
    for key, value in meta.items():
        if not key.startswith(_SSIM_PREFIX):
            continue
        name = key[len(_SSIM_PREFIX) :]
        if name == "All":
            avg = float(value)
        elif len(name) == 1:
            planes[name.lower()] = float(value)
    if avg is None or not planes:
        raise MediaError("the ssim filter reported no values for this pixel format")
    out = {f"ssim_{p}": planes[p] for p in sorted(planes, key=_plane_key)}
    out["ssim_avg"] = avg
    return out


# Formats both filters take as they are (FFmpeg's vf_psnr/vf_ssim lists, the common ones).
_FILTER_FORMATS = frozenset(
    f"{base}{depth}"
    for base in ("yuv420p", "yuv422p", "yuv444p", "yuva420p", "yuva422p", "yuva444p")
    for depth in ("", "10le", "12le")
) | {"yuv440p", "yuv411p", "yuv410p", "yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p"} | {
    "gray", "gray10le", "gray12le", "gray16le", "gbrp", "gbrp10le", "gbrp12le", "gbrp16le",
}  # fmt: skip


def _compare_format(name: str) -> str:
    """The pixel format frames are compared in: the reference's own when the filters take it,
    else planar RGB for RGB and palette formats (exact), gray for gray, else Y'CbCr 4:4:4."""
    if name in _FILTER_FORMATS:
        return name
    from vidlab.io.colors import bit_depth, is_rgb_format

    deep = bit_depth(name) > 8
    fmt = av.VideoFormat(name)
    if name == "pal8" or is_rgb_format(name):
        return "gbrp16le" if deep else "gbrp"
    if len([c for c in fmt.components if not c.is_alpha]) == 1:
        return "gray16le" if deep else "gray"
    if fmt.chroma_width(64) == 32 and fmt.chroma_height(64) == 32:
        return "yuv420p10le" if deep else "yuv420p"
    return "yuv444p16le" if deep else "yuv444p"


def _format_bits(name: str) -> int:
    from vidlab.io.colors import bit_depth

    return bit_depth(name)


# -- alignment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alignment:
    """Which frames are compared: ``count`` pairs, skipping ``skip_ref`` / ``skip_dist`` first."""

    ref: VideoInfo
    dist: VideoInfo
    skip_ref: int
    skip_dist: int
    count: int


def align(reference: Path, distorted: Path, offset: int = 0, max_frames: int | None = None) -> Alignment:
    """Check both inputs and pair their frames. ``offset`` > 0 means the distorted stream is
    late by that many frames (its first ``offset`` frames are dropped); < 0, the reference is.
    The frame counts must match, unless ``max_frames`` asks for a prefix both have."""
    ref, dist = probe(reference), probe(distorted)
    skip_ref, skip_dist = max(0, -offset), max(0, offset)
    n_ref, n_dist = ref.frame_count - skip_ref, dist.frame_count - skip_dist
    if min(n_ref, n_dist) <= 0:
        raise UsageError(f"offset {offset} leaves no frames to compare", param="offset")
    if max_frames is not None and min(n_ref, n_dist) >= max_frames:
        return Alignment(ref, dist, skip_ref, skip_dist, max_frames)  # the first N frames of both
    if n_ref != n_dist:
        hint = "" if offset else " (an offset of N frames aligns a delayed stream)"
        raise MediaError(
            f"frame counts differ: {reference.name} has {ref.frame_count}, {distorted.name} has "
            f"{dist.frame_count}{f' with offset {offset}' if offset else ''}{hint}",
            param="offset",
        )
    count = n_ref if max_frames is None else min(n_ref, max_frames)
    return Alignment(ref, dist, skip_ref, skip_dist, count)


# -- PSNR / SSIM through FFmpeg's filters, in process ---------------------------------------------


def _filter_metrics(
    al: Alignment, reference: Path, distorted: Path, want_psnr: bool, want_ssim: bool, threads: int
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Run ``psnr`` and/or ``ssim`` over the aligned pairs. The distorted video is scaled
    (bicubic) and converted to the reference's size and pixel format when they differ."""
    # Each input decodes on its own thread (as the ffmpeg CLI does) while this one filters.
    stages = Stages(queue_size=8)
    try:
        return _run_filters(stages, al, reference, distorted, want_psnr, want_ssim, threads)
    finally:
        stages.stop()


def _run_filters(
    stages: Stages,
    al: Alignment,
    reference: Path,
    distorted: Path,
    want_psnr: bool,
    want_ssim: bool,
    threads: int,
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    per_input = max(1, threads // 2)
    ref_q = stages.stage(
        "decode-ref", lambda: native_frames(reference, skip=al.skip_ref, count=al.count, threads=per_input)
    )
    dist_q = stages.stage(
        "decode-dist", lambda: native_frames(distorted, skip=al.skip_dist, count=al.count, threads=per_input)
    )
    ref_frames, dist_frames = stages.drain(ref_q), stages.drain(dist_q)
    first_ref, first_dist = next(ref_frames, None), next(dist_frames, None)
    if first_ref is None or first_dist is None:
        _raise_stage_error(stages)
        raise MediaError("no frames decoded", reference if first_ref is None else distorted)

    fmt = _compare_format(first_ref.format.name)
    cap = psnr_cap(_format_bits(fmt))
    graph = Graph()
    graph.threads = 1  # the two decoders already keep the cores busy; slices would only contend
    src_d = graph.add_buffer(width=first_ref.width, height=first_ref.height, format=fmt, time_base=_PAIR_TB)
    src_r = graph.add_buffer(width=first_ref.width, height=first_ref.height, format=fmt, time_base=_PAIR_TB)
    node = src_d
    filters = [name for name, on in (("psnr", want_psnr), ("ssim", want_ssim)) if on]
    ref_out = src_r
    if len(filters) == 2:
        split = graph.add("split", "2")
        src_r.link_to(split)
        ref_out = split
    for k, name in enumerate(filters):
        f = graph.add(name)
        node.link_to(f, 0, 0)
        ref_out.link_to(f, k if len(filters) == 2 else 0, 1)
        node = f
    sink = graph.add("buffersink")
    node.link_to(sink)
    graph.configure()

    psnr_rows: list[dict[str, float]] = []
    ssim_rows: list[dict[str, float]] = []

    def drain() -> None:
        while True:
            try:
                out = sink.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            n = len(psnr_rows or ssim_rows) + 1
            meta = out.metadata
            if want_psnr:
                psnr_rows.append({"n": n, **psnr_values(meta, cap)})
            if want_ssim:
                ssim_rows.append({"n": n, **ssim_values(meta)})

    pairs = zip(_chain(first_ref, ref_frames), _chain(first_dist, dist_frames), strict=False)
    size = (first_ref.width, first_ref.height)
    for i, (fr, fd) in enumerate(pairs):
        if fr.format.name != fmt:
            fr = fr.reformat(format=fmt)  # palette or packed RGB to planar: exact
        if (fd.width, fd.height) != size or fd.format.name != fmt:
            # swscale's bicubic, as the ffmpeg CLI's scale filter does by default (measured equal).
            fd = fd.reformat(width=size[0], height=size[1], format=fmt, interpolation="BICUBIC")
        fr.pts = fd.pts = i
        fr.time_base = fd.time_base = _PAIR_TB
        src_d.push(fd)
        src_r.push(fr)
        drain()
    _raise_stage_error(stages)
    src_d.push(None)
    src_r.push(None)
    drain()
    if len(psnr_rows or ssim_rows) != al.count:
        raise MediaError(f"decoded {len(psnr_rows or ssim_rows)} frame pairs, expected {al.count}", distorted)
    return psnr_rows, ssim_rows


def _raise_stage_error(stages: Stages) -> None:
    if stages.errors:
        raise stages.errors[0]


def _chain(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest


# -- VMAF through the ffmpeg binary's libvmaf ---------------------------------------------------


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def _vmaf(
    al: Alignment, reference: Path, distorted: Path, threads: int, psnr: bool, ssim: bool
) -> tuple[list[dict[str, float]], list[dict[str, float]], list[dict[str, float]]]:
    """VMAF per frame from the ffmpeg binary's libvmaf, and in the same pass (it costs almost
    nothing beside VMAF) the ``psnr``/``ssim`` filters' values, read back from the frames'
    metadata: (vmaf rows, psnr rows, ssim rows)."""
    tmp = Path(tempfile.mkdtemp(prefix="vidlab-vmaf-"))
    try:
        log, meta = tmp / "vmaf.json", tmp / "meta.txt"
        size = (
            f",scale={al.ref.width}:{al.ref.height}:flags=bicubic"
            if ((al.dist.width, al.dist.height) != (al.ref.width, al.ref.height))
            else ""
        )
        fmt = _compare_format(al.ref.pix_fmt)
        filters = [f for f, on in (("psnr", psnr), ("ssim", ssim)) if on]
        refs = [f"[r{i}]" for i in range(len(filters) + 1)]
        chain, node = [], "[d]"
        for i, f in enumerate(filters):
            chain.append(f"{node}{refs[i]}{f}[m{i}]")
            node = f"[m{i}]"
        vmaf = f"{node}{refs[-1]}libvmaf=log_fmt=json:log_path={_escape(str(log))}:n_threads={threads}"
        if filters:
            vmaf += f",metadata=mode=print:file={_escape(str(meta))}"
        graph = ";".join(
            [
                f"[0:v]select=gte(n\\,{al.skip_dist}),setpts=N/TB{size},format={fmt}[d]",
                f"[1:v]select=gte(n\\,{al.skip_ref}),setpts=N/TB,format={fmt},split={len(refs)}{''.join(refs)}",
                *chain,
                vmaf,
            ]
        )
        # libvmaf's own threads do the heavy work; one-thread decoders and filter graph keep
        # them from fighting over the cores (measured: the three metrics then cost what libvmaf
        # alone costs with ffmpeg's default threading).
        cmd = [
            ffmpeg_exe(), "-nostdin", "-v", "error", "-filter_complex_threads", "1",
            "-threads", "1", "-i", str(distorted), "-threads", "1", "-i", str(reference),
            "-filter_complex", graph, "-frames:v", str(al.count), "-f", "null", "-",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not log.is_file():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MediaError(f"libvmaf failed: {tail}", distorted)
        frames = json.loads(log.read_text())["frames"][: al.count]
        # (the filters may see one frame more than -frames:v lets through to the output)
        blocks = _metadata_blocks(meta.read_text())[: len(frames)] if filters else []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    vmaf_rows = [{"n": f["frameNum"] + 1, **f["metrics"]} for f in frames]
    cap = psnr_cap(_format_bits(fmt))
    psnr_rows = [{"n": i, **psnr_values(b, cap)} for i, b in enumerate(blocks, 1)] if psnr else []
    ssim_rows = [{"n": i, **ssim_values(b)} for i, b in enumerate(blocks, 1)] if ssim else []
    if filters and len(blocks) < len(frames):
        raise MediaError(f"read {len(blocks)} frames of metrics, expected {len(frames)}", distorted)
    return vmaf_rows, psnr_rows if psnr else [], ssim_rows if ssim else []


def _metadata_blocks(text: str) -> list[dict[str, str]]:
    """Frames printed by ffmpeg's ``metadata=mode=print``: a ``frame:N ...`` line, then
    ``key=value`` lines."""
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("frame:"):
            blocks.append({})
        elif "=" in line and blocks:
            key, _, value = line.partition("=")
            blocks[-1][key.strip()] = value.strip()
    return blocks


# -- the public entry point ------------------------------------------------------------------------


def quality(
    reference: str | os.PathLike[str],
    distorted: str | os.PathLike[str],
    *,
    psnr: bool = True,
    ssim: bool = True,
    vmaf: bool = False,
    extra: bool = False,
    offset: int = 0,
    max_frames: int | None = None,
    threads: int | None = None,
) -> QualityReport:
    """Compare ``distorted`` against ``reference`` frame by frame (reference first, as libvmaf
    orders them). ``extra`` adds sharpness, edge coherence and temporal stability on RGB."""
    ref, dist = Path(reference), Path(distorted)
    al = align(ref, dist, offset, max_frames)
    threads = threads or os.cpu_count() or 1
    report = QualityReport(ref, dist, offset)
    if psnr:
        report.psnr_max = psnr_cap(_format_bits(_compare_format(al.ref.pix_fmt)))
    if vmaf:  # one ffmpeg pass for everything
        report.vmaf, report.psnr, report.ssim = _vmaf(al, ref, dist, threads, psnr, ssim)
    elif psnr or ssim:
        report.psnr, report.ssim = _filter_metrics(al, ref, dist, psnr, ssim, threads)
    if extra:
        from vidlab.metrics.image import extra_metrics

        report.extra = extra_metrics(ref, dist, al.skip_ref, al.skip_dist, al.count)
    return report
