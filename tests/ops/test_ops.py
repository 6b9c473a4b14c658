from fractions import Fraction

import cv2
import numpy as np
import pytest

from conftest import psnr
from vidlab.core.errors import RecipeError
from vidlab.core.frame import Frame
from vidlab.io.samples import render
from vidlab.ops import SpatialOp, TemporalOp, get_op, list_ops
from vidlab.pipeline import Recipe


def _frames(n=12, w=96, h=64):
    return [Frame(render(i / 10, w, h), Fraction(i, 10), i) for i in range(n)]


def test_builtin_ops_listed_with_typed_params():
    names = {op.name for op in list_ops()}
    assert {"identity", "resize", "denoise", "sharpen", "ema"} <= names
    sharpen = {p.name: p for p in get_op("sharpen").params()}
    assert sharpen["amount"].type is float and sharpen["amount"].default == 0.6
    assert (sharpen["amount"].min, sharpen["amount"].max) == (0.0, 10.0)
    assert sharpen["amount"].help
    assert get_op("denoise").params()[1].choices == ("nlmeans", "bilateral", "median", "gaussian")
    assert issubclass(get_op("ema"), TemporalOp) and issubclass(get_op("sharpen"), SpatialOp)


def test_compact_recipe_parses_types():
    r = Recipe.parse("denoise strength=5 | sharpen amount=0.6 threshold=3")
    d, s = r.ops
    assert d.strength == 5.0 and isinstance(d.strength, float)
    assert s.amount == 0.6 and s.threshold == 3 and isinstance(s.threshold, int)
    assert Recipe.parse(r.to_compact()) == r


def test_yaml_and_json_recipes(tmp_path):
    y = tmp_path / "r.yaml"
    y.write_text("ops:\n  - op: denoise\n    params: {strength: 5}\n  - sharpen: {amount: 0.6}\n  - ema\n")
    r = Recipe.parse(str(y))
    assert [op.name for op in r.ops] == ["denoise", "sharpen", "ema"]
    j = tmp_path / "r.json"
    r.dump(j)
    assert Recipe.load(j) == r
    assert Recipe.parse('[{"op": "resize", "params": {"width": 64}}]').ops[0].width == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blurr", "unknown op 'blurr'"),
        ("sharpn amount=1", "did you mean 'sharpen'"),
        ("sharpen amout=1", "unknown parameter 'amout'"),
        ("sharpen amount=11", r"amount=11 is out of range \[0, 10\]"),
        ("sharpen amount=lots", "not a valid float"),
        ("denoise method=magic", "not one of"),
        ("sharpen threshold=2.5", "not a valid int"),
        ("resize", "give width, height or both"),
        ("sharpen amount", "expected key=value"),
        ("", "empty recipe"),
        ("identity | ", "empty step"),
    ],
)
def test_recipe_errors_are_clear(text, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.parse(text)


def test_yaml_safe_load_refuses_python_objects(tmp_path):
    y = tmp_path / "evil.yaml"
    y.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeError, match="cannot parse recipe"):
        Recipe.parse(str(y))


def test_resize_changes_info_and_frames(sample_mp4):
    from vidlab.io import probe

    op = Recipe.parse("resize width=160").ops[0]
    info = op.output_info(probe(sample_mp4))
    assert (info.width, info.height) == (160, 90)
    assert op.apply(render(0, 320, 180)).shape == (90, 160, 3)


def test_sharpen_adds_detail_and_denoise_removes_noise():
    img = render(0.3, 160, 96)
    lap = lambda x: cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(get_op("sharpen")(amount=1.0).apply(img)) > 1.3 * lap(img)
    img = render(0.3, 640, 360)
    rng = np.random.default_rng(0)
    noisy = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    for method in ("nlmeans", "bilateral", "gaussian", "median"):
        clean = get_op("denoise")(strength=10.0, method=method).apply(noisy)
        assert psnr(clean, img) > psnr(noisy, img) + 1, method


def test_ema_matches_float_reference_and_smooths():
    frames = _frames(20)
    op = get_op("ema")(alpha=0.5)
    out = list(op.process(iter(frames)))
    assert len(out) == 20 and [f.pts for f in out] == [f.pts for f in frames]
    # Steady state equals the textbook recursion to within rounding.
    ref = frames[0].image.astype(np.float64)
    for f in frames[1:]:
        ref = 0.5 * f.image + 0.5 * ref
    assert np.abs(out[-1].image.astype(float) - ref).max() <= 1.5
    assert np.array_equal(out[0].image, frames[0].image)


def test_ema_output_depends_only_on_its_preroll():
    """The chunking contract: starting ``preroll`` frames early gives bit-identical output."""
    frames = _frames(30)
    op = get_op("ema")(alpha=0.4)
    full = list(op.process(iter(frames)))
    start = 20
    chunk = list(op.process(iter(frames[start - op.preroll() :])))[op.preroll() :]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(full[start:], chunk, strict=True))
    assert op.preroll() == op.window() - 1 > 0
    assert get_op("ema")(alpha=1.0).preroll() == 0


def test_recipe_preroll_adds_up():
    r = Recipe.parse("ema alpha=0.5 | sharpen | ema alpha=0.8")
    assert r.preroll() == r.ops[0].preroll() + r.ops[2].preroll()
