"""The foundation's fidelity contract: what goes in comes out, exactly where it must."""

from fractions import Fraction

import av
import numpy as np
import pytest

from conftest import first_time, frame_times, packets, psnr
from vidlab.core.errors import UsageError
from vidlab.io import EncodeSettings, probe, read_frames
from vidlab.pipeline import execute


def _planes(path, fmt="yuv420p"):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def test_identity_gbrp_roundtrip_is_bit_exact(sample_mp4, tmp_path):
    out = tmp_path / "rgb.mkv"
    # No audio here: this checks pixels and video timestamps only.
    execute(sample_mp4, out, "identity", EncodeSettings(codec="ffv1", pix_fmt="gbrp"), copy_audio=False)
    src, dst = read_frames(sample_mp4), read_frames(out)
    assert len(src) == len(dst) == 24
    for a, b in zip(src, dst, strict=True):
        assert np.array_equal(a.image, b.image)
        assert abs(a.pts - b.pts) <= Fraction(1, 2000)  # Matroska stores milliseconds
    exact = tmp_path / "rgb.mp4"  # MP4 keeps the source's time base: exact timestamps
    execute(sample_mp4, exact, "identity", EncodeSettings(codec="ffv1", pix_fmt="gbrp"))
    again = read_frames(exact)
    assert [f.pts for f in again] == [f.pts for f in src]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(src, again, strict=True))


def test_identity_yuv420p_ffv1_luma_psnr(sample_mp4, tmp_path):
    out = tmp_path / "yuv.mkv"
    execute(sample_mp4, out, "identity", EncodeSettings(codec="ffv1", pix_fmt="yuv420p"))
    h = 180
    src, dst = _planes(sample_mp4), _planes(out)
    assert len(src) == len(dst)
    worst = min(psnr(a[:h], b[:h]) for a, b in zip(src, dst, strict=True))
    assert worst >= 50, worst


@pytest.mark.parametrize("fixture", ["sample_mp4", "ntsc_mp4", "vfr_mkv"])
def test_metadata_and_timestamps_preserved(fixture, request, tmp_path):
    src = request.getfixturevalue(fixture)
    out = tmp_path / f"out{src.suffix}"
    execute(src, out, "identity", EncodeSettings(codec="libx264", crf=18, preset="veryfast"))
    a, b = probe(src), probe(out)
    assert b.frame_count == a.frame_count
    assert b.fps == a.fps and isinstance(b.fps, Fraction)
    assert (b.width, b.height, b.sar, b.rotation) == (a.width, a.height, a.sar, a.rotation)
    assert b.color == a.color
    assert b.is_vfr == a.is_vfr
    assert frame_times(out) == frame_times(src)


@pytest.mark.parametrize("fixture", ["sample_mp4", "ntsc_mp4", "vfr_mkv"])
def test_audio_copied_byte_exact_and_in_sync(fixture, request, tmp_path):
    src = request.getfixturevalue(fixture)
    out = tmp_path / f"a{src.suffix}"
    execute(src, out, "identity", EncodeSettings(codec="libx264", preset="ultrafast"))
    assert [p for _, p in packets(out)] == [p for _, p in packets(src)]
    offset_src = first_time(src, "audio") - first_time(src, "video")
    offset_out = first_time(out, "audio") - first_time(out, "video")
    assert abs(offset_out - offset_src) <= Fraction(1, 1000)


def test_audio_trimmed_with_start(sample_mp4, tmp_path):
    out = tmp_path / "cut.mp4"
    execute(sample_mp4, out, "identity", start=Fraction(1, 3), duration=Fraction(1, 3))
    assert frame_times(out) == [Fraction(i, 30) for i in range(10)]
    src_payloads = [p for _, p in packets(sample_mp4)]
    cut = [p for _, p in packets(out)]
    assert 0 < len(cut) < len(src_payloads)
    i = src_payloads.index(cut[0])
    assert src_payloads[i : i + len(cut)] == cut  # a contiguous, untouched run of packets
    assert abs(first_time(out, "audio") - first_time(out, "video")) < Fraction(1, 20)


@pytest.mark.parametrize(("codec", "floor"), [("ffv1", 45), ("libx264", 40), ("libx265", 40)])
def test_ten_bit_written_back_as_ten_bit(codec, floor, tenbit_mkv, tmp_path):
    out = tmp_path / "ten.mkv"
    execute(tenbit_mkv, out, "identity", EncodeSettings(codec=codec, crf=None if codec == "ffv1" else 12))
    info = probe(out)
    assert info.pix_fmt == "yuv420p10le" and info.bit_depth == 10
    a, b = _planes(tenbit_mkv, "yuv420p10le"), _planes(out, "yuv420p10le")
    assert len(a) == len(b) == 12
    assert a[0].dtype == np.uint16 and b[0].max() > 255  # real 10-bit samples
    assert min(psnr(x[:180], y[:180], peak=1023) for x, y in zip(a, b, strict=True)) > floor


@pytest.mark.parametrize(
    ("codec", "suffix"),
    [("libx265", ".mp4"), ("libvpx-vp9", ".webm"), ("libsvtav1", ".mp4"), ("vp8", ".webm")],
)
def test_other_codecs(codec, suffix, sample_mp4, tmp_path):
    out = tmp_path / f"o{suffix}"
    execute(sample_mp4, out, "identity", EncodeSettings(codec=codec), copy_audio=suffix != ".webm")
    info = probe(out)
    assert info.frame_count == 24
    a, b = read_frames(sample_mp4), read_frames(out)
    assert min(psnr(x.image, y.image) for x, y in zip(a, b, strict=True)) > 28


def test_bitrate_mode_hits_target(sample_mp4, tmp_path):
    lo, hi = tmp_path / "lo.mp4", tmp_path / "hi.mp4"
    execute(sample_mp4, lo, "identity", EncodeSettings(bitrate_kbps=150), copy_audio=False)
    execute(sample_mp4, hi, "identity", EncodeSettings(bitrate_kbps=1200), copy_audio=False)
    assert lo.stat().st_size < hi.stat().st_size
    kbps = lo.stat().st_size * 8 / 1000 / (24 / 30)
    assert 75 < kbps < 300


def test_odd_size_refused_for_420(tmp_path, sample_mp4):
    with pytest.raises(UsageError, match="odd"):
        execute(sample_mp4, tmp_path / "odd.mp4", "resize width=161 height=91")
    assert list(tmp_path.iterdir()) == []
    execute(sample_mp4, tmp_path / "odd.mkv", "resize width=161 height=91", EncodeSettings(pix_fmt="yuv444p"))
    assert (probe(tmp_path / "odd.mkv").width, probe(tmp_path / "odd.mkv").height) == (161, 91)


def test_container_codec_mismatch(sample_mp4, tmp_path):
    with pytest.raises(UsageError, match="cannot hold libx264"):
        execute(sample_mp4, tmp_path / "x.webm", "identity", EncodeSettings(codec="libx264"))
    with pytest.raises(UsageError, match="cannot hold aac audio"):
        execute(sample_mp4, tmp_path / "y.webm", "identity", EncodeSettings(codec="vp9"))
    assert list(tmp_path.iterdir()) == []
