"""Alpha end to end in the I/O layer: probe, reader (eager and lazy), writer (FFV1, ProRes 4444,
VP9 in WebM, PNG sequences), the native passthrough, and refusals where alpha cannot go.

Every file is really encoded here; decoded planes are checked with PyAV directly, not only
through vidlab's reader. Measured on this build (FFmpeg 8 in PyAV 18): ProRes 4444 with 16
alpha bits returns 8-bit alpha exactly (max abs diff 0); VP9 alpha at crf 10 is within
max abs diff 10, PSNR >= 50 dB (at the default crf 32: 32 and 42 dB)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import psnr
from vidlab.core.errors import UsageError
from vidlab.core.frame import Frame
from vidlab.io import EncodeSettings, VideoInfo, probe, read_frames
from vidlab.io.alpha import alpha_u8, format_has_alpha, opaque_twin
from vidlab.io.codecs import choose_pix_fmt, resolve
from vidlab.io.reader import VideoReader
from vidlab.io.segments import extract_span
from vidlab.io.writer import VideoWriter
from vidlab.pipeline import execute
from vidlab.pipeline.job import JobOptions, JobSpec, run_job
from vidlab.pipeline.recipe import Recipe

W, H, N = 96, 64, 8
FPS = Fraction(30)


def rgba(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``i``: a moving RGB pattern, and an alpha that is a smooth gradient (shifting with
    ``i``) plus a sharp opaque disc and a transparent square that move."""
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([(xx * 3 + 7 * i) % 256, (yy * 4 + 3 * i) % 256, (xx + yy) % 256], axis=-1).astype(
        np.uint8
    )
    a = np.clip(xx * 255.0 / (W - 1) * 0.8 + 10 * i, 0, 255).astype(np.uint8)
    a[(xx - 24 - 5 * i) ** 2 + (yy - 32) ** 2 < 13**2] = 255
    a[40:52, 60 + i : 72 + i] = 0
    return rgb, a


def alpha_frames() -> list[Frame]:
    frames = []
    for i in range(N):
        rgb, a = rgba(i)
        frames.append(Frame(rgb, Fraction(i) / FPS, i, alpha=a))
    return frames


def write(path: Path, settings: EncodeSettings, pix_fmt: str = "yuv420p") -> Path:
    info = VideoInfo.constant_rate(path, W, H, FPS, N, pix_fmt=pix_fmt).with_changes(has_alpha=True)
    with VideoWriter(path, info, settings) as w:
        for f in alpha_frames():
            w.write(f)
    return path


def raw_alpha(f: av.VideoFrame) -> np.ndarray:
    """A frame's alpha samples as stored (8 or 16-bit), read with NumPy from PyAV's planes."""
    comp = next(c for c in f.format.components if c.is_alpha)
    if len(f.planes) == 1:  # packed (bgra, rgba)
        return f.to_ndarray()[..., 3]
    dtype = np.uint8 if comp.bits <= 8 else np.dtype("<u2")
    p = f.planes[comp.plane]
    return np.frombuffer(p, dtype).reshape(p.height, -1)[:, : p.width].copy()


def to_u8(values: np.ndarray, bits: int) -> np.ndarray:
    """The documented scaling of deep alpha to 8 bits: round half up of v * 255 / (2**bits - 1)."""
    return np.floor(values.astype(np.float64) * 255 / ((1 << bits) - 1) + 0.5).astype(np.uint8)


def pyav_alpha(path: Path | str, decoder: str | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(pixel format, RGB, alpha as 8-bit) of every frame, decoded with PyAV alone (swscale's own
    deep-to-8-bit alpha rounding differs from vidlab's, so deep alpha is scaled here)."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        if decoder is None:
            frames = list(c.decode(s))
        else:
            ctx = av.codec.CodecContext.create(decoder, "r")
            frames = [f for p in c.demux(s) for f in ctx.decode(p)]
        for f in frames:
            rgb = f.to_ndarray(format="rgb24")
            bits = next(c.bits for c in f.format.components if c.is_alpha)
            out.append((f.format.name, rgb, to_u8(raw_alpha(f), bits)))
    return out


def write_pyav(
    path: Path, codec: str, pix_fmt: str, options: dict[str, str] | None = None, frames: int = N
) -> Path:
    """The source files: RGBA frames encoded with PyAV directly (not with vidlab's writer)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        s.codec_context.options = options or {}
        for i in range(frames):
            rgb, a = rgba(i)
            vf = av.VideoFrame.from_ndarray(np.dstack((rgb, a)), format="rgba")
            if pix_fmt.startswith("yuva"):
                vf = vf.reformat(format=pix_fmt)
                # swscale's RGBA -> Y'CbCrA is off by one in the alpha; write it exactly.
                top = (1 << vf.format.components[3].bits) - 1
                dtype = np.uint8 if top == 255 else np.dtype("<u2")
                plane = vf.planes[3]
                view = np.frombuffer(plane, dtype).reshape(H, -1)[:, :W]
                view[...] = (a.astype(np.uint32) * top + 127) // 255
            else:
                vf = vf.reformat(format=pix_fmt)
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alpha")


@pytest.fixture(scope="module")
def ffv1_bgra(media: Path) -> Path:
    """FFV1 in Matroska, bgra (8-bit RGB + alpha), written with PyAV."""
    return write_pyav(media / "bgra.mkv", "ffv1", "bgra")


@pytest.fixture(scope="module")
def ffv1_yuva(media: Path) -> Path:
    """FFV1 in Matroska, yuva444p10le (10-bit alpha), written with PyAV."""
    return write_pyav(media / "yuva10.mkv", "ffv1", "yuva444p10le")


@pytest.fixture(scope="module")
def prores(media: Path) -> Path:
    return write(media / "p4444.mov", EncodeSettings(codec="prores"))


@pytest.fixture(scope="module")
def vp9(media: Path) -> Path:
    return write(media / "alpha.webm", EncodeSettings(codec="vp9", crf=10, preset="5"))


@pytest.fixture(scope="module")
def png_seq(media: Path) -> Path:
    (media / "seq").mkdir()
    return write(media / "seq" / "f%05d.png", EncodeSettings())


# -- probe and formats ----------------------------------------------------------------------------


def test_alpha_formats_and_twins():
    for f in ("yuva420p", "yuva444p10le", "gbrap", "bgra", "rgba", "argb", "ya8", "rgba64le"):
        assert format_has_alpha(f), f
    for f in ("yuv420p", "gbrp", "bgr0", "rgb24", "gray", "pal8", "nonsense"):
        assert not format_has_alpha(f), f
    assert [opaque_twin(f) for f in ("yuva420p", "gbrap10le", "bgra", "ya8")] == [
        "yuv420p",
        "gbrp10le",
        "bgr0",
        "gray",
    ]
    # resolve() and choose_pix_fmt() pick alpha formats when alpha is wanted.
    assert choose_pix_fmt("ffv1", None, "yuv420p", alpha=True) == "yuva420p"
    assert choose_pix_fmt("ffv1", None, "gbrp", alpha=True) == "bgra"
    assert choose_pix_fmt("ffv1", None, "yuva444p10le", alpha=True) == "yuva444p10le"
    assert choose_pix_fmt("prores_ks", None, "yuv420p", alpha=True) == "yuva444p10le"
    assert choose_pix_fmt("libvpx-vp9", None, "yuv444p", alpha=True) == "yuva420p"
    assert choose_pix_fmt("png", None, "yuv420p", alpha=True) == "rgba"
    assert choose_pix_fmt("ffv1", None, "yuva420p") == "yuv420p"  # opaque output of an alpha source
    enc = resolve(EncodeSettings(codec="prores"), "yuv420p", W, H, alpha=True)
    assert (enc.codec, enc.pix_fmt, enc.alpha) == ("prores_ks", "yuva444p10le", True)
    assert enc.options["profile"] == "4444" and enc.options["alpha_bits"] == "16"
    assert resolve(EncodeSettings(codec="vp9"), "yuv420p", W, H, alpha=True).options["auto-alt-ref"] == "0"
    assert not resolve(EncodeSettings(codec="ffv1"), "yuv420p", W, H).alpha


@pytest.mark.parametrize("fixture", ["ffv1_bgra", "ffv1_yuva", "prores", "vp9", "png_seq"])
def test_probe_reports_alpha(fixture, request):
    info = probe(request.getfixturevalue(fixture))
    assert info.has_alpha is True
    assert info.to_dict()["has_alpha"] is True
    assert info.frame_count == N
    assert format_has_alpha(info.pix_fmt)


def test_probe_opaque_and_vp9_tag(sample_mp4, vp9):
    assert probe(sample_mp4).has_alpha is False
    with av.open(str(vp9)) as c:
        s = c.streams.video[0]
        assert s.metadata.get("alpha_mode") == "1"  # the alpha lives in side data...
        assert next(c.decode(s)).format.name == "yuv420p"  # ...which FFmpeg's vp9 decoder drops
    assert probe(vp9).pix_fmt == "yuva420p"  # vidlab decodes it with libvpx-vp9


# -- reader ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["ffv1_bgra", "ffv1_yuva"])
def test_reader_keeps_alpha_eager_and_lazy(fixture, request):
    path = request.getfixturevalue(fixture)
    reader = VideoReader(path)
    items = list(reader.decoded())
    assert len(items) == N
    for item in items:
        eager, lazy = reader.to_frame(item), reader.lazy_frame(item)
        rgb, a = rgba(item[2])
        assert eager.alpha.dtype == np.uint8 and eager.alpha.shape == (H, W)
        assert np.array_equal(eager.alpha, a)
        assert "alpha" in lazy.planes and np.array_equal(lazy.alpha, a)
        assert np.array_equal(lazy.image, eager.image)
        if fixture == "ffv1_bgra":  # RGB stored as RGB: the picture is exact too
            assert np.array_equal(eager.image, rgb)


def test_reader_scales_deep_alpha_with_rounding():
    vf = av.VideoFrame(4, 2, "yuva444p10le")
    values = np.array([[0, 1, 2, 3], [511, 512, 1022, 1023]], np.uint16)
    plane = vf.planes[3]
    np.frombuffer(plane, "<u2").reshape(2, -1)[:, :4] = values
    expect = np.floor(values.astype(np.float64) * 255 / 1023 + 0.5).astype(np.uint8)
    assert np.array_equal(alpha_u8(vf), expect)


def test_single_png_has_alpha(png_seq, media):
    single = media / "seq" / "f00003.png"
    info = probe(single)
    assert info.has_alpha and info.frame_count == 1
    (frame,) = read_frames(single)
    assert np.array_equal(frame.alpha, rgba(2)[1])


# -- writer round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("pix_fmt", ["gbrp", "yuv420p", "yuv444p10le"])
def test_ffv1_roundtrip_is_bit_exact(pix_fmt, tmp_path):
    out = write(tmp_path / "a.mkv", EncodeSettings(codec="ffv1"), pix_fmt=pix_fmt)
    decoded = pyav_alpha(out)
    assert len(decoded) == N
    want = {"gbrp": "bgra", "yuv420p": "yuva420p", "yuv444p10le": "yuva444p10le"}[pix_fmt]
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == want
    for i, (_, rgb, a) in enumerate(decoded):
        assert np.array_equal(a, rgba(i)[1]), f"frame {i}"
        if pix_fmt == "gbrp":
            assert np.array_equal(rgb, rgba(i)[0])
    for i, f in enumerate(read_frames(out)):
        assert np.array_equal(f.alpha, rgba(i)[1])


def test_png_sequence_roundtrip_is_bit_exact(png_seq):
    folder = png_seq.parent
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"f{i:05d}.png" for i in range(1, N + 1)], "numbered from 1, nothing else left"
    for i, name in enumerate(names):
        ((fmt, rgb, a),) = pyav_alpha(folder / name)
        assert fmt == "rgba"
        assert np.array_equal(rgb, rgba(i)[0]) and np.array_equal(a, rgba(i)[1])
    frames = read_frames(png_seq)
    assert [f.pts for f in frames] == [Fraction(i, 25) for i in range(N)]  # FFmpeg's default rate
    assert all(np.array_equal(f.alpha, rgba(i)[1]) for i, f in enumerate(frames))
    again = probe(png_seq, fps=Fraction(30000, 1001))
    assert again.fps == Fraction(30000, 1001) and again.frame_count == N


def test_png_sequence_replaces_an_older_one_and_leaves_nothing_half_written(tmp_path):
    pattern = tmp_path / "%04d.png"
    (tmp_path / "keep.txt").write_text("not part of the sequence")
    info = VideoInfo.constant_rate(pattern, W, H, FPS, 12).with_changes(has_alpha=True)
    with VideoWriter(pattern, info) as w:
        for i in range(12):
            w.write(Frame(rgba(0)[0], Fraction(i, 30), i, alpha=rgba(0)[1]))
    assert len(list(tmp_path.glob("*.png"))) == 12
    write(pattern, EncodeSettings())
    expected = sorted(["keep.txt"] + [f"{i:04d}.png" for i in range(1, N + 1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    w = VideoWriter(tmp_path / "x_%03d.png", info)
    w.write(Frame(rgba(0)[0], Fraction(0), 0, alpha=rgba(0)[1]))
    w.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    with pytest.raises(UsageError, match="image sequence"):
        VideoWriter(tmp_path / "single.png", info)


def test_prores_4444_alpha_within_tolerance(prores):
    with av.open(str(prores)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.name == "prores" and cc.profile == "4444"
    decoded = pyav_alpha(prores)
    assert len(decoded) == N
    worst = 0
    for i, (fmt, rgb, a) in enumerate(decoded):
        assert format_has_alpha(fmt)
        worst = max(worst, int(np.abs(a.astype(int) - rgba(i)[1]).max()))
        assert psnr(rgb, rgba(i)[0]) > 38
    assert worst <= 1, worst  # measured: 0 (16-bit alpha is coded losslessly)
    frames = read_frames(prores)
    assert all(int(np.abs(f.alpha.astype(int) - rgba(i)[1]).max()) <= 1 for i, f in enumerate(frames))


def test_vp9_alpha_within_tolerance_and_decoded_back(vp9):
    decoded = pyav_alpha(vp9, decoder="libvpx-vp9")
    assert len(decoded) == N and all(fmt == "yuva420p" for fmt, _, _ in decoded)
    diffs = [int(np.abs(a.astype(int) - rgba(i)[1]).max()) for i, (_, _, a) in enumerate(decoded)]
    quality = min(psnr(a, rgba(i)[1]) for i, (_, _, a) in enumerate(decoded))
    assert max(diffs) <= 16 and quality >= 45, (diffs, quality)  # measured: 10 and 50.2 dB
    frames = read_frames(vp9)
    assert len(frames) == N
    for i, f in enumerate(frames):
        assert f.alpha is not None
        assert np.array_equal(f.alpha, decoded[i][2])  # vidlab's reader sees what libvpx decodes


def test_frame_without_alpha_gets_opaque_alpha(tmp_path):
    out = tmp_path / "o.mkv"
    info = VideoInfo.constant_rate(out, W, H, FPS, 2).with_changes(has_alpha=True)
    with VideoWriter(out, info, EncodeSettings(codec="ffv1")) as w:
        w.write(Frame(rgba(0)[0], Fraction(0), 0))
        w.write(Frame(rgba(1)[0], Fraction(1, 30), 1, alpha=rgba(1)[1].astype(np.float32) / 255))
    (_, _, a0), (_, _, a1) = pyav_alpha(out)
    assert (a0 == 255).all()
    assert np.array_equal(a1, rgba(1)[1])


# -- the native passthrough -----------------------------------------------------------------------


def _planes(path: Path) -> list[tuple[str, list[np.ndarray]]]:
    """Every decoded frame's pixel format and planes (bytes, line padding cut off), PyAV alone."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            fmt = f.format
            if len(f.planes) == 1:  # packed: all components in one plane
                per = fmt.padded_bits_per_pixel // 8
            else:
                per = 2 if max(comp.bits for comp in fmt.components) > 8 else 1
            planes = []
            for p in f.planes:
                rows = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
                planes.append(rows[:, : p.width * per].copy())
            out.append((fmt.name, planes))
    return out


def assert_same_planes(a: Path, b: Path) -> None:
    pa, pb = _planes(a), _planes(b)
    assert len(pa) == len(pb) == N
    for i, ((fa, xa), (fb, xb)) in enumerate(zip(pa, pb, strict=True)):
        assert fa == fb, f"frame {i}: {fa} vs {fb}"
        assert len(xa) == len(xb)
        for k, (u, v) in enumerate(zip(xa, xb, strict=True)):
            assert np.array_equal(u, v), f"frame {i} plane {k} differs"


@pytest.mark.parametrize("fixture", ["ffv1_bgra", "ffv1_yuva"])
def test_identity_ffv1_with_alpha_is_bit_exact(fixture, request, tmp_path):
    src = request.getfixturevalue(fixture)
    out = tmp_path / "id.mkv"
    execute(src, out, "identity", EncodeSettings(codec="ffv1"))
    assert probe(out).has_alpha
    assert_same_planes(src, out)  # alpha included, 10-bit alpha kept to the bit


def test_passthrough_respects_a_replaced_alpha(ffv1_yuva, tmp_path):
    out = tmp_path / "swapped.mkv"
    reader = VideoReader(ffv1_yuva)
    info = reader.info
    new_alpha = np.full((H, W), 77, np.uint8)
    with VideoWriter(out, info, EncodeSettings(codec="ffv1")) as w:
        for k, item in enumerate(reader.decoded()):
            f = reader.lazy_frame(item)
            w.write(f.replace(alpha=new_alpha) if k % 2 else f)
    with av.open(str(ffv1_yuva)) as a, av.open(str(out)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
    assert len(pairs) == N
    for k, (x, y) in enumerate(pairs):
        want = np.full((H, W), round(77 * 1023 / 255), np.uint16) if k % 2 else raw_alpha(x)
        assert np.array_equal(raw_alpha(y), want), k  # kept bit-exact, or the new plane


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "codec", "says"),
    [
        ("out.mp4", "libx264", "libx264 cannot store alpha"),
        ("out.mkv", "libx265", "libx265 cannot store alpha"),
        ("out.mp4", "ffv1", "a .mp4 file cannot store ffv1 alpha"),
        ("out.mp4", "vp9", "a .mp4 file cannot store libvpx-vp9 alpha"),
        ("out.webm", "vp8", "libvpx cannot store alpha"),
    ],
)
def test_refuses_where_alpha_cannot_go(name, codec, says, ffv1_bgra, tmp_path, monkeypatch):
    out = tmp_path / name

    def no_decoding(self):
        raise AssertionError("decoding started before the refusal")

    monkeypatch.setattr(VideoReader, "decoded", no_decoding)
    with pytest.raises(UsageError) as err:
        execute(ffv1_bgra, out, "identity", EncodeSettings(codec=codec))
    msg = str(err.value)
    assert "\n" not in msg and str(out) in msg and says in msg
    assert "ffv1 (.mkv)" in msg or "write it to .mkv" in msg
    assert list(tmp_path.iterdir()) == [], "nothing left behind"


def test_an_opaque_pixel_format_drops_alpha_on_request(ffv1_bgra, tmp_path):
    out = tmp_path / "flat.mp4"
    execute(
        ffv1_bgra, out, "identity", EncodeSettings(codec="libx264", pix_fmt="yuv444p", preset="ultrafast")
    )
    info = probe(out)
    assert not info.has_alpha and info.pix_fmt == "yuv444p"


# -- the chunked path -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_bgra(media: Path) -> Path:
    """24 frames of FFV1 bgra, every frame a keyframe, so a job can cut it anywhere."""
    return write_pyav(media / "long_bgra.mkv", "ffv1", "bgra", {"g": "1"}, frames=24)


def _job(src: Path, out: Path, settings: EncodeSettings) -> int:
    """Run identity as a chunked job; the number of chunks it was cut into."""
    job_dir = out.with_name(out.name + ".job")
    spec = JobSpec(src, out, Recipe.parse("identity"), settings)
    run_job(spec, JobOptions(job_dir=job_dir, chunk_seconds=0.25, workers=1, keep_chunks=True))
    return len(json.loads((job_dir / "manifest.json").read_text())["chunks"])


def test_chunked_runs_keep_alpha(long_bgra, tmp_path):
    ffv1 = tmp_path / "chunked.mkv"
    assert _job(long_bgra, ffv1, EncodeSettings(codec="ffv1")) >= 3
    with av.open(str(long_bgra)) as a, av.open(str(ffv1)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
    assert len(pairs) == 24
    assert all(np.array_equal(x.to_ndarray(), y.to_ndarray()) for x, y in pairs)  # bgra, bit-exact
    vp9 = tmp_path / "chunked.webm"
    assert _job(long_bgra, vp9, EncodeSettings(codec="vp9", crf=10, preset="8", options={"g": "4"})) >= 3
    info = probe(vp9)
    assert info.has_alpha and info.pix_fmt == "yuva420p" and info.frame_count == 24
    frames = read_frames(vp9)
    assert all(f.alpha is not None for f in frames)
    assert min(psnr(f.alpha, rgba(i)[1]) for i, f in enumerate(frames)) > 35


def test_span_of_vp9_alpha_keeps_alpha(vp9, tmp_path):
    span = tmp_path / "span.nut"  # the name a worker gives it; the content is Matroska
    span.write_bytes(extract_span(vp9, Fraction(0), Fraction(4, 30)))
    info = probe(span)
    assert info.has_alpha and info.frame_count >= 4
    assert all(f.alpha is not None for f in read_frames(span))
