from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from conftest import frame_times, psnr
from vidlab.core.errors import UsageError
from vidlab.io import VideoReader, read_frames
from vidlab.io.samples import render


def gray(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def test_reader_frames_and_exact_timestamps(sample_mp4):
    frames = read_frames(sample_mp4)
    assert len(frames) == 24
    assert [f.pts for f in frames] == [Fraction(i, 30) for i in range(24)]
    assert [f.index for f in frames] == list(range(24))
    img = frames[0].image
    assert img.dtype == np.uint8 and img.shape == (180, 320, 3) and img.flags.c_contiguous


def test_reader_matches_ground_truth(sample_mp4):
    """The generated frames are a function of time: decoded luma must be close to it (RGB is
    limited by 4:2:0 chroma on the saturated color bars)."""
    for f in read_frames(sample_mp4)[::6]:
        truth = render(float(f.pts), 320, 180)
        assert psnr(gray(f.image), gray(truth)) > 36
        assert psnr(f.image, truth) > 27


def test_reader_seek_start_and_duration(sample_mp4):
    frames = read_frames(sample_mp4, start=Fraction(1, 3), duration=Fraction(1, 5))
    assert [f.pts for f in frames] == [Fraction(i, 30) for i in range(10, 16)]
    full = read_frames(sample_mp4)
    assert np.array_equal(frames[0].image, full[10].image)


def test_reader_start_past_end(sample_mp4):
    with pytest.raises(UsageError, match="past the end"):
        VideoReader(sample_mp4, start=100)


def _write_yuv444(path, y, u, v, matrix: int, color_range: int = 1):
    """Write raw planes with a given matrix tag, bypassing vidlab."""
    h, w = y.shape
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv444p"
        s.codec_context.colorspace = matrix
        s.codec_context.color_range = color_range
        f = av.VideoFrame.from_ndarray(np.stack([y, u, v]), format="yuv444p")
        f.colorspace = matrix
        f.color_range = color_range
        f.pts = 0
        for p in s.encode(f):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def _rgb_to_ycbcr(rgb, kr, kb):
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    q = lambda x: np.clip(np.round(x), 0, 255).astype(np.uint8)  # noqa: E731
    return q(16 + 219 * y), q(128 + 224 * cb), q(128 + 224 * cr)


@pytest.mark.parametrize(("matrix", "kr", "kb"), [(1, 0.2126, 0.0722), (6, 0.299, 0.114)])
def test_reader_uses_stream_matrix(tmp_path, matrix, kr, kb):
    rgb = render(0.5, 160, 96)
    path = tmp_path / f"m{matrix}.mkv"
    _write_yuv444(path, *_rgb_to_ycbcr(rgb, kr, kb), matrix=matrix)
    out = read_frames(path)[0].image
    assert np.abs(out.astype(int) - rgb.astype(int)).max() <= 2


def test_reader_untagged_sd_is_bt601_and_hd_is_bt709(tmp_path):
    for (w, h), (kr, kb) in {(160, 96): (0.299, 0.114), (1280, 720): (0.2126, 0.0722)}.items():
        rgb = render(0.25, w, h)
        path = tmp_path / f"u{w}.mkv"
        _write_yuv444(path, *_rgb_to_ycbcr(rgb, kr, kb), matrix=2)
        out = read_frames(path)[0].image
        assert np.abs(out.astype(int) - rgb.astype(int)).max() <= 2, (w, h)


def test_reader_ten_bit(tenbit_mkv):
    frames = read_frames(tenbit_mkv)
    assert len(frames) == 12
    for f in frames[::4]:
        assert psnr(gray(f.image), gray(render(float(f.pts), 320, 180))) > 36
    # Matches FFmpeg's 16-bit-per-channel accurate conversion of the same planes and matrix.
    with av.open(str(tenbit_mkv)) as c:
        first = next(c.decode(video=0))
        ref16 = first.reformat(
            format="rgb48le",
            src_colorspace=Colorspace.ITU709,
            src_color_range=ColorRange.MPEG,
            dst_color_range=ColorRange.JPEG,
            interpolation=Interpolation.BILINEAR | Interpolation.ACCURATE_RND,
        ).to_ndarray()
    ref = np.round(ref16 / 257.0).astype(np.uint8)
    assert psnr(gray(frames[0].image), gray(ref)) > 45  # chroma upsampling filters differ by path
    assert frame_times(tenbit_mkv)[:3] == [f.pts for f in frames[:3]]
