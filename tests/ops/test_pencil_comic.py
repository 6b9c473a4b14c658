"""The pencil and comic stylizers: end to end through recipes and the CLI, and the look itself
measured (dodge lines, paper, colored pencil; halftone screen angles, periods and tone)."""

import itertools
import math
import pickle

import cv2
import numpy as np
import pytest

from conftest import decode_rgb, frame_times, run_cli
from vidlab.core.errors import RecipeError
from vidlab.io import probe
from vidlab.io.samples import render
from vidlab.ops import SpatialOp, get_op
from vidlab.ops import comic as comic_mod
from vidlab.ops import pencil as pencil_mod
from vidlab.pipeline import Recipe, execute

Pencil = get_op("pencil")
Comic = get_op("comic")


def _flat(value, h=360, w=640):
    return np.full((h, w, 3), value, np.uint8)


def _step(left, right, h=720, w=720):
    img = _flat(left, h, w)
    img[:, w // 2 :] = right
    return img


# -- both ops ----------------------------------------------------------------------------------


def test_registered_with_typed_params():
    assert issubclass(Pencil, SpatialOp) and issubclass(Comic, SpatialOp)
    p = {s.name: s for s in Pencil.params()}
    assert {"stroke", "darkness", "paper", "paper_seed", "paper_strength", "color"} <= set(p)
    assert p["stroke"].type is float and p["stroke"].min > 0 and p["stroke"].help
    assert p["color"].type is bool and p["paper_seed"].type is int and p["paper"].type is str
    c = {s.name: s for s in Comic.params()}
    assert {"dot_size", "edges", "edge_strength", "edge_width", "posterize"} <= set(c)
    assert [c[f"angle_{k}"].default for k in "cmyk"] == [15.0, 75.0, 0.0, 45.0]
    assert all(s.help for s in c.values())
    with pytest.raises(RecipeError, match="posterize"):
        Recipe.parse("comic posterize=1")
    with pytest.raises(RecipeError, match="out of range"):
        Recipe.parse("pencil stroke=0")


RECIPES = [
    "pencil stroke=4 paper=procedural paper_seed=3",
    "pencil color=true",
    "comic dot_size=24 posterize=5",
]


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_run_keeps_size_count_and_times(recipe, sample_mp4, tmp_path):
    out = tmp_path / "o.mp4"
    result = execute(sample_mp4, out, Recipe.parse(recipe))
    src, dst = probe(sample_mp4), probe(out)
    assert (dst.width, dst.height) == (src.width, src.height)
    assert result.frames == len(decode_rgb(out)) == len(decode_rgb(sample_mp4))
    assert frame_times(out) == frame_times(sample_mp4)


@pytest.mark.parametrize(
    "recipe", ["pencil darkness=2 paper=procedural", "comic edges=true | pencil color=1"]
)
def test_cli_run(recipe, sample_mp4, tmp_path):
    out = tmp_path / "o.mp4"
    res = run_cli("run", sample_mp4, "-o", out, "-r", recipe, "-q")
    assert res.returncode == 0, res.stderr
    frames = decode_rgb(out)
    assert len(frames) == len(decode_rgb(sample_mp4))
    assert frames[0].shape == (180, 320, 3)
    assert frame_times(out) == frame_times(sample_mp4)


def test_ops_pickle_small_and_caches_stay_out(tmp_path):
    img = render(0.2, 320, 180)
    for op in (Pencil(paper="procedural", color=True), Comic(posterize=4)):
        op.apply(img)  # fills the module caches
        blob = pickle.dumps(op)
        assert len(blob) < 1000
        again = pickle.loads(blob)
        assert again == op and np.array_equal(again.apply(img), op.apply(img))


# -- pencil --------------------------------------------------------------------------------------


def test_pencil_is_gray_and_flat_is_paper_white():
    img = render(0.4, 320, 180)
    for op in (Pencil(), Pencil(paper="procedural", darkness=3.0)):
        out = op.apply(img)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
        assert out.std() > 10  # a drawing, not a blank page
    for value in (0, 40, 128, 250, 255):
        out = Pencil(darkness=3.0).apply(_flat(value))
        assert out.min() >= 250, value


def test_pencil_draws_dark_lines_on_the_dark_side_of_an_edge():
    out = Pencil(stroke=6.0).apply(_step(60, 200))[:, :, 0].astype(int)
    row = out[360]
    sigma = 6.0 * 720 / 1080
    near = row[360 - int(3 * sigma) : 360]
    assert near.min() < 120  # a line hugs the edge
    assert row[: 360 - int(8 * sigma)].min() >= 250  # far inside the dark area: paper
    assert row[360:].min() >= 245  # the bright side stays clean
    assert np.abs(out - row[None, :]).max() <= 1  # a straight edge gives a straight line


def _line_width(op):
    row = op.apply(_step(60, 200))[360, :, 0]
    return int((row < 235).sum())


def test_pencil_stroke_widens_lines_and_darkness_darkens():
    widths = [_line_width(Pencil(stroke=s)) for s in (2.0, 6.0, 18.0)]
    assert widths[0] < widths[1] < widths[2] and widths[2] > 3 * widths[0], widths
    img = render(0.4, 320, 180)
    means = [Pencil(darkness=d).apply(img).mean() for d in (0.5, 1.0, 2.0, 4.0)]
    assert all(a > b + 2 for a, b in itertools.pairwise(means)), means


def test_procedural_paper_is_static_and_seeded():
    flat = _flat(200)
    a = Pencil(paper="procedural", paper_seed=7).apply(flat)
    pencil_mod._procedural_paper.cache_clear()
    b = Pencil(paper="procedural", paper_seed=7).apply(flat)
    c = Pencil(paper="procedural", paper_seed=8).apply(flat)
    assert np.array_equal(a, b)  # same seed: identical, even regenerated
    assert not np.array_equal(a, c) and np.abs(a.astype(int) - c).mean() > 1
    assert a.std() > 2 and a.mean() > 200  # a visible but light texture on white paper
    # Static across frames: the texture does not move with the content.
    other = render(0.1, 640, 360)
    other[:100, :100] = 200
    assert np.array_equal(
        Pencil(paper="procedural", paper_seed=7).apply(other)[10:90, 10:90], a[10:90, 10:90]
    )
    faint = Pencil(paper="procedural", paper_seed=7, paper_strength=0.1).apply(flat)
    assert faint.std() < a.std() and faint.mean() > a.mean()


def test_paper_from_an_image_file_is_tiled(tmp_path):
    stripes = np.full((40, 40, 3), 255, np.uint8)
    stripes[:, :20] = 100
    path = tmp_path / "paper.png"
    cv2.imwrite(str(path), stripes)
    op = Recipe.parse(f"pencil paper_image={path} paper_strength=1").ops[0]
    out = op.apply(_flat(255, 1080, 200))[540, :, 0].astype(int)  # 1080p: the tile keeps 40 px
    assert np.abs(out[2:18] - 100).max() <= 2 and out[22:38].min() >= 253
    assert np.abs(out[42:58] - 100).max() <= 2 and out[162:178].max() <= 102  # tiled
    half = Pencil(paper_image=path, paper_strength=0.5).apply(_flat(255, 1080, 200))[540, 10, 0]
    assert 170 <= half <= 185
    sepia = tmp_path / "sepia.jpg"
    cv2.imwrite(str(sepia), np.full((32, 32, 3), (170, 210, 240), np.uint8))  # BGR
    tinted = Pencil(paper_image=str(sepia), paper_strength=1).apply(_flat(255, 360, 360)).reshape(-1, 3)
    assert np.all(np.abs(tinted.mean(0) - (240, 210, 170)) < 4)


def test_missing_or_unreadable_paper_is_one_clear_line(tmp_path, sample_mp4):
    missing = tmp_path / "no_such_paper.png"
    with pytest.raises(RecipeError, match=r"no_such_paper\.png") as info:
        Recipe.parse(f"pencil paper_image={missing}")
    assert "\n" not in str(info.value)
    res = run_cli("run", sample_mp4, "-o", tmp_path / "o.mp4", "-r", f"pencil paper_image={missing}")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "no_such_paper.png" in res.stderr
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image")
    op = Pencil(paper_image=garbage)  # exists, so it validates; loading is lazy
    with pytest.raises(RecipeError, match=r"garbage\.png") as info:
        op.apply(_flat(128))
    assert "\n" not in str(info.value)


def test_colored_pencil_has_color_and_keeps_hue():
    img = _flat(255, 360, 640)
    img[90:270, 160:480] = (200, 30, 30)
    img[100:200, 500:600] = (30, 60, 200)
    out = Pencil(color=True).apply(img).astype(int)
    spread = out.max(axis=2) - out.min(axis=2)
    assert spread.mean() > 10  # real color, not gray
    red = out[130:230, 220:420].reshape(-1, 3).mean(0)
    assert red[0] > red[1] + 40 and red[0] > red[2] + 40, red
    blue = out[125:175, 525:575].reshape(-1, 3).mean(0)
    assert blue[2] > blue[0] + 30, blue
    assert out[300:, :100].min() >= 250  # white paper stays white
    # Colored pencil, not a tinted photo: the fill is lighter than the source and textured.
    assert red.mean() > img[130:230, 220:420].mean() + 20
    assert out[130:230, 220:420, 1].std() > 3
    gray = Pencil().apply(img)
    assert np.abs(out.mean(axis=2) - gray[..., 0]).mean() > 5


# -- comic ---------------------------------------------------------------------------------------


def _fft_peak(ink):
    """(angle in degrees counterclockwise mod 90, radius in cycles per frame) of the strongest
    non-DC frequency of an ink plane. Rows grow downward, so the angle uses -fy."""
    h, w = ink.shape
    spec = np.abs(np.fft.fft2(ink - ink.mean()))
    fy = np.fft.fftfreq(h)[:, None] * h
    fx = np.fft.fftfreq(w)[None, :] * w
    spec[np.hypot(fx, fy) < 8] = 0
    iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
    y, x = fy[iy, 0], fx[0, ix]
    return math.degrees(math.atan2(-y, x)) % 90, math.hypot(x, y)


def _angle_diff(a, b):
    """Distance between two angles of a square lattice (modulo 90 degrees)."""
    d = (a - b) % 90
    return min(d, 90 - d)


@pytest.mark.parametrize(
    ("rgb", "plane", "angle"),
    [((150, 255, 255), 0, 15), ((255, 150, 255), 1, 75), ((255, 255, 150), 2, 0), ((150, 150, 150), 0, 45)],
    ids=["cyan", "magenta", "yellow", "black"],
)
def test_comic_screen_angles(rgb, plane, angle):
    out = Comic(dot_size=12.0, edges=False).apply(_flat(rgb, 1080, 1080))
    others = [p for p in range(3) if p != plane and rgb[p] == 255]
    assert all(out[..., p].min() == 255 for p in others)  # only this ink was printed
    ink = 255.0 - out[..., plane]
    measured, radius = _fft_peak(ink)
    assert _angle_diff(measured, angle) <= 3, (measured, angle)
    assert abs(1080 / radius - 12.0) < 0.6  # the period is the cell (1080p: dot_size px)
    # Screens at other angles are told apart (C 15 vs M 75 are mirror images).
    for other in {15, 75, 0, 45} - {angle}:
        assert _angle_diff(measured, other) > 10


def test_comic_dot_size_sets_period():
    periods = []
    for size in (8.0, 16.0, 32.0):
        ink = 255.0 - Comic(dot_size=size, edges=False).apply(_flat(170, 1080, 1080))[..., 0]
        periods.append(1080 / _fft_peak(ink)[1])
    assert abs(periods[1] / periods[0] - 2) < 0.15 and abs(periods[2] / periods[1] - 2) < 0.15, periods
    # Scaled with frame height: half the height, half the period.
    ink = 255.0 - Comic(dot_size=32.0, edges=False).apply(_flat(170, 540, 540))[..., 0]
    assert abs(540 / _fft_peak(ink)[1] - 16) < 1


def test_comic_tone_and_white():
    op = Comic(edges=False)
    coverage = []
    for value in (250, 220, 180, 130, 80, 30, 5):
        out = op.apply(_flat(value))
        assert np.array_equal(out[..., 0], out[..., 2])  # gray uses K only
        k = 1 - out.mean() / 255
        coverage.append(k)
        assert abs(k - (1 - value / 255)) < 0.03, (value, k)
        assert len(np.unique(out)) > 2  # dots, not a flat gray
        if 50 <= value <= 200:  # big dots are solid ink with a thin anti-aliased rim
            big = Comic(edges=False, dot_size=30.0).apply(_flat(value))
            assert (big < 40).mean() > 0.8 * k and (big > 215).mean() > 0.8 * (1 - k)
    assert all(a < b for a, b in itertools.pairwise(coverage))
    for value in (255, 0):
        assert np.all(Comic().apply(_flat(value)) == value)
    # A pale color prints pale dots, never dark ones.
    pale = Comic(edges=False).apply(_flat((255, 240, 255)))
    assert pale[..., [0, 2]].min() == 255 and pale[..., 1].min() < 200


def test_comic_screens_fixed_in_image_space():
    a = render(0.2, 640, 360)
    b = render(0.9, 640, 360)
    a[:150, :200] = b[:150, :200] = (120, 160, 210)
    op = Comic(dot_size=16.0)
    oa, ob = op.apply(a), op.apply(b)
    assert np.array_equal(oa[10:110, 10:150], ob[10:110, 10:150])
    assert np.array_equal(op.apply(a), oa)


def test_comic_edges_draw_black_ink():
    img = _step((255, 255, 255), (0, 0, 255), 720, 720)  # white | blue: no K ink anywhere
    near = slice(330, 390)
    plain = Comic(edges=False).apply(img)
    inked = Comic(edges=True, edge_width=4.0).apply(img)
    black = lambda x: x.max(axis=2) < 60  # noqa: E731
    assert not black(plain).any()
    assert black(inked)[100:600, near].mean() > 0.03
    assert black(inked)[:, near].any(axis=1)[50:670].all()  # one unbroken line down the edge
    assert not black(inked)[:, :300].any() and not black(inked)[:, 420:].any()
    weak = Comic(edges=True, edge_width=4.0, edge_strength=0.3).apply(img)
    assert not black(weak).any() and weak[:, near].mean() < plain[:, near].mean() - 1


def test_comic_posterize_reduces_colors():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    op = Comic(posterize=3)
    assert len(np.unique(op.posterized(noise).reshape(-1, 3), axis=0)) <= 27
    assert np.array_equal(Comic().posterized(noise), noise)
    ramp = np.repeat(np.repeat(np.linspace(0, 255, 1080).astype(np.uint8)[None, :, None], 360, 0), 3, 2)
    # Two levels: the ramp is black or white before screening, so almost no halftone is left.
    solid = lambda x: np.isin(x, (0, 255)).all(axis=2).mean()  # noqa: E731
    assert solid(Comic(posterize=2, edges=False).apply(ramp)) > 0.99
    assert solid(Comic(edges=False).apply(ramp)) < 0.8

    # More levels, more distinct tones along the ramp (mean ink per cell-wide column band).
    def tones(levels):
        out = Comic(posterize=levels, edges=False, dot_size=10.0).apply(ramp).astype(float)
        bands = out[..., 0].reshape(360, 108, 10).mean(axis=(0, 2))
        return len(np.unique(np.round(bands / 8)))

    assert tones(3) < tones(6) < tones(0)


def test_comic_screen_cache_is_plain_values():
    Comic(dot_size=10.0).apply(_flat(128, 90, 160))
    assert comic_mod._screen.cache_info().currsize >= 4
