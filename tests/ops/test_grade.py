"""Grading ops: .cube LUTs checked against FFmpeg's lut3d filter and a direct float computation,
tone curve, bloom, grain, vignette, and the ops inside recipes and the CLI."""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import decode_rgb, run_cli
from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.ops import get_op, grade
from vidlab.ops.grade import linear_to_srgb, read_cube, srgb_to_linear
from vidlab.pipeline.recipe import Recipe

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("teal_orange", "bleach_bypass", "warm_film", "mono_silver")


# -- helpers ----------------------------------------------------------------------------------------


def write_cube(path: Path, table: np.ndarray, header: str = "", shaper: np.ndarray | None = None) -> Path:
    """Write ``table`` [r][g][b] as a .cube (red fastest); ``header`` lines go after the size."""
    n = table.shape[0]
    lines = ['TITLE "test"', "# written by test_grade"]
    if shaper is not None:
        lines.append(f"LUT_1D_SIZE {shaper.shape[0]}")
    lines.append(f"LUT_3D_SIZE {n}")
    lines += [ln for ln in header.splitlines() if ln]
    if shaper is not None:
        lines += [f"{a:.7f} {b:.7f} {c:.7f}" for a, b, c in shaper]
    rows = table.transpose(2, 1, 0, 3).reshape(-1, 3)
    lines += [f"{a:.7f} {b:.7f} {c:.7f}" for a, b, c in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def identity_table(n: int) -> np.ndarray:
    g = np.linspace(0.0, 1.0, n)
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1)


def smooth_table(n: int, seed: int = 0) -> np.ndarray:
    """A strongly non-linear but smooth LUT (channels mix, curves, a hue twist)."""
    rng = np.random.default_rng(seed)
    x = identity_table(n)
    m = np.eye(3) + rng.uniform(-0.3, 0.3, (3, 3))
    y = x @ m.T
    y = y + 0.15 * np.sin(3 * x[..., [1, 2, 0]]) - 0.05
    return np.clip(y, -0.1, 1.1)


def gamut_image() -> np.ndarray:
    """2048 x 2048 pixels: a quarter of every 8-bit RGB color, each channel taking all 256 values."""
    k = np.arange(1 << 22, dtype=np.uint32)
    idx = k * 4 + (k * 7 + (k >> 11)) % 4
    rgb = np.stack([(idx >> 16) & 255, (idx >> 8) & 255, idx & 255], axis=-1).astype(np.uint8)
    return rgb.reshape(2048, 2048, 3)


def ffmpeg_lut(images: list[np.ndarray], cube: Path, interp: str) -> list[np.ndarray]:
    """The same frames through ``ffmpeg -vf lut3d`` as raw rgb24 in and out (no YUV anywhere)."""
    h, w, _ = images[0].shape
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-i", "-", "-vf", f"lut3d=file={cube}:interp={interp}",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
    done = subprocess.run(cmd, input=b"".join(i.tobytes() for i in images), capture_output=True, check=True)
    out = np.frombuffer(done.stdout, np.uint8).reshape(len(images), h, w, 3)
    return list(out)


def assert_close_to(ours: np.ndarray, ref: np.ndarray, within: int = 1, share: float = 0.999) -> None:
    diff = np.abs(ours.astype(np.int16) - ref.astype(np.int16)).max(axis=-1)
    ok = float((diff <= within).mean())
    assert ok >= share, f"only {ok:.5f} of pixels within {within} (max diff {diff.max()})"


def trilinear_reference(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Plain 8-corner trilinear interpolation of ``table`` at float grid positions ``pos`` (..., 3)."""
    n = table.shape[0]
    p0 = np.floor(pos).astype(int)
    p0 = np.minimum(p0, n - 1)
    p1 = np.minimum(p0 + 1, n - 1)
    f = pos - p0
    out = np.zeros((*pos.shape[:-1], 3))
    for cr in (0, 1):
        for cg in (0, 1):
            for cb in (0, 1):
                ir = p1[..., 0] if cr else p0[..., 0]
                ig = p1[..., 1] if cg else p0[..., 1]
                ib = p1[..., 2] if cb else p0[..., 2]
                wgt = (
                    (f[..., 0] if cr else 1 - f[..., 0])
                    * (f[..., 1] if cg else 1 - f[..., 1])
                    * (f[..., 2] if cb else 1 - f[..., 2])
                )
                out += wgt[..., None] * table[ir, ig, ib]
    return out


def to_code(v: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(v * 255 + 0.5), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def video_frames(sample_mp4) -> list[np.ndarray]:
    return decode_rgb(sample_mp4)


@pytest.fixture(scope="module")
def gamut() -> np.ndarray:
    return gamut_image()


# -- LUT against FFmpeg ---------------------------------------------------------------------------


@pytest.mark.parametrize("interp", ["trilinear", "tetrahedral"])
def test_shipped_lut_matches_ffmpeg_lut3d(interp, video_frames, gamut):
    op = get_op("lut").create(file="teal_orange", interp=interp)
    cube = grade.resolve_lut("teal_orange")
    ref = ffmpeg_lut(video_frames, cube, interp)
    for frame, expected in zip(video_frames, ref, strict=True):
        assert_close_to(op.apply(frame), expected)
    assert_close_to(op.apply(gamut), ffmpeg_lut([gamut], cube, interp)[0])
    # And the look is not a no-op: the comparison would catch a wrong axis order.
    assert np.abs(op.apply(gamut).astype(int) - gamut).mean() > 5


@pytest.mark.parametrize("interp", ["trilinear", "tetrahedral"])
def test_lut_with_wide_domain_matches_ffmpeg(tmp_path, interp, video_frames, gamut):
    # FFmpeg honours DOMAIN_MAX above 1 (it scales the input) but ignores DOMAIN_MIN, so this
    # comparison keeps the minimum at 0; a non-zero minimum is checked against float math below.
    path = write_cube(tmp_path / "wide.cube", smooth_table(9), "DOMAIN_MIN 0 0 0\nDOMAIN_MAX 1.5 2.0 1.25")
    op = grade.Lut(file=str(path), interp=interp)
    assert_close_to(op.apply(gamut), ffmpeg_lut([gamut], path, interp)[0])
    for frame, expected in zip(video_frames[:4], ffmpeg_lut(video_frames[:4], path, interp), strict=True):
        assert_close_to(op.apply(frame), expected)


def test_tetrahedral_and_trilinear_differ(tmp_path, gamut):
    path = write_cube(tmp_path / "t.cube", smooth_table(5, seed=3))
    tri = grade.Lut(file=str(path), interp="trilinear").apply(gamut)
    tet = grade.Lut(file=str(path), interp="tetrahedral").apply(gamut)
    assert np.abs(tri.astype(int) - tet).max() >= 2


# -- identity and float references ----------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 33])
@pytest.mark.parametrize("interp", ["trilinear", "tetrahedral"])
def test_identity_cube_is_exact(tmp_path, size, interp, video_frames, gamut):
    path = write_cube(tmp_path / f"id{size}.cube", identity_table(size))
    op = grade.Lut(file=str(path), interp=interp)
    assert np.array_equal(op.apply(gamut), gamut)
    for frame in video_frames[:3]:
        out = op.apply(frame)
        assert out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
        assert np.array_equal(out, frame)


def test_domain_min_and_max_against_float_math(tmp_path, gamut):
    gamut = gamut[::4]
    table = smooth_table(7, seed=1)
    lo, hi = np.array([-0.25, 0.0, 0.1]), np.array([1.25, 2.0, 0.9])
    path = write_cube(tmp_path / "dom.cube", table, "DOMAIN_MIN -0.25 0 0.1\nDOMAIN_MAX 1.25 2 0.9")
    cube = read_cube(path)
    assert cube.domain_min == (-0.25, 0.0, 0.1) and cube.domain_max == (1.25, 2.0, 0.9)
    x = gamut.astype(np.float64) / 255
    pos = np.clip((x - lo) / (hi - lo), 0, 1) * 6
    expected = to_code(trilinear_reference(table.astype(np.float32).astype(np.float64), pos))
    ours = grade.Lut(file=str(path), interp="trilinear").apply(gamut)
    assert_close_to(ours, expected, within=0, share=0.99)  # identical but for float ties
    assert_close_to(ours, expected, within=1, share=1.0)


def test_shaper_then_3d_against_float_math(tmp_path, gamut):
    gamut = gamut[::4]
    shaper_x = np.linspace(0, 1, 16)
    shaper = np.stack([shaper_x**0.5, shaper_x**2.2, shaper_x], axis=-1)
    table = smooth_table(5, seed=2)
    path = write_cube(
        tmp_path / "shaper.cube", table, "LUT_1D_INPUT_RANGE 0 1\nLUT_3D_INPUT_RANGE 0 1", shaper=shaper
    )
    cube = read_cube(path)
    assert cube.shaper is not None and cube.shaper.size == 16 and cube.size == 5
    x = gamut.astype(np.float64) / 255
    shaped = np.stack([np.interp(x[..., c], shaper_x, shaper[:, c]) for c in range(3)], axis=-1)
    expected = to_code(trilinear_reference(table, np.clip(shaped, 0, 1) * 4))
    ours = grade.Lut(file=str(path), interp="trilinear").apply(gamut)
    assert_close_to(ours, expected, within=0, share=0.99)
    assert_close_to(ours, expected, within=1, share=1.0)
    # The shaper matters: without it the result is far off.
    plain = write_cube(tmp_path / "plain.cube", table)
    assert np.abs(grade.Lut(file=str(plain), interp="trilinear").apply(gamut).astype(int) - ours).max() > 20


def test_1d_only_cube_with_input_range(tmp_path, video_frames):
    xs = np.linspace(0, 1, 11)
    curves = np.stack([0.91 - 0.83 * xs, 0.013 + 0.97 * xs**2.2, np.full_like(xs, 0.31)], axis=-1)
    rows = "\n".join(f"{a:.6f} {b:.6f} {c:.6f}" for a, b, c in curves)
    path = tmp_path / "one.cube"
    path.write_text(f"# 1D only\nLUT_1D_SIZE 11\nLUT_1D_INPUT_RANGE 0.0 2.0\n\n{rows}\n")
    cube = read_cube(path)
    assert cube.table is None and cube.size == 0 and cube.shaper.domain_max == (2.0, 2.0, 2.0)
    frame = video_frames[0]
    x = frame.astype(np.float64) / 255 / 2.0  # the input range is 0..2
    expected = to_code(np.stack([np.interp(x[..., c], xs, curves[:, c]) for c in range(3)], axis=-1))
    assert_close_to(grade.Lut(file=str(path)).apply(frame), expected, within=0, share=0.99)
    assert_close_to(grade.Lut(file=str(path)).apply(frame), expected, within=1, share=1.0)


def test_strength_mixes_with_the_original(video_frames):
    frame = video_frames[5]
    full = grade.Lut(file="bleach_bypass", interp="trilinear").apply(frame).astype(np.float64)
    half = grade.Lut(file="bleach_bypass", interp="trilinear", strength=0.5).apply(frame).astype(np.float64)
    assert np.abs(half - (full + frame) / 2).max() <= 1.01
    assert grade.Lut(file="bleach_bypass", strength=0.0).apply(frame) is frame


# -- parsing ----------------------------------------------------------------------------------------


def test_cube_parser_reads_titles_comments_and_red_fastest_order(tmp_path):
    # Entry k of a size-2 table: red is the fastest index. Give each entry a distinct value.
    body = [f"{k / 10:.1f} 0 0" for k in range(8)]
    text = "\r\n".join(
        ['# a comment', 'TITLE "My look"', "", "LUT_3D_SIZE 2", "LUT_IN_VIDEO_RANGE", "  # indented comment",
         *body[:4], "", "# between rows", *body[4:]]
    )  # fmt: skip
    path = tmp_path / "order.cube"
    path.write_text(text + "\r\n")
    cube = read_cube(path)
    assert cube.title == "My look" and cube.size == 2 and cube.table.dtype == np.float32
    for k in range(8):
        r, g, b = k & 1, (k >> 1) & 1, (k >> 2) & 1
        assert cube.table[r, g, b, 0] == pytest.approx(k / 10)
    assert cube == read_cube(path) and hash(cube) == hash(read_cube(path))


def _broken(tmp_path: Path, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    lines = ['TITLE "x"', "LUT_3D_SIZE 33"]
    lines += ["0.5 0.5 0.5"] * 33**3
    lines = edit(lines)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: ls[:-1], "line 35938: expected 35937 entries for LUT_3D_SIZE 33, found 35936"),
        (
            lambda ls: [*ls, "0.5 0.5 0.5"],
            "line 35940: expected 35937 entries for LUT_3D_SIZE 33, found 35938",
        ),
        (lambda ls: [*ls[:11], "0.5 abc 0.5", *ls[12:]], "line 12: 'abc' is not a number"),
        (lambda ls: [*ls[:11], "0.5 0.5", *ls[12:]], "line 12: expected 3 numbers, found 2"),
        (lambda ls: ["LUT_3D_SIZE 257", *ls[2:]], "line 1: LUT_3D_SIZE 257 is over the maximum 256"),
        (lambda ls: ["LUT_3D_SIZE 1", *ls[2:]], "line 1: LUT_3D_SIZE 1 is under the minimum 2"),
        (lambda ls: ['TITLE "x"', *ls[2:]], "line 2: missing LUT_3D_SIZE"),
        (lambda ls: [*ls[:2], "DOMAIN_MAX 1 1", *ls[2:]], "line 3: DOMAIN_MAX needs 3 numbers, found 2"),
        (lambda ls: [*ls[:2], "abc 1 2", *ls[2:]], "line 3: 'abc' is not a number"),
    ],
)
def test_malformed_cube_errors_name_file_and_line(tmp_path, edit, message):
    path = _broken(tmp_path, "bad.cube", edit)
    with pytest.raises(RecipeError) as info:
        read_cube(path)
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text and message in text
    # The recipe fails as it is parsed, with the same one line.
    with pytest.raises(RecipeError, match="line"):
        Recipe.parse(f"lut file={path}")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(RecipeError, match=r"LUT file not found: nope\.cube \(shipped LUTs: bleach_bypass"):
        Recipe.parse("lut file=nope.cube")
    with pytest.raises(RecipeError, match="LUT file not found"):
        read_cube(tmp_path / "missing.cube")
    with pytest.raises(RecipeError, match="directory"):
        read_cube(tmp_path)
    path = tmp_path / "empty.cube"
    path.write_text("")
    with pytest.raises(RecipeError, match=r"empty.cube: line 1: missing LUT_3D_SIZE"):
        read_cube(path)


def test_shipped_luts_are_generated_and_valid():
    assert set(SHIPPED) <= set(grade.shipped_luts())
    for name in SHIPPED:
        path = grade.resolve_lut(name)
        head = path.read_text().splitlines()[:6]
        assert head[0] == f'TITLE "{name}"'
        assert any(ln.startswith("#") and "scripts/make_luts.py" in ln for ln in head)
        cube = read_cube(path)
        assert cube.size == 33 and cube.title == name
        assert cube.table.min() >= 0 and cube.table.max() <= 1
    # The generator is deterministic and the shipped files are what it writes.
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_luts.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_ops_pickle_small_and_share_tables(tmp_path):
    op = Recipe.parse("lut file=warm_film interp=trilinear").ops[0]
    data = pickle.dumps(op)
    assert len(data) < 500 and pickle.loads(data) == op
    assert op.table() is grade.Lut(file="warm_film", interp="trilinear").table()
    for spec in ("tone", "bloom", "grain seed=3", "vignette"):
        one = Recipe.parse(spec).ops[0]
        assert pickle.loads(pickle.dumps(one)) == one


# -- sRGB -------------------------------------------------------------------------------------------


def test_srgb_transfer_functions():
    x = np.linspace(0, 1, 1001)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    assert float(srgb_to_linear(0.5)) == pytest.approx(0.214041140, abs=1e-9)
    assert float(linear_to_srgb(0.0031308)) == pytest.approx(0.04045, abs=1e-6)
    assert float(srgb_to_linear(0.04045)) == pytest.approx(0.04045 / 12.92)
    assert srgb_to_linear(np.float32([0.2, 0.9])).dtype == np.float32


# -- tone ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"contrast": 1.0},
        {"contrast": 3.0, "pivot": 0.2},
        {"contrast": 0.5, "shadows": 1.0, "highlights": -1.0},
        {"contrast": 0.0, "shadows": -1.0, "highlights": 1.0},
    ],
)
def test_tone_curve_is_monotonic_and_fixes_black_and_white(params):
    op = grade.Tone(**params)
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
    out = op.apply(ramp)[0, :, 0].astype(int)
    assert out[0] == 0 and out[255] == 255
    assert (np.diff(out) >= 0).all()


def test_tone_adds_contrast_on_a_mid_gray_ramp():
    ramp = np.tile(np.linspace(64, 192, 256).astype(np.uint8), (16, 1))
    img = np.repeat(ramp[..., None], 3, axis=2)
    out = grade.Tone(contrast=0.4).apply(img)
    assert out.std() > img.std() * 1.15
    assert grade.Tone(contrast=0.0).apply(img) is img
    # Around the pivot the curve is point-symmetric: mid-gray stays put.
    assert abs(int(grade.Tone(contrast=0.8).apply(np.full((2, 2, 3), 128, np.uint8))[0, 0, 0]) - 128) <= 1


def test_tone_luma_only_keeps_hue(video_frames):
    frame = video_frames[3]
    out = grade.Tone(contrast=0.6, luma_only=True).apply(frame).astype(np.float64)
    src = frame.astype(np.float64)
    keep = (src.min(axis=-1) > 30) & (out.max(axis=-1) < 250)  # away from black and clipping
    ratio_in = src[keep][:, 0] / src[keep][:, 1]
    ratio_out = out[keep][:, 0] / out[keep][:, 1]
    assert np.median(np.abs(ratio_out - ratio_in)) < 0.03
    assert np.abs(out - src).mean() > 3  # and it did something


# -- bloom --------------------------------------------------------------------------------------------


def test_bloom_spreads_a_bright_spot_into_the_dark():
    img = np.full((270, 480, 3), 20, np.uint8)
    cv2.circle(img, (240, 135), 8, (255, 255, 255), -1)
    out = grade.Bloom(radius=0.05, strength=1.0).apply(img)
    assert out[135, 240].tolist() == [255, 255, 255]
    ring = out[135, 255:262, 0].astype(int)  # 7 to 14 px outside the disk (background: 20)
    assert (ring > 30).all() and (np.diff(ring) <= 0).all()
    assert out[135, 280, 0] > out[135, 320, 0] >= 20  # falls off with distance
    assert (out >= img).all()  # light is only ever added
    assert np.array_equal(out[:10], img[:10])  # far away: untouched


def test_bloom_leaves_frames_without_highlights_alone(video_frames):
    dim = (video_frames[2] // 2).astype(np.uint8)  # nothing near the threshold
    out = grade.Bloom().apply(dim)
    assert np.abs(out.astype(int) - dim).max() <= 1
    flat = np.full((180, 320, 3), 150, np.uint8)
    assert grade.Bloom(threshold=0.5).apply(flat) is flat


# -- grain --------------------------------------------------------------------------------------------


def _frames(images: list[np.ndarray], start: int = 0) -> list[Frame]:
    return [Frame(img, Fraction(i + start, 30), i + start) for i, img in enumerate(images)]


def test_grain_is_seeded_per_frame_index(video_frames):
    imgs = video_frames[:6]
    a = [f.image for f in grade.Grain(seed=7).process(iter(_frames(imgs)))]
    b = [f.image for f in grade.Grain(seed=7).process(iter(_frames(imgs)))]
    c = [f.image for f in grade.Grain(seed=8).process(iter(_frames(imgs)))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    # A chunk that starts at frame 3 reproduces the grain of a run from the start.
    tail = [f.image for f in grade.Grain(seed=7).process(iter(_frames(imgs[3:], start=3)))]
    assert all(np.array_equal(x, y) for x, y in zip(a[3:], tail, strict=True))
    # Consecutive frames get different grain (same picture, different noise).
    still = np.full((120, 160, 3), 128, np.uint8)
    g0, g1 = (f.image for f in grade.Grain(seed=7).process(iter(_frames([still, still]))))
    assert not np.array_equal(g0, g1)
    assert np.corrcoef(g0[..., 0].ravel(), g1[..., 0].ravel())[0, 1] < 0.05


def test_grain_strength_and_mean(video_frames):
    gray = np.full((240, 320, 3), 128, np.uint8)
    out = grade.Grain(amount=0.04, size=1.0).apply(gray, 1).astype(np.float64)
    assert (out[..., 0] == out[..., 2]).all()  # monochrome grain
    assert out.std() == pytest.approx(0.04 * 255, rel=0.1)
    assert abs(out.mean() - 128) < 0.3
    frame = video_frames[4]
    grained = grade.Grain(amount=0.03, size=2.0).apply(frame, 4).astype(np.float64)
    assert abs(grained.mean() - frame.mean()) < 0.5
    assert np.abs(grained - frame).mean() > 2


def test_grain_is_weaker_in_shadows_when_luma_weighted():
    dark = np.full((200, 200, 3), 20, np.uint8)
    mid = np.full((200, 200, 3), 128, np.uint8)
    op = grade.Grain(amount=0.03, size=1.0)
    assert op.apply(dark, 0).std() < 0.6 * op.apply(mid, 0).std()
    flat = grade.Grain(amount=0.03, size=1.0, luma_weighted=False)
    assert flat.apply(dark, 0).std() == pytest.approx(flat.apply(mid, 0).std(), rel=0.15)


# -- vignette -----------------------------------------------------------------------------------------


def test_vignette_darkens_corners_symmetrically():
    img = np.full((181, 321, 3), 200, np.uint8)
    out = grade.Vignette(amount=0.5).apply(img).astype(int)
    assert abs(out[90, 160, 0] - 200) <= 1
    for y, x in ((0, 0), (0, 320), (180, 0), (180, 320)):
        assert out[y, x, 0] < 170
    assert np.array_equal(out, out[::-1]) and np.array_equal(out, out[:, ::-1])
    diagonal = [out[int(t * 90), int(t * 160), 0] for t in np.linspace(1, 0, 20)]
    assert all(a >= b for a, b in itertools.pairwise(diagonal))  # center to corner
    assert grade.Vignette(amount=0.0).apply(img) is img


# -- recipes and the CLI ------------------------------------------------------------------------------

CHAIN = "lut file=teal_orange | tone contrast=0.3 | vignette amount=0.4"


def test_grade_ops_in_a_recipe(video_frames):
    recipe = Recipe.parse(CHAIN + " | bloom | grain seed=1")
    assert [op.name for op in recipe.ops] == ["lut", "tone", "vignette", "bloom", "grain"]
    assert Recipe.parse(recipe.to_compact()) == recipe
    out = list(recipe.process(iter(_frames(video_frames))))
    assert len(out) == len(video_frames)
    assert all(f.image.shape == video_frames[0].shape and f.image.dtype == np.uint8 for f in out)
    assert [f.index for f in out] == list(range(len(video_frames)))


def test_grade_recipe_through_the_cli(sample_mp4, tmp_path):
    out = tmp_path / "graded.mkv"
    done = run_cli("run", sample_mp4, "-o", out, "-r", CHAIN, "--codec", "ffv1", "-q")
    assert done.returncode == 0, done.stderr
    src, dst = decode_rgb(sample_mp4), decode_rgb(out)
    assert len(dst) == len(src) and dst[0].shape == src[0].shape
    assert np.abs(dst[5].astype(int) - src[5]).mean() > 3
    bad = run_cli("run", sample_mp4, "-o", tmp_path / "x.mkv", "-r", "lut file=missing.cube", "-q")
    assert bad.returncode == 2 and "LUT file not found" in bad.stderr and "Traceback" not in bad.stderr
