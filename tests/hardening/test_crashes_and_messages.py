"""Issue 13 (hardening): crashes and messages on inputs users really have. Each test makes its
own input with the ffmpeg that ships with vidlab: gray, RGB and GIF clips for the metrics, tiny
frames for optical flow, a still image under two names, a WebM for stylize, odd sizes for the
codec lab, and a recipe of a thousand ops."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from vidlab.core.errors import RecipeError, UsageError
from vidlab.io.codecs import EncodeSettings, check_preset, resolve
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.probe import probe
from vidlab.io.reader import VideoReader
from vidlab.metrics.quality import quality
from vidlab.pipeline import execute
from vidlab.pipeline.recipe import Recipe


def make(path: Path, *args: str, size: str = "64x48", frames: int = 6) -> Path:
    """A clip of ``frames`` moving test-pattern frames at 10 fps, encoded with ``args``."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10",
         "-frames:v", str(frames), "-vf", f"scale={size.replace('x', ':')}", *args, str(path)],
        check=True,
    )  # fmt: skip
    return path


def strict(text: str) -> object:
    """JSON as a strict parser reads it: NaN and Infinity are errors."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("vidlab: error: ") and "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hardening")
    return {
        "gray": make(d / "gray.mkv", "-c:v", "ffv1", "-pix_fmt", "gray"),
        "gbrp": make(d / "gbrp.mkv", "-c:v", "ffv1", "-pix_fmt", "gbrp"),
        "bgr0": make(d / "bgr0.mp4", "-c:v", "libx264rgb", "-pix_fmt", "bgr0", "-crf", "12"),
        "gif": make(d / "anim.gif"),
        "yuv": make(d / "yuv.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "30"),
    }


# -- 8: metrics and codec-test on any plane layout ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "planes"), [("gray", "y"), ("gbrp", "rgb"), ("bgr0", "rgb"), ("gif", "rgb")]
)
def test_metrics_report_the_planes_the_format_has(clips: dict[str, Path], kind: str, planes: str):
    r = quality(clips[kind], clips[kind])
    psnr = [k for k in r.psnr[0] if k.startswith("psnr_")]
    ssim = [k for k in r.ssim[0] if k.startswith("ssim_")]
    assert psnr == [f"psnr_{p}" for p in planes] + ["psnr_avg"]
    assert ssim == [f"ssim_{p}" for p in planes] + ["ssim_avg"]
    assert {f"mse_{p}" for p in planes} | {"mse_avg"} <= set(r.psnr[0])
    header = r.to_csv().splitlines()[0].split(",")
    assert [k for k in header if k.startswith("psnr_")] == psnr  # CSV and JSON agree
    assert list(strict(r.to_json())["global"]["psnr"]) == [k for k in r.psnr[0] if k != "n"]


def test_codec_test_summarizes_rgb_and_gray_without_luma_keys(clips: dict[str, Path]):
    for kind, main in (("gray", "y"), ("bgr0", "avg"), ("gif", "avg")):
        done = run_cli("codec-test", clips[kind], "--codec", "h264", "--crf", "20", "--json")
        assert done.returncode == 0, done.stderr
        q = strict(done.stdout)["quality"]
        assert q["main_plane"] == main and 20 < q["psnr_y"] <= 60, (kind, q)
        assert q["psnr_y"] == q["planes"][f"psnr_{main}"]
    table = run_cli("codec-test", clips["gbrp"], "--codec", "h264", "--crf", "20")
    assert table.returncode == 0 and "PSNR (avg)" in table.stdout, table.stderr


# -- 9: optical flow on tiny frames -------------------------------------------------------------


@pytest.mark.parametrize("size", ["1x1", "2x2", "11x40"])
def test_flow_users_take_frames_too_small_for_flow(tmp_path: Path, size: str):
    """Below DIS's minimum size flow is skipped: flow_stabilize passes frames through,
    interpolate blends, the instability metric compares in place; no OpenCV error."""
    src = make(tmp_path / "tiny.mkv", "-c:v", "ffv1", "-pix_fmt", "yuv444p", size=size)
    styled = run_cli(
        "stylize", src, "-o", tmp_path / "out", "--style", "cartoon", "--stabilize", "flow", "-q"
    )
    assert styled.returncode == 0, styled.stderr
    assert probe(tmp_path / "out" / "tiny.cartoon.mkv").frame_count == 6
    doubled = run_cli("interpolate", src, "-o", tmp_path / "x2.mkv", "--factor", "2", "-q")
    assert doubled.returncode == 0, doubled.stderr
    assert probe(tmp_path / "x2.mkv").frame_count == 12
    from vidlab.metrics.temporal import temporal_instability

    frames = [f.image for f in VideoReader(src)]
    assert len(temporal_instability(frames, frames).per_frame) == 5


# -- 10: long recipes ---------------------------------------------------------------------------


def test_a_recipe_of_a_thousand_ops_runs(clips: dict[str, Path], tmp_path: Path):
    text = " | ".join(["sharpen amount=0.05", "identity", "grain amount=0.01"] * 333 + ["ema alpha=0.5"])
    recipe = Recipe.parse(text)
    assert len(recipe.ops) == 1000
    result = execute(clips["yuv"], tmp_path / "long.mkv", recipe, EncodeSettings(codec="ffv1"))
    assert result.frames == 6
    # the flat driver gives exactly what one nested generator per op gives
    short = Recipe.parse("sharpen amount=0.05 | identity | grain amount=0.01 | ema alpha=0.5 | sharpen")
    nested = iter(VideoReader(clips["yuv"]))
    for op in short.ops:
        nested = op.process(nested)
    flat = short.process(iter(VideoReader(clips["yuv"])))
    pairs = list(zip(flat, nested, strict=True))
    assert len(pairs) == 6
    assert all((a.image == b.image).all() and a.pts == b.pts for a, b in pairs)
    with pytest.raises(RecipeError, match="at most 200 temporal ops"):
        Recipe.parse(" | ".join(["ema"] * 201))


# -- 13: encoder presets ------------------------------------------------------------------------


def test_unknown_encoder_presets_are_usage_errors(clips: dict[str, Path], tmp_path: Path):
    with pytest.raises(UsageError) as info:
        resolve(EncodeSettings(codec="libx264", preset="bogus"), "yuv420p", 64, 48)
    assert info.value.params == ("preset",) and "ultrafast" in info.value.message
    assert (
        resolve(EncodeSettings(codec="libx264", preset="Slow"), "yuv420p", 64, 48).options["preset"] == "slow"
    )
    for codec, bad, good in (("libx265", "fastest", "placebo"), ("libsvtav1", "14", "12"),
                             ("libvpx-vp9", "9", "-8"), ("h264_nvenc", "p8", "p7")):  # fmt: skip
        assert check_preset(codec, good) == good
        with pytest.raises(UsageError, match=f"preset '{bad}'"):
            check_preset(codec, bad)
    done = run_cli("run", clips["yuv"], "-o", tmp_path / "p.mp4", "--preset", "bogus")
    assert done.returncode == 2
    line = one_line(done)
    assert "--preset 'bogus'" in line and "x264 [error]" not in done.stderr


# -- 14: click's argument errors in one line ----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("metrics", "a.mp4", "b.mp4", "--max-frames", "0"),
        ("compare", "--original", "a.mp4", "--test", "b.mp4", "--grid-png", "0"),
        ("codec-test", "a.mp4", "--codec", "h264"),
        ("generate-test-video", "-o", "x.mp4", "--frames", "many"),
        ("probe", "--no-such-option", "a.mp4"),
        ("codec-test",),
    ],
)
def test_argument_errors_are_one_line(args: tuple[str, ...]):
    done = run_cli(*args)
    assert done.returncode == 2
    line = one_line(done)
    assert f"(see vidlab {args[0]} --help)" in line


def test_help_still_shows():
    assert run_cli("--help").returncode == 0
    bare = run_cli()
    assert bare.returncode == 2 and "Usage: vidlab" in bare.stdout + bare.stderr
    assert "Commands" in bare.stdout + bare.stderr


# -- 15: a still image is a one-frame video, whatever its name ----------------------------------


def test_a_still_image_is_one_frame_under_any_name(tmp_path: Path):
    import cv2
    from skimage import data

    jpg = tmp_path / "photo.jpg"
    cv2.imwrite(str(jpg), data.astronaut()[:, :, ::-1])
    renamed = tmp_path / "photo.mp4"
    shutil.copy(jpg, renamed)
    a, b = probe(jpg), probe(renamed)
    assert a.frame_count == b.frame_count == 1 and (a.width, a.height) == (b.width, b.height) == (512, 512)
    assert a.container == b.container
    frames = [f.image for f in VideoReader(jpg)]
    assert len(frames) == 1 and (frames[0] == next(iter(VideoReader(renamed))).image).all()
    done = run_cli("probe", jpg)
    assert done.returncode == 0, done.stderr


# -- 16: stylize keeps a container it can write -------------------------------------------------


def test_stylize_webm_writes_vp9_webm(tmp_path: Path):
    src = make(tmp_path / "clip.webm", "-c:v", "libvpx-vp9")
    done = run_cli("stylize", src, "-o", tmp_path / "out", "--style", "comic", "-q")
    assert done.returncode == 0, done.stderr
    info = probe(tmp_path / "out" / "clip.comic.webm")
    assert info.codec == "vp9" and info.frame_count == 6
    h264 = run_cli("stylize", src, "-o", tmp_path / "out", "--style", "comic", "--codec", "h264", "-q")
    assert h264.returncode == 0, h264.stderr
    assert probe(tmp_path / "out" / "clip.comic.mp4").codec == "h264"


# -- 17: codec-test names the user's output -----------------------------------------------------


def test_codec_test_checks_the_output_before_encoding(clips: dict[str, Path], tmp_path: Path):
    out = tmp_path / "out.xyz"
    done = run_cli("codec-test", clips["yuv"], "--codec", "h264", "--bitrate", "100", "-o", out)
    assert done.returncode == 2
    line = one_line(done)
    assert str(out) in line and "pass1" not in line and "vidlab-2pass" not in line
    webm = tmp_path / "out.webm"
    done = run_cli("codec-test", clips["yuv"], "--codec", "h264", "--crf", "30", "-o", webm)
    assert done.returncode == 2 and str(webm) in one_line(done)
    assert not list(tmp_path.iterdir())  # nothing was left behind


# -- 18: codec-test --pix-fmt -------------------------------------------------------------------


def test_codec_test_takes_the_pix_fmt_its_advice_names(tmp_path: Path):
    odd = make(tmp_path / "odd.mkv", "-c:v", "ffv1", "-pix_fmt", "yuv420p", size="65x49")
    refused = run_cli("codec-test", odd, "--codec", "h264", "--crf", "30")
    assert refused.returncode == 2 and "--pix-fmt yuv444p" in one_line(refused)
    done = run_cli("codec-test", odd, "--codec", "h264", "--crf", "30", "--pix-fmt", "yuv444p", "--json")
    assert done.returncode == 0, done.stderr
    assert strict(done.stdout)["width"] == 65


# -- 19: lossless frames and strict JSON --------------------------------------------------------


def test_lossless_frames_pool_to_the_psnr_cap_and_json_is_strict(clips: dict[str, Path], tmp_path: Path):
    done = run_cli("codec-test", clips["yuv"], "--codec", "ffv1", "--crf", "0", "--json")
    assert done.returncode == 0, done.stderr
    q = strict(done.stdout)["quality"]
    assert q["psnr_y"] == q["psnr_avg"] == 60.0  # 6 x 8 + 12, libvmaf's cap for 8-bit
    table = run_cli("codec-test", clips["yuv"], "--codec", "ffv1", "--crf", "0")
    assert "inf" not in table.stdout and "avg 60.000" in table.stdout
    metrics = run_cli("metrics", clips["yuv"], clips["yuv"], "--json")
    data = strict(metrics.stdout)
    assert data["psnr_max"] == 60.0 and data["global"]["psnr"]["psnr_y"]["mean"] == 60.0
    json.dumps(data, allow_nan=False)
    table = run_cli("metrics", clips["yuv"], clips["yuv"])
    assert "inf" not in table.stdout and "60.0000" in table.stdout
