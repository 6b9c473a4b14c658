"""Codec sweeps: every codec at every bitrate (and every enhancer on each decode), written as a
rate-distortion table (CSV and JSON), RD plots (PNG), BD-rate / BD-quality between every pair of
curves, and one self-contained HTML report that embeds them."""

from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidlab.core.errors import UsageError
from vidlab.core.fsutil import write_atomic
from vidlab.io.codecs import canonical_codec
from vidlab.lab.bdrate import BDRateError, bd_quality, bd_rate
from vidlab.lab.codec import CodecTestResult, codec_test, container_suffix, evaluate_enhancer
from vidlab.pipeline.presets import recipe_or_preset

QUALITY_KEYS = ("psnr_y", "ssim_y", "vmaf")
_LABELS = {"psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y", "vmaf": "VMAF"}


@dataclass
class SweepPoint:
    curve: str  # "h264" or "h264+bilateral"
    codec: str
    enhancer: str | None
    target_kbps: float
    actual_kbps: float
    psnr_y: float
    ssim_y: float
    vmaf: float | None
    encode_ms_per_frame: float
    decode_ms_per_frame: float
    enhancer_ms_per_frame: float | None
    file_bytes: int
    frames: int


@dataclass
class SweepResult:
    points: list[SweepPoint]
    bd: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def curves(self) -> dict[str, list[SweepPoint]]:
        out: dict[str, list[SweepPoint]] = {}
        for p in self.points:
            out.setdefault(p.curve, []).append(p)
        return out


def _plain_point(result: CodecTestResult, target: float) -> SweepPoint:
    """The decoded video's point (no enhancer)."""
    q = result.quality
    return SweepPoint(
        result.codec, result.codec, None, target, result.actual_kbps, q.psnr_y, q.ssim_y, q.vmaf,
        result.encode_ms_per_frame, result.decode_ms_per_frame, None, result.file_bytes, result.frames,
    )  # fmt: skip


def bd_table(curves: dict[str, list[SweepPoint]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """BD-rate and BD-quality for every ordered-once pair of curves and every quality key; a
    pair that cannot be computed (too few points, non-monotonic) carries the reason instead."""
    rows = []
    for (a, pa), (b, pb) in itertools.combinations(curves.items(), 2):
        for key in keys:
            anchor = [(p.actual_kbps, getattr(p, key)) for p in pa]
            test = [(p.actual_kbps, getattr(p, key)) for p in pb]
            if any(v is None for _, v in anchor + test):
                continue
            row: dict[str, Any] = {"anchor": a, "test": b, "metric": key}
            try:
                row["bd_rate_pct"] = bd_rate(anchor, test, anchor_name=a, test_name=b)
                row["bd_quality"] = bd_quality(anchor, test, anchor_name=a, test_name=b)
            except BDRateError as exc:
                row["error"] = exc.message
            rows.append(row)
    return rows


def _plot(curves: dict[str, list[SweepPoint]], key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, pts in curves.items():
        pts = sorted(pts, key=lambda p: p.actual_kbps)
        style = "--" if "+" in name else "-"
        ax.plot([p.actual_kbps for p in pts], [getattr(p, key) for p in pts], style, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("bitrate (kbps, actual)")
    ax.set_ylabel(_LABELS[key])
    ax.set_title(f"Rate-distortion: {_LABELS[key]}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _html(result: SweepResult, source: str, keys: Sequence[str], plots: dict[str, Path]) -> str:
    esc = html.escape
    cols = [f for f in SweepPoint.__dataclass_fields__]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_cell(getattr(p, c)))}</td>" for c in cols) + "</tr>"
        for p in result.points
    )
    bd_head = "<th>anchor</th><th>test</th><th>metric</th><th>BD-rate (%)</th><th>BD-quality</th>"
    bd_body = "".join(
        f"<tr><td>{esc(r['anchor'])}</td><td>{esc(r['test'])}</td><td>{esc(r['metric'])}</td>"
        + (
            f"<td colspan=2>{esc(r['error'])}</td>"
            if "error" in r
            else f"<td>{r['bd_rate_pct']:+.2f}</td><td>{r['bd_quality']:+.4f}</td>"
        )
        + "</tr>"
        for r in result.bd
    )
    imgs = "".join(
        f'<figure><img alt="{esc(k)}" src="data:image/png;base64,'
        f'{base64.b64encode(plots[k].read_bytes()).decode()}"></figure>'
        for k in keys
        if k in plots
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vidlab codec sweep</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}
figure{{display:inline-block;margin:0 1em 1em 0}}</style></head><body>
<h1>Codec sweep</h1><p>Source: {esc(source)}. BD-rate: negative means the test curve needs fewer
bits than the anchor for the same quality (PCHIP over log-rate, as libvmaf computes it).</p>
{imgs}<h2>BD-rate and BD-quality</h2><table><tr>{bd_head}</tr>{bd_body}</table>
<h2>Rate-distortion points</h2><table><tr>{head}</tr>{body}</table></body></html>
"""


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def sweep(
    input_path: str | Path,
    codecs: Sequence[str],
    bitrates: Sequence[float],
    outdir: str | Path,
    *,
    enhancers: Sequence[str] = (),
    vmaf: bool = False,
    max_frames: int | None = None,
    on_point: Callable[[str, float], None] | None = None,
) -> SweepResult:
    """Run the sweep and write ``rd.csv``, ``rd.json``, ``bd.json``, ``rd_<metric>.png`` and
    ``report.html`` into ``outdir``."""
    if not codecs or not bitrates:
        raise UsageError("name at least one codec and one bitrate")
    if any(b <= 0 for b in bitrates):
        raise UsageError("bitrates must be > 0 kbps")
    for c in codecs:
        canonical_codec(c)  # unknown codecs fail before anything runs
    recipes = [(e, recipe_or_preset(e)) for e in enhancers]  # unknown enhancers fail before anything runs
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    points: list[SweepPoint] = []
    with tempfile.TemporaryDirectory(prefix="vidlab-sweep-") as tmp:
        for codec in codecs:
            for kbps in sorted(bitrates):
                if on_point:
                    on_point(codec, kbps)
                encoded = Path(tmp) / f"{codec}_{kbps:g}{container_suffix(canonical_codec(codec))}"
                r = codec_test(
                    input_path, codec, bitrate_kbps=kbps, vmaf=vmaf, max_frames=max_frames, output=encoded
                )
                plain = _plain_point(r, kbps)
                points.append(plain)
                for text, recipe in recipes:
                    if on_point:
                        on_point(f"{codec}+{text}", kbps)
                    q, ms = evaluate_enhancer(
                        Path(input_path),
                        encoded,
                        recipe,
                        Path(tmp) / "enhanced.mkv",
                        vmaf=vmaf,
                        frames=r.frames,
                    )
                    # the name the user gave: "combined" (a preset of bilateral | sharpen) is not "bilateral"
                    name = f"{codec}+{text}"
                    points.append(
                        replace(plain, curve=name, enhancer=str(recipe), psnr_y=q.psnr_y, ssim_y=q.ssim_y,
                                vmaf=q.vmaf, enhancer_ms_per_frame=ms)
                    )  # fmt: skip
                encoded.unlink(missing_ok=True)
    result = SweepResult(points)
    keys = [k for k in QUALITY_KEYS if k != "vmaf" or vmaf]
    result.bd = bd_table(result.curves(), keys)
    rows = [p.__dict__ for p in points]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files = {
        "csv": out / "rd.csv",
        "json": out / "rd.json",
        "bd": out / "bd.json",
        "html": out / "report.html",
    }
    write_atomic(files["csv"], buf.getvalue().encode())
    write_atomic(files["json"], json.dumps({"source": str(input_path), "points": rows}, indent=2).encode())
    write_atomic(files["bd"], json.dumps(result.bd, indent=2).encode())
    plots = {}
    for key in keys:
        plots[key] = out / f"rd_{key}.png"
        _plot(result.curves(), key, plots[key])
        files[f"plot_{key}"] = plots[key]
    write_atomic(files["html"], _html(result, str(input_path), keys, plots).encode())
    result.files = files
    return result
