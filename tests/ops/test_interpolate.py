"""Frame interpolation: exact grids and counts, untouched originals, known-motion accuracy,
scene cuts, static pairs, bounded latency, chunked runs, audio sync and the CLI."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import frame_times, packets, psnr, run_cli
from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.io.probe import probe
from vidlab.io.samples import _photos, generate
from vidlab.ops import interpolate as interp_mod
from vidlab.ops.interpolate import Interpolate, grid_time_base
from vidlab.pipeline import execute
from vidlab.pipeline.recipe import Recipe

W, H = 480, 270
PAN = 150.0  # px/s: 10 px per frame at 15 fps, 5 px at 30 fps


def pan(t: float, photo: int = 0, speed: float = PAN) -> np.ndarray:
    """A real photograph panned right to left at constant speed, sub-pixel exact."""
    img = _photos()[photo]
    s = 1.1 * max(W / img.shape[1], H / img.shape[0])
    m = np.array(
        [[s, 0, W / 2 - s * img.shape[1] / 2 + 60 - speed * t], [0, s, H / 2 - s * img.shape[0] / 2]]
    )
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def stream(fps: Fraction, n: int, render=pan) -> list[Frame]:
    return [Frame(render(float(i / fps)), Fraction(i) / fps, i) for i in range(n)]


def bound(info_fps: Fraction, n: int, **params) -> Interpolate:
    from vidlab.io.probe import VideoInfo

    info = VideoInfo.constant_rate("mem", W, H, info_fps, n)
    return Interpolate.create(**params).bind(info)


@pytest.mark.parametrize(
    ("params", "src_fps", "n", "out_fps", "count"),
    [
        ({"factor": 2}, Fraction(30), 10, Fraction(60), 20),
        ({"factor": 4}, Fraction(15), 6, Fraction(60), 24),
        ({"fps": "60"}, Fraction(24), 12, Fraction(60), 30),
        ({"fps": "60000/1001"}, Fraction(24000, 1001), 8, Fraction(60000, 1001), 20),
    ],
)
@pytest.mark.parametrize("method", ["blend", "learned"])
def test_grid_counts_timestamps_and_untouched_originals(params, src_fps, n, out_fps, count, method):
    frames = stream(src_fps, n)
    out = list(bound(src_fps, n, method=method, **params).process(iter(frames)))
    assert len(out) == count
    assert [f.pts for f in out] == [Fraction(k) / out_fps for k in range(count)]
    assert [f.index for f in out] == list(range(count))
    by_pts = {f.pts: f for f in out}
    for f in frames:
        if f.pts in by_pts:  # every original on the output grid passes through bit-exact
            assert np.array_equal(by_pts[f.pts].image, f.image)
    on_grid = sum(1 for f in frames if (f.pts * out_fps).denominator == 1)
    assert on_grid == (n if params.get("factor") else math.ceil(n / 2))


def test_time_base_keeps_both_grids_exact():
    assert grid_time_base(Fraction(1, 12288), Fraction(60)) == Fraction(1, 61440)
    assert grid_time_base(Fraction(1, 24000), Fraction(60000, 1001)) == Fraction(1, 120000)
    assert grid_time_base(Fraction(1, 30), Fraction(60)) == Fraction(1, 60)


@pytest.mark.parametrize("method", ["flow", "learned"])
@pytest.mark.parametrize("factor", [2, 4])
def test_known_motion_reaches_35_db(factor, method):
    """A photograph panned at 10 px per source frame: rebuilt frames against exact renders."""
    src_fps = Fraction(15)
    frames = stream(src_fps, 6)
    out = list(bound(src_fps, 6, factor=factor, method=method).process(iter(frames)))
    made = [f for f in out if f.index % factor and f.pts < frames[-1].pts]
    assert len(made) == (factor - 1) * 5
    margin = 24  # content entering at the frame edge is unknowable from either neighbour
    scores = [psnr(f.image[:, margin:-margin], pan(float(f.pts))[:, margin:-margin]) for f in made]
    assert min(scores) >= 35.0, scores
    blend = list(bound(src_fps, 6, factor=factor, method="blend").process(iter(frames)))
    blend_scores = [
        psnr(f.image, pan(float(f.pts))) for f in blend if f.index % factor and f.pts < frames[-1].pts
    ]
    assert np.mean(scores) > np.mean(blend_scores) + 10


@pytest.mark.parametrize(
    ("policy", "method"), [("repeat", "flow"), ("cut", "flow"), ("blend", "flow"), ("repeat", "learned")]
)
def test_hard_cut_is_never_morphed(policy, method):
    fps = Fraction(15)

    def shots(t: float) -> np.ndarray:  # a cut between frames 3 and 4 (t = 0.2 and 0.2667)
        return pan(t, 0) if t < 0.25 else pan(t, 1)

    frames = stream(fps, 8, shots)
    out = list(bound(fps, 8, factor=4, scene_cut=policy, method=method).process(iter(frames)))
    a, b = frames[3], frames[4]
    across = [f for f in out if a.pts < f.pts < b.pts]
    assert len(across) == 3
    for f in across:
        t = float((f.pts - a.pts) / (b.pts - a.pts))
        if policy == "repeat":
            expected = a.image
        elif policy == "cut":
            expected = a.image if t < 0.5 else b.image
        else:
            expected = cv2.addWeighted(a.image, 1 - t, b.image, t, 0)
        assert np.array_equal(f.image, expected)
    # Within each shot the motion is still interpolated.
    inside = [f for f in out if frames[0].pts < f.pts < a.pts and f.index % 4]
    assert all(psnr(f.image[:, 24:-24], pan(float(f.pts))[:, 24:-24]) > 35 for f in inside)


@pytest.mark.parametrize("method", ["flow", "learned"])
def test_static_pairs_skip_flow(monkeypatch, method):
    calls = []
    real = interp_mod.FlowPair.pair
    monkeypatch.setattr(interp_mod.FlowPair, "pair", lambda self, a, b: (calls.append(1), real(self, a, b)))
    still = pan(0.0)
    frames = [Frame(still.copy(), Fraction(i, 10), i) for i in range(4)] + [
        Frame(pan(0.1), Fraction(4, 10), 4)
    ]
    out = list(bound(Fraction(10), 5, factor=2, method=method).process(iter(frames)))
    assert len(out) == 10
    assert len(calls) == 1  # only the moving pair (3 -> 4) ran the flow
    for f in out[:7]:
        assert np.array_equal(f.image, still)


def test_latency_is_one_source_frame():
    """Every output before source frame n+1's time is out before frame n+2 is read."""
    fps = Fraction(15)
    frames = stream(fps, 5)
    pulled: list[int] = []

    def source() -> Iterator[Frame]:
        for f in frames:
            pulled.append(f.index)
            yield f

    seen = 0
    for out in bound(fps, 5, factor=3).process(source()):
        # an output at time T needs the source frame at or after T, and nothing beyond it
        assert pulled[-1] == min(math.ceil(out.pts * fps), 4)
        seen += 1
    assert seen == 15


def test_invalid_targets():
    with pytest.raises(RecipeError, match="factor must be a positive integer"):
        Interpolate.create(factor=-2)
    assert bound(Fraction(30), 4, factor=0).target_fps(Fraction(30)) == 60  # the default doubles
    assert Interpolate.create(fps="0") == Interpolate()  # 0 is "not given": factor decides
    with pytest.raises(RecipeError, match=r"fps=-30 is out of range \[0, inf\]"):
        Interpolate.create(fps="-30")
    with pytest.raises(RecipeError, match="fps='sixty' is not a valid fraction"):
        Interpolate.create(fps="sixty")
    assert Interpolate.create(fps="29.97").fps == Fraction(30000, 1001)
    assert Interpolate.create(fps="60000/1001").to_spec()["params"] == {"fps": "60000/1001"}
    with pytest.raises(RecipeError, match="not both"):
        Interpolate.create(factor=2, fps="60")
    with pytest.raises(RecipeError, match="below the source's 30 fps"):
        bound(Fraction(30), 4, fps="24")
    out = list(
        bound(Fraction(30), 30, fps="24", allow_drop=True, method="blend").process(
            iter(stream(Fraction(30), 30))
        )
    )
    assert len(out) == 24


def test_end_to_end_24_to_60_keeps_audio_in_sync(samples: Path, tmp_path: Path):
    src = samples / "film24.mp4"
    generate(src, frames=36, size=(320, 180), fps=24, audio=True)
    dst = tmp_path / "s60.mp4"
    res = execute(src, dst, "interpolate fps=60")
    info = probe(dst)
    assert res.frames == info.frame_count == 90
    assert info.fps == 60
    times = frame_times(dst)
    assert times == [Fraction(k, 60) for k in range(90)]
    src_info = probe(src)
    assert abs(info.duration - src_info.duration) <= Fraction(1, 60)
    assert packets(dst, "audio") == packets(src, "audio")  # the audio is copied untouched


@pytest.mark.parametrize("method", ["flow", pytest.param("learned", marks=pytest.mark.slow)])
def test_chunked_job_matches_one_stream(chunky_mp4: Path, tmp_path: Path, method: str):
    """Chunks cut on keyframes make exactly the frames of one stream (the grid is absolute)."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline.job import JobOptions, JobSpec, run_job

    recipe = Recipe.parse(f"interpolate fps=60 method={method}")
    settings = EncodeSettings(codec="ffv1")
    one = tmp_path / "one.mkv"
    execute(chunky_mp4, one, recipe, settings)
    many = tmp_path / "many.mkv"
    run_job(
        JobSpec(input=chunky_mp4, output=many, recipe=recipe, settings=settings),
        JobOptions(chunk_seconds=0.8, workers=2),
    )
    assert frame_times(one) == frame_times(many)
    assert len(frame_times(one)) == math.ceil(probe(chunky_mp4).duration * 60)
    with av_open(one) as a, av_open(many) as b:
        for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=True):
            assert np.array_equal(fa.to_ndarray(), fb.to_ndarray())


def av_open(path: Path):
    import av

    return av.open(str(path))


def test_cli_interpolate_errors(sample_mp4: Path, tmp_path: Path):
    out = tmp_path / "x.mp4"
    for args, needle in [
        (["--factor", "0"], "--factor must be a positive integer"),
        (["--factor", "-2"], "--factor must be a positive integer"),
        (["--fps", "0"], "--fps must be > 0"),
        (["--fps", "abc"], "not a number"),
        (["--fps", "10"], "below the source's 30 fps"),
        ([], "give --factor N or --fps F"),
    ]:
        r = run_cli("interpolate", sample_mp4, "-o", out, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
    r = run_cli("interpolate", sample_mp4, "-o", out, "--fps", "20", "--allow-drop", "-q")
    assert r.returncode == 0, r.stderr
    assert probe(out).frame_count == 16


def test_cli_live_pipe(samples: Path, tmp_path: Path):
    """A stream on stdin (no seeking, no probing ahead) is interpolated as it arrives."""
    src = samples / "live.mkv"
    generate(src, frames=20, size=(320, 180), fps=20)
    dst = tmp_path / "live2x.mp4"
    with open(src, "rb") as stdin:
        r = subprocess.run(
            [sys.executable, "-m", "vidlab", "interpolate", "-", "-o", str(dst), "--factor", "2", "-q"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 0, r.stderr
    info = probe(dst)
    assert info.fps == 40 and info.frame_count == 40
    assert frame_times(dst) == [Fraction(k, 40) for k in range(40)]


@pytest.mark.slow
def test_cli_eval_interp(samples: Path):
    clip = samples / "eval.mp4"
    generate(clip, frames=9, size=(256, 144), fps=30, crf=10)
    r = run_cli("eval-interp", clip, "-m", "flow,blend", "-m", "minterpolate", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    scores = {s["method"]: s for s in data["scores"]}
    assert set(scores) == {"flow", "blend", "minterpolate"}
    assert all(s["frames"] == 4 for s in scores.values())
    assert scores["flow"]["psnr_y"] > scores["blend"]["psnr_y"] + 3
    assert scores["minterpolate"]["psnr_y"] > scores["blend"]["psnr_y"]
    assert all(s["fps"] > 0 for s in scores.values())
    r = run_cli("eval-interp", clip, "-m", "warp")
    assert r.returncode == 2 and "unknown method 'warp'" in r.stderr


def test_variable_rate_source_becomes_constant_rate(vfr_mkv: Path, tmp_path: Path):
    dst = tmp_path / "cfr.mp4"  # (Matroska rounds timestamps to milliseconds)
    execute(vfr_mkv, dst, "interpolate fps=60")
    src, out = probe(vfr_mkv), probe(dst)
    assert not out.is_vfr and out.fps == 60
    assert abs(out.duration - src.duration) <= Fraction(1, 60)
    times = frame_times(dst)
    assert all(b - a == Fraction(1, 60) for a, b in itertools.pairwise(times))
    assert packets(dst, "audio") == packets(vfr_mkv, "audio")


def test_minterpolate_backend_on_the_same_grid():
    """FFmpeg's filter as a peer behind the same op: the same frame count and timestamps."""
    fps = Fraction(15)
    frames = [Frame(f.image[:96, :160].copy(), f.pts, f.index) for f in stream(fps, 6)]
    out = list(bound(fps, 6, factor=2, method="minterpolate").process(iter(frames)))
    assert [f.pts for f in out] == [Fraction(k, 30) for k in range(12)]
    assert all(f.image.shape == (96, 160, 3) for f in out)
    made = out[5].image.astype(int)  # between frames 2 and 3: not a copy of either
    assert not np.array_equal(made, frames[2].image) and not np.array_equal(made, frames[3].image)
