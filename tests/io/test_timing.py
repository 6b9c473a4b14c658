"""Timestamps survive a run exactly, negative audio starts included.

An AAC track starts with a priming packet before 0 (-21 ms at 48 kHz here; MP4 keeps it there
through its edit list). Matroska and WebM used to be written with FFmpeg's default
``avoid_negative_ts=auto``, which shifted every stream so that packet started at 0: the video
then began 21 ms late. (Opus declares its pre-skip in its header, so the Matroska muxer knew
to allow it; AAC from MP4 declares none.) Every packet time of every stream must now equal
the source's (rounded only to the output's time base), and what ``ffmpeg -c copy`` writes,
for MKV, MP4, MOV, WebM and the chunked path's stitcher."""

from __future__ import annotations

import json
import math
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from vidlab.io import EncodeSettings
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.samples import generate
from vidlab.pipeline import execute
from vidlab.pipeline.job import JobOptions, JobSpec, run_job
from vidlab.pipeline.recipe import Recipe

Times = dict[str, list[Fraction]]


def stream_times(path: Path) -> tuple[Times, dict[str, Fraction]]:
    """Every packet's pts (seconds) per stream kind, in demux order, and each stream's time base."""
    times: Times = {}
    bases: dict[str, Fraction] = {}
    with av.open(str(path)) as c:
        for s in c.streams:
            bases[s.type] = Fraction(s.time_base)
        for p in c.demux():
            if p.size and p.pts is not None:
                times.setdefault(p.stream.type, []).append(Fraction(p.pts) * Fraction(p.time_base))
    return times, bases


def near(t: Fraction, tb: Fraction) -> Fraction:
    """``t`` rounded to a multiple of ``tb``, halves away from zero (FFmpeg's rescaling)."""
    q = t / tb
    n = math.floor(abs(q) + Fraction(1, 2))
    return (n if q >= 0 else -n) * tb


def rounded(times: Times, bases: dict[str, Fraction]) -> Times:
    return {k: [near(t, bases[k]) for t in v] for k, v in times.items()}


FAST_VP9 = ["libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "40"]


def ffmpeg_copy(src: Path, out: Path, video: list[str] | None = None) -> Path:
    """``ffmpeg -i src -c copy out``; ``video`` re-encodes the video (audio still copied)."""
    codecs = ["-c", "copy"] if video is None else ["-c:v", *video, "-c:a", "copy"]
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-map", "0", *codecs, str(out)]
    subprocess.run(cmd, check=True, timeout=120)
    return out


def assert_same_times(out: Path, src: Path) -> None:
    """Audio packets in the same order at the same times; video frames at the same times."""
    got, bases = stream_times(out)
    want = rounded(stream_times(src)[0], bases)
    assert set(got) == set(want) == {"video", "audio"}
    assert got["audio"] == want["audio"]
    assert sorted(got["video"]) == sorted(want["video"])


@pytest.fixture(scope="module")
def aac_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("timing") / "aac.mp4"
    generate(p, frames=30, size=(160, 96), fps=30, audio=True)
    return p


def _ffmpeg_opus(src: Path, out: Path, video: list[str]) -> Path:
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-c:v", *video, "-c:a", "libopus", str(out)]
    subprocess.run(cmd, check=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def opus_webm(aac_mp4: Path) -> Path:
    """VP9 + Opus in WebM, made with the ffmpeg CLI (Opus primes 312 samples: -6.5 ms; WebM
    says so in CodecDelay, which a copy keeps)."""
    return _ffmpeg_opus(aac_mp4, aac_mp4.with_name("opus.webm"), FAST_VP9)


@pytest.fixture(scope="module")
def opus_mp4(aac_mp4: Path) -> Path:
    """H.264 + Opus in MP4 (the pre-skip travels in Opus's own header, so WebM gets a CodecDelay)."""
    return _ffmpeg_opus(aac_mp4, aac_mp4.with_name("opus.mp4"), ["libx264", "-preset", "ultrafast"])


def test_sources_start_audio_before_zero(aac_mp4, opus_webm, opus_mp4):
    for src in (aac_mp4, opus_webm, opus_mp4):
        times, _ = stream_times(src)
        assert times["audio"][0] < 0 and min(times["video"]) == 0, src


VP9 = EncodeSettings(codec="vp9", crf=40, preset="8")
CASES = [
    ("mkv", "aac_mp4", EncodeSettings(codec="ffv1"), None),
    ("mp4", "aac_mp4", EncodeSettings(codec="ffv1"), None),
    ("mov", "aac_mp4", EncodeSettings(codec="libx264", preset="ultrafast"), None),
    ("webm", "opus_webm", VP9, None),
    ("webm", "opus_mp4", VP9, FAST_VP9),  # WebM cannot hold H.264: ffmpeg re-encodes, copies the audio
]


@pytest.mark.parametrize(
    ("suffix", "fixture", "settings", "ffmpeg_video"), CASES, ids=[f"{c[1]}-{c[0]}" for c in CASES]
)
def test_identity_keeps_every_timestamp(suffix, fixture, settings, ffmpeg_video, request, tmp_path):
    src = request.getfixturevalue(fixture)
    out = tmp_path / f"out.{suffix}"
    execute(src, out, "identity", settings)
    assert_same_times(out, src)
    got, _ = stream_times(out)
    assert min(got["video"]) == 0, "the video starts at 0, as in the source"
    assert got["audio"][0] < 0, "the priming packet stays before 0"
    # The ffmpeg CLI's stream copy puts every packet at the same times.
    ref = ffmpeg_copy(src, tmp_path / f"ref.{suffix}", ffmpeg_video)
    theirs, _ = stream_times(ref)
    assert got["audio"] == theirs["audio"]
    assert sorted(got["video"]) == sorted(theirs["video"])


def test_mkv_from_mkv_keeps_times(aac_mp4, tmp_path):
    """A second generation (Matroska in, Matroska out) keeps them too."""
    first, second = tmp_path / "a.mkv", tmp_path / "b.mkv"
    execute(aac_mp4, first, "identity", EncodeSettings(codec="ffv1"))
    execute(first, second, "identity", EncodeSettings(codec="ffv1"))
    assert stream_times(second)[0] == stream_times(first)[0]


def test_chunked_run_keeps_every_timestamp(tmp_path):
    src = tmp_path / "gop.mp4"
    generate(src, frames=48, size=(160, 96), fps=30, audio=True, gop=6)
    whole, chunked = tmp_path / "whole.mkv", tmp_path / "chunked.mkv"
    settings = EncodeSettings(codec="ffv1")
    execute(src, whole, "identity", settings)
    job_dir = tmp_path / "job"
    spec = JobSpec(src, chunked, Recipe.parse("identity"), settings)
    run_job(spec, JobOptions(job_dir=job_dir, chunk_seconds=0.4, workers=1, keep_chunks=True))
    manifest = json.loads((job_dir / "manifest.json").read_text())
    assert len(manifest["chunks"]) >= 3, "the run really was cut into chunks"
    assert_same_times(chunked, src)
    assert stream_times(chunked)[0] == stream_times(whole)[0]
    assert stream_times(chunked)[0]["audio"][0] < 0
    ref = ffmpeg_copy(src, tmp_path / "ref.mkv")
    assert stream_times(chunked)[0]["audio"] == stream_times(ref)[0]["audio"]
