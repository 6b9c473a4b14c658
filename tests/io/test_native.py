"""Decoded frames that no op changes reach the encoder as they are: no RGB round trip."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vidlab.io.codecs import EncodeSettings
from vidlab.io.reader import VideoReader
from vidlab.pipeline import execute


def planes(path: Path) -> list[list[np.ndarray]]:
    """Every frame's planes as decoded (native format, padding removed)."""
    with av.open(str(path)) as c:
        return [_planes(f) for f in c.decode(video=0)]


def _planes(f: av.VideoFrame) -> list[np.ndarray]:
    bpp = 2 if f.format.name.endswith(("10le", "12le", "16le")) else 1
    res = []
    for p in f.planes:
        a = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width * bpp]
        res.append(a.copy())
    return res


@pytest.mark.parametrize("fixture", ["sample_mp4", "tenbit_mkv"])
def test_identity_is_bit_exact_to_a_lossless_codec(fixture, request, tmp_path: Path):
    src = request.getfixturevalue(fixture)
    dst = tmp_path / "same.mkv"
    execute(src, dst, "identity", EncodeSettings(codec="ffv1"))
    a, b = planes(src), planes(dst)
    assert len(a) == len(b) > 0
    for fa, fb in zip(a, b, strict=True):
        for pa, pb in zip(fa, fb, strict=True):
            assert np.array_equal(pa, pb)


def test_identity_never_converts_to_rgb(sample_mp4: Path, tmp_path: Path, monkeypatch):
    def refuse(self, frame):
        raise AssertionError("converted to RGB")

    monkeypatch.setattr(VideoReader, "to_rgb", refuse)
    res = execute(sample_mp4, tmp_path / "out.mp4", "identity")
    assert res.frames == 24
    with pytest.raises(AssertionError, match="converted to RGB"):
        execute(sample_mp4, tmp_path / "rgb.mp4", "identity via_rgb=true")
    assert not (tmp_path / "rgb.mp4").exists()


def test_interpolated_originals_keep_their_decoded_planes(sample_mp4: Path, tmp_path: Path):
    dst = tmp_path / "x2.mkv"
    execute(sample_mp4, dst, "interpolate factor=2", EncodeSettings(codec="ffv1"))
    a, b = planes(sample_mp4), planes(dst)
    assert len(b) == 2 * len(a)
    for i, fa in enumerate(a):
        for pa, pb in zip(fa, b[2 * i], strict=True):
            assert np.array_equal(pa, pb)
