"""PSNR/SSIM/VMAF against the ffmpeg CLI's own filters on real encoded clips, alignment,
scaling, pooling, and the `vidlab metrics` command."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import run_cli
from vidlab.core.errors import MediaError, UsageError
from vidlab.io.codecs import EncodeSettings
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.metrics.quality import pooled, quality
from vidlab.pipeline import execute
from vidlab.pipeline.recipe import Recipe


@pytest.fixture(scope="module")
def distorted(sample_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("metrics") / "crf38.mp4"
    execute(sample_mp4, out, Recipe.parse("identity"), EncodeSettings(codec="libx264", crf=38))
    return out


def ffmpeg_stats(ref: Path, dist: Path, tmp: Path, filt: str, extra: str = "") -> list[dict[str, str]]:
    """Per-frame stats from the ffmpeg CLI's psnr/ssim filter (stats_file lines 'k:v k:v')."""
    log = tmp / f"{filt}.log"
    graph = f"[0:v]{extra or 'null'}[d];[d][1:v]{filt}=stats_file={log}"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(dist), "-i", str(ref), "-lavfi", graph, "-f", "null", "-"],
        check=True,
    )
    rows = []
    for line in log.read_text().splitlines():
        fields = dict(tok.split(":", 1) for tok in line.split() if ":" in tok)
        rows.append(fields)
    return rows


def test_psnr_and_ssim_match_ffmpeg_filters(sample_mp4: Path, distorted: Path, tmp_path: Path):
    ours = quality(sample_mp4, distorted)
    psnr_ff = ffmpeg_stats(sample_mp4, distorted, tmp_path, "psnr")
    ssim_ff = ffmpeg_stats(sample_mp4, distorted, tmp_path, "ssim")
    assert len(ours.psnr) == len(psnr_ff) == len(ssim_ff) == 24
    for mine, ff in zip(ours.psnr, psnr_ff, strict=True):
        for plane in ("y", "u", "v"):
            assert abs(mine[f"psnr_{plane}"] - float(ff[f"psnr_{plane}"])) < 0.01
        assert abs(mine["psnr_avg"] - float(ff["psnr_avg"])) < 0.01
        assert abs(mine["mse_avg"] - float(ff["mse_avg"])) < 0.01
    for mine, ff in zip(ours.ssim, ssim_ff, strict=True):
        for ours_key, ff_key in (("ssim_y", "Y"), ("ssim_u", "U"), ("ssim_v", "V"), ("ssim_avg", "All")):
            assert abs(mine[ours_key] - float(ff[ff_key])) < 0.001
    assert 20 < ours.global_()["psnr"]["psnr_y"]["mean"] < 45  # a real, lossy encode


def test_vmaf_matches_the_ffmpeg_cli(sample_mp4: Path, distorted: Path, tmp_path: Path):
    ours = quality(sample_mp4, distorted, psnr=False, ssim=False, vmaf=True)
    log = tmp_path / "vmaf.json"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(distorted), "-i", str(sample_mp4), "-lavfi",
         f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads=2", "-f", "null", "-"],
        check=True,
    )  # fmt: skip
    ff = json.loads(log.read_text())["frames"]
    assert len(ours.vmaf) == len(ff) == 24
    for mine, theirs in zip(ours.vmaf, ff, strict=True):
        assert abs(mine["vmaf"] - theirs["metrics"]["vmaf"]) < 0.5
    assert 0 < ours.global_()["vmaf"]["vmaf"]["mean"] < 100


def test_vmaf_pass_gives_the_same_psnr_and_ssim(sample_mp4: Path, distorted: Path, tmp_path: Path):
    """With --vmaf, PSNR/SSIM come from the same ffmpeg pass: identical to the in-process path,
    also when the distorted video is scaled and delayed."""
    small = tmp_path / "small.mkv"
    execute(
        sample_mp4,
        small,
        Recipe.parse("resize width=160"),
        EncodeSettings(codec="ffv1"),
        start=Fraction(2, 30),
    )
    for dist, offset in ((distorted, 0), (small, -2)):
        plain = quality(sample_mp4, dist, offset=offset)
        both = quality(sample_mp4, dist, vmaf=True, offset=offset)
        assert len(both.vmaf) == len(both.psnr) == len(plain.psnr)
        assert both.psnr == plain.psnr and both.ssim == plain.ssim


def test_identical_inputs_give_the_capped_psnr(sample_mp4: Path):
    """Identical frames report libvmaf's PSNR cap (6 x bits + 12 = 60 dB for 8-bit), not
    infinity: pooled values are finite and the JSON is strict."""
    r = quality(sample_mp4, sample_mp4)
    assert r.psnr_max == 60.0
    assert all(row["psnr_y"] == 60.0 and row["mse_y"] == 0 for row in r.psnr)
    assert r.global_()["psnr"]["psnr_avg"]["mean"] == 60.0
    assert all(row["ssim_avg"] == 1.0 for row in r.ssim)
    data = json.loads(r.to_json(), parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert data["psnr"][0]["psnr_y"] == 60.0 and data["psnr_max"] == 60.0
    assert ",60.0," in r.to_csv().splitlines()[1]


def test_distorted_is_scaled_to_the_reference(sample_mp4: Path, tmp_path: Path):
    small = tmp_path / "small.mp4"
    execute(sample_mp4, small, Recipe.parse("resize width=160"), EncodeSettings(codec="libx264", crf=18))
    ours = quality(sample_mp4, small)
    ff = ffmpeg_stats(sample_mp4, small, tmp_path, "psnr", "scale=320:180:flags=bicubic")
    for mine, theirs in zip(ours.psnr, ff, strict=True):
        assert abs(mine["psnr_y"] - float(theirs["psnr_y"])) < 0.01


def test_offset_aligns_a_delayed_stream(sample_mp4: Path, tmp_path: Path):
    late = tmp_path / "late.mkv"  # the reference minus its first 3 frames, lossless
    execute(sample_mp4, late, Recipe.parse("identity"), EncodeSettings(codec="ffv1"), start=Fraction(3, 30))
    with pytest.raises(MediaError, match=r"frame counts differ.*offset of N frames"):
        quality(sample_mp4, late)
    aligned = quality(sample_mp4, late, offset=-3)
    assert len(aligned.psnr) == 21
    assert min(row["psnr_y"] for row in aligned.psnr) > 48  # the same pictures
    with pytest.raises(UsageError, match="no frames"):
        quality(sample_mp4, sample_mp4, offset=24)
    with pytest.raises(MediaError, match="with offset 2"):
        quality(sample_mp4, sample_mp4, offset=2)


def test_pooling():
    p = pooled([1.0, 2.0, 3.0, 4.0])
    assert p["mean"] == 2.5 and p["min"] == 1.0 and p["max"] == 4.0
    assert abs(p["harmonic_mean"] - (1 / ((1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 4) - 1)) < 1e-12
    assert abs(p["p5"] - 1.15) < 1e-12


def test_metrics_cli(sample_mp4: Path, distorted: Path, tmp_path: Path):
    csv_path = tmp_path / "m.csv"
    res = run_cli("metrics", sample_mp4, distorted, "--json", "--csv", csv_path, "--max-frames", "10")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert len(data["psnr"]) == len(data["ssim"]) == 10
    assert {"psnr_y", "psnr_avg", "mse_y"} <= set(data["psnr"][0])
    assert set(data["global"]["ssim"]["ssim_y"]) == {"mean", "harmonic_mean", "min", "max", "p5"}
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0].startswith("n,mse_y") and len(lines) == 11
    table = run_cli("metrics", sample_mp4, distorted)
    assert table.returncode == 0 and "psnr_y" in table.stdout and "ssim_avg" in table.stdout


@pytest.mark.parametrize("case", ["missing", "not_video", "mismatch"])
def test_metrics_cli_errors(sample_mp4: Path, tmp_path: Path, case: str):
    other = tmp_path / "other.mp4"
    if case == "not_video":
        other.write_text("hello")
    elif case == "mismatch":
        execute(sample_mp4, other, Recipe.parse("identity"), duration=Fraction(1, 2))
    res = run_cli("metrics", sample_mp4, other)
    assert res.returncode != 0
    assert len(res.stderr.strip().splitlines()) == 1 and "other.mp4" in res.stderr
    assert "Traceback" not in res.stderr
