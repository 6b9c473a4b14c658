"""codec-test and codec-sweep on generated clips encoded by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from vidlab.core.errors import UsageError
from vidlab.io.samples import generate
from vidlab.lab.codec import codec_test
from vidlab.lab.sweep import sweep
from vidlab.metrics.quality import quality


@pytest.fixture(scope="module")
def clip720(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("codec") / "clip720.mp4"
    generate(path, frames=60, size=(1280, 720), fps=30, crf=16)
    return path


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_actual_bitrate_is_near_target(clip720: Path, codec: str):
    r = codec_test(clip720, codec, bitrate_kbps=300)
    assert r.frames == 60
    assert abs(r.actual_kbps - 300) / 300 <= 0.15, r.actual_kbps
    assert r.compression_ratio > 100 and r.encode_ms_per_frame > 0 and r.decode_ms_per_frame > 0
    assert 25 < r.quality.psnr_y < 50 and 0.7 < r.quality.ssim_y < 1


def test_crf_and_every_lab_codec_encode_and_decode(sample_mp4: Path):
    results = {
        c: codec_test(sample_mp4, c, crf=30, max_frames=8) for c in ("h264", "h265", "vp8", "vp9", "av1")
    }
    for c, r in results.items():
        assert r.frames == 8, c
        assert r.passes == 1
        assert r.video_bytes > 0 and r.quality.psnr_y > 20, c
    lossy = codec_test(sample_mp4, "h264", crf=45, max_frames=8)
    assert lossy.quality.psnr_y < results["h264"].quality.psnr_y  # higher CRF, lower quality
    assert lossy.video_bytes < results["h264"].video_bytes


def test_enhancer_numbers_match_a_separate_metrics_run(sample_mp4: Path, tmp_path: Path):
    enhanced = tmp_path / "enhanced.mkv"
    r = codec_test(
        sample_mp4,
        "h264",
        bitrate_kbps=100,
        enhancer="sharpen amount=0.5",
        enhanced_output=enhanced,
        max_frames=12,
    )
    assert r.enhanced_quality is not None and r.enhancer_ms_per_frame is not None
    separate = quality(sample_mp4, enhanced, max_frames=12).global_()
    assert abs(separate["psnr"]["psnr_y"]["mean"] - r.enhanced_quality.psnr_y) < 1e-9
    assert abs(separate["ssim"]["ssim_y"]["mean"] - r.enhanced_quality.ssim_y) < 1e-9
    assert r.deltas["psnr_y"] == pytest.approx(r.enhanced_quality.psnr_y - r.quality.psnr_y)


def test_codec_test_cli(sample_mp4: Path, tmp_path: Path):
    res = run_cli(
        "codec-test", sample_mp4, "--codec", "h264", "--bitrate", "200", "--max-frames", "10", "--json"
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    for key in (
        "actual_kbps",
        "file_bytes",
        "compression_ratio",
        "encode_ms_per_frame",
        "decode_ms_per_frame",
    ):
        assert data[key] > 0
    assert data["target"]["bitrate_kbps"] == 200 and data["frames"] == 10
    table = run_cli("codec-test", sample_mp4, "--codec", "vp9", "--crf", "40", "--max-frames", "5")
    assert table.returncode == 0 and "PSNR-Y" in table.stdout
    both = run_cli("codec-test", sample_mp4, "--codec", "h264")
    assert both.returncode == 2 and "--bitrate" in both.stderr
    bad = run_cli("codec-test", sample_mp4, "--codec", "mpeg9", "--crf", "20")
    assert bad.returncode == 2 and "unknown codec 'mpeg9'" in bad.stderr


def test_sweep_writes_table_plots_bd_and_html(sample_mp4: Path, tmp_path: Path):
    res = sweep(
        sample_mp4, ["h264", "vp9"], [60, 120, 240, 480], tmp_path, enhancers=["sharpen"], max_frames=8
    )
    assert len(res.points) == 2 * 4 * 2  # codecs x bitrates x (plain + enhanced)
    assert set(res.curves()) == {"h264", "vp9", "h264+sharpen", "vp9+sharpen"}
    for name in ("rd.csv", "rd.json", "bd.json", "rd_psnr_y.png", "rd_ssim_y.png", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "rd_psnr_y.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bd = json.loads((tmp_path / "bd.json").read_text())
    pair = next(r for r in bd if r["anchor"] == "h264" and r["test"] == "vp9" and r["metric"] == "psnr_y")
    assert "bd_rate_pct" in pair or "error" in pair
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "BD-rate" in html and "h264+sharpen" in html
    rows = (tmp_path / "rd.csv").read_text().splitlines()
    assert rows[0].startswith("curve,codec,enhancer,target_kbps,actual_kbps") and len(rows) == 17


def test_sweep_refuses_bad_requests(sample_mp4: Path, tmp_path: Path):
    with pytest.raises(UsageError, match="unknown codec"):
        sweep(sample_mp4, ["h266"], [100], tmp_path / "a")
    with pytest.raises(UsageError, match="unknown op"):
        sweep(sample_mp4, ["h264"], [100], tmp_path / "b", enhancers=["magic"])
    with pytest.raises(UsageError, match="> 0"):
        sweep(sample_mp4, ["h264"], [0], tmp_path / "c")
    assert not (tmp_path / "a").exists()


def test_sweep_cli_reports_bd_errors_clearly(sample_mp4: Path, tmp_path: Path):
    # Three bitrates: too few points for BD-rate; the sweep still writes everything and says why.
    res = run_cli(
        "codec-sweep",
        sample_mp4,
        "-o",
        tmp_path,
        "--codecs",
        "h264,av1",
        "--bitrates",
        "80,160,320",
        "--max-frames",
        "6",
    )
    assert res.returncode == 0, res.stderr
    assert "at least 4" in res.stdout
    assert (tmp_path / "report.html").is_file()
