"""Hardening (issue 13, items 4-7): broken timestamps, edit lists, deep pixel formats and the
streams and tags a run used to drop. Every input is made here with the bundled ffmpeg."""

from __future__ import annotations

import itertools
import logging
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import run_cli
from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.probe import probe
from vidlab.io.reader import VideoReader
from vidlab.io.segments import index_frames


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], check=True, timeout=120)


def decoded(path: Path) -> list[tuple[Fraction, np.ndarray]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(Fraction(f.pts) * s.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(s)]


# -- 4: packed B-frames ----------------------------------------------------------------------


def _vop(data: bytes, start: int = 0) -> tuple[int, int] | None:
    """Where the next MPEG-4 VOP starts and its type (0 I, 1 P, 2 B)."""
    i = data.find(b"\x00\x00\x01\xb6", start)
    return None if i < 0 or i + 4 >= len(data) else (i, data[i + 4] >> 6)


def _nvop(increment_bits: int) -> bytes:
    """A not-coded P-VOP (the placeholder a packed stream puts where its reference shows)."""
    bits = "01" + "0" + "1" + "0" * increment_bits + "1" + "0"  # type, time, marker, not coded
    bits += "0" + "1" * ((8 - (len(bits) + 1) % 8) % 8)  # stuffing to the byte
    return b"\x00\x00\x01\xb6" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def pack_bframes(src: Path, dst: Path) -> None:
    """Rewrite an MPEG-4 AVI the way DivX 5 / XviD "packed bitstream" stores B-frames: each
    reference is packed with the B-frame after it, the other B-frames follow one a chunk and an
    N-VOP holds the reference's own slot; the keyframes' headers say "DivX503b1393p"."""
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        pkts = [bytes(p) for p in c.demux(s) if p.size]
        chunks: list[tuple[bytes, bool]] = []
        i = 0
        while i < len(pkts):
            b = pkts[i]
            at, kind = _vop(b) or (0, -1)
            if kind == 0:
                b = b[:at] + b"\x00\x00\x01\xb2DivX503b1393p" + b[at:]
            nxt = _vop(pkts[i + 1]) if i + 1 < len(pkts) else None
            if kind in (0, 1) and nxt is not None and nxt[1] == 2:
                chunks.append((b + pkts[i + 1], kind == 0))
                j = i + 2
                while j < len(pkts) and (_vop(pkts[j]) or (0, -1))[1] == 2:
                    chunks.append((pkts[j], False))
                    j += 1
                chunks.append((_nvop(5), False))  # 1/30: 5 bits of time increment
                i = j
            else:
                chunks.append((b, kind == 0))
                i += 1
        with av.open(str(dst), "w") as out:
            o = out.add_stream_from_template(s)
            for n, (data, key) in enumerate(chunks):
                p = av.Packet(data)
                p.pts = p.dts = n
                p.time_base = Fraction(1, 30)
                p.is_keyframe = key
                p.stream = o
                out.mux(p)


@pytest.fixture(scope="module")
def packed_avi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """270 frames of MPEG-4 Part 2 (XVID) in AVI with packed B-frames: the decoder hands some
    frames their neighbour's pts, so ``frame.pts`` goes backwards (5, 4 ...)."""
    d = tmp_path_factory.mktemp("packed")
    plain = d / "plain.avi"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "270", "-c:v", "mpeg4",
        "-bf", "2", "-flags", "+cgop", "-sc_threshold", "1000000000", "-g", "48", "-q:v", "4",
        "-vtag", "XVID", "-threads", "1", plain,
    )  # fmt: skip
    packed = d / "packed.avi"
    pack_bframes(plain, packed)
    with av.open(str(packed)) as c:  # the fixture does reproduce the defect
        raw = [f.pts for f in c.decode(video=0)]
    assert any(b <= a for a, b in itertools.pairwise(raw)), "pts should go backwards"
    return packed


def test_packed_bframes_probe_reader_and_index_agree(packed_avi: Path) -> None:
    info = probe(packed_avi)
    assert info.frame_count == 270 and not info.is_vfr
    times = [pts for _, pts, _ in VideoReader(packed_avi).decoded()]
    assert len(times) == 270
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times == [info.start_time + Fraction(k, 30) for k in range(270)]
    index = index_frames(packed_avi)
    assert index is not None and list(index.pts) == times


def test_packed_bframes_run_matches_ffmpeg_in_one_stream_and_in_chunks(
    packed_avi: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "ffmpeg.mkv"
    ffmpeg("-i", packed_avi, "-c:v", "ffv1", ref)  # the ffmpeg CLI decodes all 270 frames
    one, chunked = tmp_path / "one.mkv", tmp_path / "chunked.mkv"
    r = run_cli("run", packed_avi, "-o", one, "--codec", "ffv1", "--chunk-seconds", "0")
    assert r.returncode == 0, r.stderr
    r = run_cli("run", packed_avi, "-o", chunked, "--codec", "ffv1", "--chunk-seconds", "3", "--workers", "2")
    assert r.returncode == 0, r.stderr
    want, a, b = decoded(ref), decoded(one), decoded(chunked)
    assert len(want) == len(a) == len(b) == 270
    for (tw, w), (ta, x), (tb, y) in zip(want, a, b, strict=True):
        assert ta == tb == tw  # Matroska's milliseconds, as ffmpeg writes them
        assert np.array_equal(x, w) and np.array_equal(y, w)
    mp4 = tmp_path / "out.mp4"
    r = run_cli("run", packed_avi, "-o", mp4, "--chunk-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert probe(mp4).frame_count == 270


def test_packed_bframes_metrics_and_codec_test_accept_it(packed_avi: Path, tmp_path: Path) -> None:
    r = run_cli("metrics", packed_avi, packed_avi)
    assert r.returncode == 0, r.stderr
    r = run_cli("codec-test", packed_avi, "--codec", "h264", "--crf", "30", "-o", tmp_path / "ct.mp4")
    assert r.returncode == 0, r.stderr


def test_writer_error_names_the_file_and_the_culprit(packed_avi: Path, tmp_path: Path) -> None:
    from vidlab.core.errors import MediaError, VidlabError
    from vidlab.core.frame import Frame
    from vidlab.io.writer import VideoWriter

    info = probe(packed_avi)
    out = tmp_path / "backwards.mp4"
    image = np.zeros((info.height, info.width, 3), np.uint8)
    with pytest.raises(VidlabError) as err, VideoWriter(out, info) as w:
        w.write(Frame(image, info.start_time + Fraction(2, 30), 0))
        w.write(Frame(image, info.start_time + Fraction(1, 30), 1))  # as a broken op would
    assert str(out) in str(err.value) and "an op produced out-of-order frames" in str(err.value)
    assert not out.exists()
    reader = VideoReader(packed_avi)
    items = []
    for item in reader.decoded():
        items.append(item)
        if len(items) == 2:
            break
    with pytest.raises(MediaError) as err, VideoWriter(out, info) as w:
        for item in reversed(items):  # the decoder's own frames, their times as the reader gave them
            w.write(reader.to_frame(item))
    assert str(out) in str(err.value) and "op" not in str(err.value).split(";")[-1]


# -- 5: edit lists ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cut_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-frame H.264 clip with a keyframe a second, stream-copied from 0.5 s: MP4 keeps the
    packets from the keyframe at 0 and trims them with its edit list (45 frames, 1.5 s)."""
    d = tmp_path_factory.mktemp("editlist")
    full, cut = d / "full.mp4", d / "cut.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "60", "-c:v", "libx264",
        "-g", "30", "-bf", "2", "-threads", "1", full,
    )  # fmt: skip
    ffmpeg("-ss", "0.5", "-i", full, "-c", "copy", cut)
    with av.open(str(cut)) as c:  # the fixture does hold trimmed packets
        assert sum(p.is_discard for p in c.demux(video=0)) == 15
    return cut


def test_edit_list_counts_the_frames_a_player_shows(cut_mp4: Path) -> None:
    with av.open(str(cut_mp4)) as c:
        s = c.streams.video[0]
        shown = [Fraction(f.pts) * s.time_base for f in c.decode(s)]
    assert len(shown) == 45
    info = probe(cut_mp4)
    assert info.frame_count == 45 and info.duration == Fraction(3, 2) and info.start_time == 0
    assert [pts for _, pts, _ in VideoReader(cut_mp4).decoded()] == shown
    index = index_frames(cut_mp4)
    assert index is not None and list(index.pts) == shown and index.keyframes == (0, 15)


def test_edit_list_run_in_one_stream_and_in_chunks(cut_mp4: Path, tmp_path: Path) -> None:
    one, chunked = tmp_path / "one.mkv", tmp_path / "chunked.mkv"
    r = run_cli("run", cut_mp4, "-o", one, "--codec", "ffv1", "--chunk-seconds", "0")
    assert r.returncode == 0, r.stderr
    r = run_cli("run", cut_mp4, "-o", chunked, "--codec", "ffv1", "--chunk-seconds", "0.5", "--workers", "2")
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "ffmpeg.mkv"
    ffmpeg("-i", cut_mp4, "-c:v", "ffv1", ref)
    want, a, b = decoded(ref), decoded(one), decoded(chunked)
    assert len(want) == len(a) == len(b) == 45
    for (tw, w), (ta, x), (tb, y) in zip(want, a, b, strict=True):
        assert ta == tb == tw and np.array_equal(x, w) and np.array_equal(y, w)
    r = run_cli("metrics", cut_mp4, one)
    assert r.returncode == 0, r.stderr


# -- 6: 12-bit -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twelve_bit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("deep") / "twelve.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "8", "-pix_fmt",
        "yuv420p12le", "-c:v", "ffv1", p,
    )  # fmt: skip
    return p


def test_choose_pix_fmt_keeps_the_depth_the_codec_can_hold(caplog: pytest.LogCaptureFixture) -> None:
    from vidlab.io import codecs
    from vidlab.io.codecs import choose_pix_fmt, supported_pix_fmts

    codecs._WARNED.clear()  # each loss is told once per process
    caplog.set_level(logging.WARNING, logger="vidlab")
    assert choose_pix_fmt("libx265", None, "yuv420p12le") == "yuv420p12le"
    assert choose_pix_fmt("ffv1", None, "yuv422p12le") == "yuv422p12le"
    assert not caplog.records
    assert "yuv420p12le" not in supported_pix_fmts("libx264")
    assert choose_pix_fmt("libx264", None, "yuv420p12le", path="a.mp4") == "yuv420p10le"
    assert choose_pix_fmt("libx264", None, "yuv444p12le") == "yuv444p10le"
    assert choose_pix_fmt("libsvtav1", None, "yuv444p12le") == "yuv420p10le"
    assert choose_pix_fmt("libx264", None, "yuv420p9le") == "yuv420p10le"  # holds every bit
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0] == "a.mp4: libx264 cannot store 12-bit video; writing yuv420p10le"
    assert warnings[2] == "libsvtav1 cannot store yuv444p12le; writing yuv420p10le"
    assert len(warnings) == 3


def test_run_keeps_12_bit_or_warns(twelve_bit: Path, tmp_path: Path) -> None:
    for codec, suffix, want in (("h265", ".mkv", "yuv420p12le"), ("ffv1", ".mkv", "yuv420p12le")):
        out = tmp_path / f"{codec}{suffix}"
        r = run_cli("run", twelve_bit, "-o", out, "--codec", codec)
        assert r.returncode == 0, r.stderr
        assert "WARNING" not in r.stderr
        assert probe(out).pix_fmt == want
    out = tmp_path / "x264.mp4"
    r = run_cli("run", twelve_bit, "-o", out)
    assert r.returncode == 0, r.stderr
    assert probe(out).pix_fmt == "yuv420p10le"
    lines = [line for line in r.stderr.splitlines() if "WARNING" in line]
    assert lines == [f"vidlab: WARNING: {out}: libx264 cannot store 12-bit video; writing yuv420p10le"]


# -- 7: subtitles, attachments, field order --------------------------------------------------

_SRT = "1\n00:00:00,100 --> 00:00:00,900\nHello\n\n2\n00:00:01,000 --> 00:00:01,800\nWorld\n\n"
_ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, \
Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Test Font,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.20,0:00:01.00,Default,,0,0,0,,Bonjour
Dialogue: 0,0:00:01.20,0:00:01.90,Default,,0,0,0,,Monde
"""


@pytest.fixture(scope="module")
def subs_mkv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of interlaced-tagged H.264 (field order bt) with AAC, SRT and ASS subtitles and a
    font attachment, in Matroska."""
    d = tmp_path_factory.mktemp("subs")
    (d / "s.srt").write_text(_SRT)
    (d / "s.ass").write_text(_ASS)
    (d / "font.ttf").write_bytes(bytes(range(256)) * 8)
    out = d / "subs.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=48000", "-i", d / "s.srt", "-i", d / "s.ass", "-t", "2",
        "-map", "0", "-map", "1", "-map", "2", "-map", "3", "-c:v", "libx264", "-g", "5",
        "-flags", "+ildct+ilme", "-c:a", "aac", "-c:s", "copy", "-attach", d / "font.ttf",
        "-metadata:s:t", "mimetype=application/x-truetype-font", out,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def movtext_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("movtext")
    (d / "s.srt").write_text(_SRT)
    out = d / "movtext.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=48000", "-i", d / "s.srt", "-t", "2", "-map", "0", "-map",
        "1", "-map", "2", "-c:v", "libx264", "-c:a", "aac", "-c:s", "mov_text", out,
    )  # fmt: skip
    return out


def _streams(path: Path) -> dict[str, object]:
    """What a run must keep: subtitle codecs, extradata and packets, attachments, field order."""
    with av.open(str(path)) as c:
        subs = c.streams.subtitles
        return {
            "subtitles": [(s.codec_context.name, s.codec_context.extradata) for s in subs],
            "packets": [
                (p.stream.index - c.streams.video[0].index, Fraction(p.pts) * p.time_base, bytes(p))
                for p in c.demux(list(subs))
                if p.size
            ],
            "attachments": [(a.name, a.mimetype, a.data) for a in c.streams.attachments],
            "field_order": c.streams.video[0].codec_context.field_order,
        }


def test_subtitles_attachments_and_field_order_kept_in_matroska(subs_mkv: Path, tmp_path: Path) -> None:
    want = _streams(subs_mkv)
    assert len(want["subtitles"]) == 2 and len(want["packets"]) == 4  # type: ignore[arg-type]
    assert len(want["attachments"]) == 1 and want["field_order"] > 1  # type: ignore[operator]
    for name, args in (("one", ["--chunk-seconds", "0"]), ("chunked", ["--chunk-seconds", "0.5"])):
        out = tmp_path / f"{name}.mkv"
        r = run_cli("run", subs_mkv, "-o", out, "-r", "sharpen", *args)
        assert r.returncode == 0, r.stderr
        assert "WARNING" not in r.stderr
        assert _streams(out) == want, name
        assert probe(out).field_order == probe(subs_mkv).field_order


def test_what_the_container_cannot_hold_is_dropped_with_one_warning(
    subs_mkv: Path, movtext_mp4: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mp4"
    r = run_cli("run", subs_mkv, "-o", out, "--chunk-seconds", "0")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "WARNING" in line]
    assert warnings == [
        f"vidlab: WARNING: {out}: the mp4 container cannot hold the field-order tag (interlaced bt); dropped",
        f"vidlab: WARNING: {out}: the mp4 container cannot hold srt subtitles (stream 2); ssa subtitles "
        "(stream 3); 1 attachment (font.ttf); dropped",
    ]
    assert _streams(out)["subtitles"] == []
    # mov_text stays in MP4, and is named when Matroska cannot take it
    out = tmp_path / "movtext.mp4"
    r = run_cli("run", movtext_mp4, "-o", out, "--chunk-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr
    ref = tmp_path / "copy.mp4"
    ffmpeg("-i", movtext_mp4, "-map", "0", "-c", "copy", ref)  # movenc adds a btrt box to extradata
    got, want = _streams(out), _streams(ref)
    assert got["subtitles"] == want["subtitles"] and got["packets"] == want["packets"]
    assert len(got["packets"]) == 4  # type: ignore[arg-type]  # two cues and two gaps
    out = tmp_path / "movtext.mkv"
    r = run_cli("run", movtext_mp4, "-o", out, "--chunk-seconds", "0")
    assert r.returncode == 0, r.stderr
    assert f"{out}: the matroska container cannot hold mov_text subtitles (stream 2); dropped" in r.stderr
