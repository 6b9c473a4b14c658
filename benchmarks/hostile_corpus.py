"""Hostile-input corpus (issue 13): build broken and unusual inputs, run every CLI command on
each, and check that vidlab fails cleanly (one line naming the file, exit 1 for media errors and
2 for usage errors, no traceback, nothing left behind) and that valid unusual inputs come out
right (frames, fps, size, rotation, SAR, bit depth, alpha, audio tracks, subtitles).

    .venv/bin/python benchmarks/hostile_corpus.py            # full corpus, every command
    .venv/bin/python benchmarks/hostile_corpus.py --quick    # ~12 inputs, the fast commands
    .venv/bin/python benchmarks/hostile_corpus.py --only rot90,empty --commands probe,run-identity

Writes ``benchmarks/out/corpus.json`` (every call: argv, exit code, stderr, failures) and prints
a summary table. Every input is made here with the bundled ffmpeg and vidlab's own sample
generator; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidlab.io.ffmpeg import ffmpeg_exe
from vidlab.io.samples import generate

ROOT = Path(__file__).resolve().parents[1]
OUT_JSON = ROOT / "benchmarks" / "out" / "corpus.json"

# -- inputs ----------------------------------------------------------------------------------


@dataclass
class Input:
    """One corpus entry. ``kind``: ``valid`` (must work and keep what ``expect`` lists),
    ``media`` (must fail with exit 1), ``usage`` (must fail with exit 2), ``either`` (a hostile
    but maybe decodable file: exit 0 or 1, a clean error if it fails), ``path`` (not a regular
    file: exit 1 or 2)."""

    name: str
    kind: str
    path: Path
    expect: dict = field(default_factory=dict)
    quick: bool = False
    ext: str = ".mp4"  # output extension for run/interpolate
    run_args: tuple[str, ...] = ()  # extra args for run/stylize/interpolate (a codec for alpha)
    timeout: float | None = None  # a shorter per-call limit (a FIFO nobody writes to)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-threads", "1", *map(str, args)],
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _src(size: str = "160x90", rate: str = "25", frames: int = 12) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate},trim=end_frame={frames}"]


def _sine() -> list[str]:
    return ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]


_SRT = "1\n00:00:00,100 --> 00:00:00,300\nHello\n\n2\n00:00:00,300 --> 00:00:00,450\nWorld\n\n"


def _load_pack_bframes() -> Callable[[Path, Path], None] | None:
    """The packed-B-frame rewriter lives with its test; borrow it."""
    path = ROOT / "tests" / "hardening" / "test_timestamps_and_streams.py"
    if not path.exists():
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        spec = importlib.util.spec_from_file_location("_corpus_tsas", path)
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        return mod.pack_bframes
    except Exception:
        return None
    finally:
        sys.path.remove(str(ROOT / "tests"))


def _patch(data: bytes, tag: bytes, offset: int, value: bytes) -> bytes:
    i = data.find(tag)
    if i < 0:
        raise ValueError(f"{tag!r} not found")
    j = i + offset
    return data[:j] + value + data[j + len(value) :]


def build_corpus(d: Path) -> list[Input]:
    """Make every input in ``d``; returns them in a stable order."""
    d.mkdir(parents=True, exist_ok=True)
    items: list[Input] = []

    def add(name: str, kind: str, fname: str, **kw) -> Path:
        p = d / fname
        items.append(Input(name, kind, p, **kw))
        return p

    # a plain base clip, moov at the end (so truncations lose it) and one with faststart
    base = d / "_base.mp4"
    ffmpeg(*_src(frames=25), *_sine(), "-t", "1", "-c:v", "libx264", "-g", "5", "-c:a", "aac", base)
    fast = d / "_fast.mp4"
    ffmpeg("-i", base, "-c", "copy", "-movflags", "+faststart", fast)
    raw, fraw = base.read_bytes(), fast.read_bytes()

    # ---- valid baselines and unusual-but-valid inputs
    generate(
        add("plain", "valid", "plain.mp4", quick=True, expect={"audio": 1}),
        frames=12,
        size=(160, 90),
        fps=25,
        audio=True,
    )
    generate(
        add("rot90", "valid", "rot90.mp4", quick=True, expect={"rotation": 90}),
        frames=10,
        size=(160, 96),
        fps=25,
        rotation=90,
    )
    generate(
        add("sar43", "valid", "sar43.mp4", quick=True, expect={"sar": Fraction(4, 3)}),
        frames=10,
        size=(160, 96),
        fps=25,
        sar=Fraction(4, 3),
    )
    generate(
        add("vfr", "valid", "vfr.mkv", ext=".mkv", expect={"vfr": True}),
        frames=12,
        size=(160, 96),
        fps=30,
        vfr=True,
    )
    generate(
        add("ntsc", "valid", "ntsc.mp4", expect={"fps": Fraction(30000, 1001), "audio": 1}),
        frames=12,
        size=(160, 96),
        fps=Fraction(30000, 1001),
        audio=True,
    )
    generate(
        add("10bit", "valid", "tenbit.mkv", ext=".mkv", quick=True, expect={"bits": 10}),
        frames=8,
        size=(160, 96),
        fps=25,
        pix_fmt="yuv420p10le",
        crf=10,
    )
    p = add("12bit", "valid", "twelve.mkv", ext=".mkv", expect={"bits": 12}, run_args=("--codec", "ffv1"))
    ffmpeg(*_src(frames=8), "-pix_fmt", "yuv420p12le", "-c:v", "ffv1", p)
    p = add("hdr", "valid", "hdr.mkv", ext=".mkv", expect={"bits": 10, "hdr": True})
    ffmpeg(
        *_src(frames=8),
        "-pix_fmt",
        "yuv420p10le",
        "-c:v",
        "libx265",
        "-x265-params",
        "log-level=error",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
        p,
    )
    p = add(
        "alpha-ffv1",
        "valid",
        "alpha.mkv",
        ext=".mkv",
        quick=True,
        expect={"alpha": True},
        run_args=("--codec", "ffv1"),
    )
    ffmpeg(
        *_src(frames=8), "-vf", "format=rgba,geq=r='r(X,Y)':a='X*2'", "-pix_fmt", "rgba", "-c:v", "ffv1", p
    )
    p = add(
        "alpha-vp9", "valid", "alpha.webm", ext=".webm", expect={"alpha": True}, run_args=("--codec", "vp9")
    )
    ffmpeg(
        *_src(frames=8),
        "-vf",
        "format=yuva420p",
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "300k",
        "-auto-alt-ref",
        "0",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        p,
    )
    p = add(
        "prores4444", "valid", "alpha.mov", ext=".mov", expect={"alpha": True}, run_args=("--codec", "prores")
    )
    ffmpeg(*_src(frames=6), "-vf", "format=yuva444p10le", "-c:v", "prores_ks", "-profile:v", "4444", p)
    p = add("2audio", "valid", "two_audio.mkv", ext=".mkv", quick=True, expect={"audio": 2})
    ffmpeg(
        *_src(frames=12),
        *_sine(),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:sample_rate=44100",
        "-t",
        "0.48",
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        p,
    )
    (d / "_s.srt").write_text(_SRT)
    p = add("movtext", "valid", "movtext.mp4", expect={"subtitles": True, "audio": 1})
    ffmpeg(
        *_src(frames=12),
        *_sine(),
        "-i",
        d / "_s.srt",
        "-t",
        "0.48",
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-c:s",
        "mov_text",
        p,
    )
    p = add(
        "srt-attach",
        "valid",
        "subs.mkv",
        ext=".mkv",
        quick=True,
        expect={"subtitles": True, "attachments": 1},
    )
    (d / "_font.ttf").write_bytes(bytes(range(256)) * 4)
    ffmpeg(
        *_src(frames=12),
        "-i",
        d / "_s.srt",
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-c:s",
        "copy",
        "-attach",
        d / "_font.ttf",
        "-metadata:s:t",
        "mimetype=application/x-truetype-font",
        p,
    )
    p = add("interlaced", "valid", "interlaced.mkv", ext=".mkv", expect={"field_order": "tt"})
    ffmpeg(
        *_src(size="160x96", frames=12), "-vf", "setfield=tff", "-c:v", "libx264", "-flags", "+ildct+ilme", p
    )
    p = add("editlist", "valid", "editlist.mp4", expect={"frames": 15})
    full = d / "_full.mp4"
    ffmpeg(*_src(rate="30", frames=30), "-c:v", "libx264", "-g", "30", "-bf", "2", full)
    ffmpeg("-ss", "0.5", "-i", full, "-c", "copy", p)
    pack = _load_pack_bframes()
    if pack is not None:
        plain_avi = d / "_plain.avi"
        ffmpeg(
            *_src(size="160x96", rate="30", frames=30),
            "-c:v",
            "mpeg4",
            "-bf",
            "2",
            "-flags",
            "+cgop",
            "-sc_threshold",
            "1000000000",
            "-g",
            "12",
            "-q:v",
            "4",
            "-vtag",
            "XVID",
            plain_avi,
        )
        p = add("packed-b-avi", "valid", "packed.avi", ext=".mkv", expect={"frames": 30})
        pack(plain_avi, p)
    shutil.copy(d / "plain.mp4", add("unicode", "valid", "ünïcødé 名前.mp4", quick=True, expect={"audio": 1}))
    shutil.copy(d / "plain.mp4", add("spaces", "valid", "with  spaces -x.mp4", expect={"audio": 1}))
    p = add("odd-321x241", "either", "odd_321x241.mkv", ext=".mkv")
    ffmpeg(*_src(size="321x241", frames=6), "-pix_fmt", "yuv420p", "-c:v", "ffv1", p)
    for fmt in ("gray", "bgr0", "gbrp"):
        p = add(fmt, "valid", f"{fmt}.mkv", ext=".mkv", expect={"pix_fmt": fmt}, run_args=("--codec", "ffv1"))
        ffmpeg(*_src(frames=6), "-pix_fmt", fmt, "-c:v", "ffv1", p)
    # a GIF decodes as bgra (alpha), so it goes to FFV1; into .mp4 it is refused by design
    p = add("gif", "valid", "anim.gif", ext=".mkv", expect={"frames": 6}, run_args=("--codec", "ffv1"))
    ffmpeg(*_src(frames=6, rate="10"), p)
    p = add("1x1", "either", "tiny_1x1.mkv", ext=".mkv")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:size=1x1:rate=10",
        "-frames:v",
        "5",
        "-pix_fmt",
        "yuv444p",
        "-c:v",
        "ffv1",
        p,
    )
    p = add("2x2", "either", "tiny_2x2.mp4")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=2x2:rate=10",
        "-frames:v",
        "5",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        p,
    )
    p = add("nonmono-pts", "either", "nonmono.mkv", ext=".mkv")
    ffmpeg(
        *_src(frames=12),
        "-c:v",
        "libx264",
        "-bf",
        "0",
        "-bsf:v",
        r"setts=pts=if(eq(N\,6)\,PTS-2000\,PTS):dts=if(eq(N\,6)\,DTS-2000\,DTS)",
        p,
    )

    # ---- still images
    p = add("still-jpg", "either", "still.jpg")
    ffmpeg(*_src(frames=1), p)
    p = add("jpg-as-mp4", "either", "photo_jpeg.mp4")
    ffmpeg(*_src(frames=1), "-f", "image2", "-c:v", "mjpeg", p)
    p = add("png-as-jpg", "either", "photo_png.jpg")
    ffmpeg(*_src(frames=1), "-f", "image2", "-c:v", "png", p)

    # ---- broken files (media errors: exit 1)
    add("empty", "media", "empty.mp4", quick=True).write_bytes(b"")
    add("zeros", "media", "zeros.mp4").write_bytes(b"\0" * 4096)
    add("text", "media", "notes.mp4", quick=True).write_text("this is not a video\n" * 50)
    add("head-100", "media", "trunc_head.mp4").write_bytes(raw[:100])
    for pct in (25, 60, 95):
        add(f"trunc-{pct}", "media", f"trunc_{pct}.mp4", quick=False).write_bytes(
            raw[: len(raw) * pct // 100]
        )
    add("trunc-fast-50", "either", "trunc_fast_50.mp4").write_bytes(fraw[: len(fraw) // 2])
    mid = len(fraw) // 2
    add("corrupt-mid", "either", "corrupt_mid.mp4", quick=True).write_bytes(
        fraw[:mid] + bytes((i * 131 + 7) & 255 for i in range(len(fraw) // 5)) + fraw[mid + len(fraw) // 5 :]
    )
    add("no-moov", "media", "no_moov.mp4").write_bytes(raw[: raw.find(b"moov") - 4])
    # moov renamed to free: ffmpeg's demuxer still finds the movie header inside (a camera quirk)
    add("moov-as-free", "either", "moov_free.mp4").write_bytes(raw.replace(b"moov", b"free", 1))
    add("huge-size", "either", "huge_size.mp4").write_bytes(
        _patch(
            _patch(fraw, b"avc1", 28, b"\xff\xff\xff\xff"), b"tkhd", 80, b"\xff\xff\x00\x00\xff\xff\x00\x00"
        )
    )
    add("zero-fps", "either", "zero_fps.mp4").write_bytes(
        _patch(fraw, b"stts", 16, b"\x00\x00\x00\x00")  # first stts run: every sample lasts 0 ticks
    )
    p = add("audio-only", "media", "audio_only.mp4", quick=True)
    ffmpeg(*_sine(), "-t", "0.5", "-c:a", "aac", p)

    # ---- not regular files / missing (exit 1 or 2)
    add("directory", "path", "folder.mp4", quick=True).mkdir()
    p = add("fifo", "path", "pipe.mp4", timeout=20)
    os.mkfifo(p)
    add("missing", "usage", "missing.mp4", quick=True)
    p = add("symlink-loop", "path", "loop.mp4")
    os.symlink(d / "loop2.mp4", p)
    os.symlink(p, d / "loop2.mp4")
    if os.geteuid() != 0:
        p = add("unreadable", "path", "unreadable.mp4")
        shutil.copy(d / "plain.mp4", p)
        p.chmod(0)
    return items


# -- commands --------------------------------------------------------------------------------


@dataclass
class Command:
    name: str
    argv: Callable[[Input, Path], list[str]]
    outputs: Callable[[Input, Path], list[Path]]  # what a success writes (checked, then removed)
    quick: bool = False
    timeout: float = 90
    on: Callable[[Input], bool] = lambda i: True


def _out(i: Input, o: Path) -> Path:
    return o / f"out{i.ext}"


COMMANDS: list[Command] = [
    Command("probe", lambda i, o: ["probe", str(i.path)], lambda i, o: [], quick=True),
    Command("probe-json", lambda i, o: ["probe", "--json", str(i.path)], lambda i, o: [], quick=True),
    Command(
        "run-identity",
        lambda i, o: ["run", str(i.path), "-o", str(_out(i, o)), "-r", "identity", *i.run_args],
        lambda i, o: [_out(i, o)],
        quick=True,
    ),
    Command(
        "run-sharpen",
        lambda i, o: ["run", str(i.path), "-o", str(_out(i, o)), "-r", "sharpen", *i.run_args],
        lambda i, o: [_out(i, o)],
    ),
    Command(
        "stylize-pencil",
        lambda i, o: ["stylize", str(i.path), "-o", str(o / "styled"), "--style", "pencil", *i.run_args],
        lambda i, o: [o / "styled"],
        timeout=150,
    ),
    Command(
        "interpolate-2x",
        lambda i, o: ["interpolate", str(i.path), "-o", str(_out(i, o)), "--factor", "2", *i.run_args],
        lambda i, o: [_out(i, o)],
        timeout=150,
    ),
    Command("metrics", lambda i, o: ["metrics", str(i.path), str(i.path)], lambda i, o: [], quick=True),
    Command(
        "codec-test",
        lambda i, o: ["codec-test", str(i.path), "--codec", "h264", "--crf", "30", "--max-frames", "10"],
        lambda i, o: [],
    ),
    Command(
        "compare-grid",
        lambda i, o: [
            "compare",
            "--original",
            str(i.path),
            "--test",
            str(i.path),
            "--grid-png",
            "1",
            "--grid-png-path",
            str(o / "grid.png"),
            "-q",
        ],
        lambda i, o: [o / "grid.png"],
    ),
    Command(
        "key",
        lambda i, o: ["key", str(i.path), "-o", str(o / "layer.mkv")],
        lambda i, o: [o / "layer.mkv"],
        on=lambda i: (
            i.name
            in {
                "plain",
                "rot90",
                "10bit",
                "alpha-ffv1",
                "empty",
                "text",
                "audio-only",
                "unicode",
                "odd-321x241",
                "1x1",
                "directory",
                "missing",
                "corrupt-mid",
            }
        ),
    ),
]

# -- option / recipe variants: each must exit 2 with one line --------------------------------


def option_variants(c: Path, w: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, a word the line must contain). ``c`` is a valid clip, ``w`` a work folder."""
    (w / "evil.yaml").write_text("ops:\n  - !!python/object/apply:os.system ['echo pwned > pwned.txt']\n")
    (w / "huge.yaml").write_text("ops:\n" + "".join("  - identity\n" for _ in range(1000)))
    (w / "badtype.yaml").write_text("ops: 5\n")
    (w / "broken.yaml").write_text("ops: [identity\n")
    o = str(w / "o.mp4")
    s = str(c)
    return [
        ("unknown-op", ["run", s, "-o", o, "-r", "frobnicate"], "frobnicate"),
        ("unknown-param", ["run", s, "-o", o, "-r", "sharpen wibble=1"], "wibble"),
        ("param-out-of-range", ["run", s, "-o", o, "-r", "sharpen amount=-5"], "amount"),
        ("param-not-number", ["run", s, "-o", o, "-r", "sharpen amount=lots"], "amount"),
        ("bad-choice", ["run", s, "-o", o, "-r", "denoise method=magic"], "method"),
        ("workers-0", ["run", s, "-o", o, "--workers", "0"], "--workers"),
        ("chunk-seconds-neg", ["run", s, "-o", o, "--chunk-seconds", "-1"], "--chunk-seconds"),
        ("crf-99", ["run", s, "-o", o, "--crf", "99"], "--crf"),
        ("preset-bogus", ["run", s, "-o", o, "--preset", "bogus"], "--preset"),
        ("codec-bogus", ["run", s, "-o", o, "--codec", "nope"], "nope"),
        ("pix-fmt-bogus", ["run", s, "-o", o, "--pix-fmt", "yuv999"], "yuv999"),
        ("start-past-end", ["run", s, "-o", o, "--start", "99"], "--start"),
        ("start-garbage", ["run", s, "-o", o, "--start", "1:xx"], "--start"),
        ("duration-0", ["run", s, "-o", o, "--duration", "0"], "--duration"),
        ("output-is-dir", ["run", s, "-o", str(w)], w.name),
        ("output-missing-folder", ["run", s, "-o", str(w / "nope" / "o.mp4")], "nope"),
        ("output-unknown-ext", ["run", s, "-o", str(w / "o.xyz")], "o.xyz"),
        ("output-is-input", ["run", s, "-o", s], c.name),
        ("yaml-python-tag", ["run", s, "-o", o, "-r", str(w / "evil.yaml")], "evil.yaml"),
        # a long recipe is not an error: it runs (exit 0) or is refused in one line (exit 2)
        ("yaml-1000-ops", ["run", s, "-o", str(w / "long.mp4"), "-r", str(w / "huge.yaml")], "huge.yaml"),
        ("yaml-bad-type", ["run", s, "-o", o, "-r", str(w / "badtype.yaml")], "badtype.yaml"),
        ("yaml-syntax", ["run", s, "-o", o, "-r", str(w / "broken.yaml")], "broken.yaml"),
        ("interp-factor-0", ["interpolate", s, "-o", o, "--factor", "0"], "--factor"),
        ("interp-fps-neg", ["interpolate", s, "-o", o, "--fps", "-5"], "--fps"),
        ("stylize-unknown-style", ["stylize", s, "-o", str(w / "st"), "--style", "nosuch"], "nosuch"),
        ("codec-test-crf-99", ["codec-test", s, "--codec", "h264", "--crf", "99"], "--crf"),
        ("metrics-missing-dist", ["metrics", s, str(w / "absent.mp4")], "absent.mp4"),
        (
            "compare-grid-not-png",
            ["compare", "--original", s, "--test", s, "--grid-png", "1", "--grid-png-path", str(w / "g.txt")],
            "g.txt",
        ),
        ("key-bad-color", ["key", s, "-o", str(w / "k.mkv"), "--color", "#zzzzzz"], "zzzzzz"),
        ("alpha-into-h264", ["key", s, "-o", str(w / "k.mp4"), "--codec", "libx264"], "k.mp4"),
    ]


# -- running and checking --------------------------------------------------------------------


@dataclass
class Call:
    input: str
    command: str
    argv: list[str]
    rc: int | None
    seconds: float
    stderr: str
    failures: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    xfail: str | None = None


_BAD = re.compile(r"traceback|internal error", re.I)


def cli(argv: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str, float]:
    env = {k: v for k, v in os.environ.items() if k != "VIDLAB_DEBUG"}
    env.update(OMP_NUM_THREADS="1", VIDLAB_CONFIG_DIR=str(cwd / ".config"))
    t = time.monotonic()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "vidlab", *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return r.returncode, r.stdout, r.stderr, time.monotonic() - t
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, out, err, time.monotonic() - t


def _lines(text: str) -> list[str]:
    """Lines a person sees: split on newlines and carriage returns (progress bars), blank dropped."""
    return [ln for ln in re.split(r"[\r\n]+", text) if ln.strip()]


def snapshot(*folders: Path) -> set[Path]:
    seen: set[Path] = set()
    for f in folders:
        for dirpath, dirnames, filenames in os.walk(f):
            for n in dirnames + filenames:
                seen.add(Path(dirpath) / n)
    return seen


def check_error(call: Call, names: list[str], stdout: str) -> None:
    lines = _lines(call.stderr)
    if len(lines) != 1:
        call.failures.append(f"error-not-one-line ({len(lines)} lines)")
    if not any(n in call.stderr for n in names):
        call.failures.append("error-does-not-name-file")


def _streams(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        pts = [f.pts for f in frames]
        cc = v.codec_context
        return {
            "frames": len(frames),
            "pts": pts,
            "rate": v.average_rate,
            "size": (cc.width, cc.height),
            "sar": v.sample_aspect_ratio or Fraction(1),
            "rotation": int(frames[0].rotation or 0) if frames else 0,
            "pix_fmt": cc.pix_fmt or (frames[0].format.name if frames else ""),
            "bits": max(
                (c2.bits for c2 in (frames[0].format.components if frames else []) if getattr(c2, "bits", 0)),
                default=8,
            ),
            "alpha_mode": v.metadata.get("alpha_mode", v.metadata.get("ALPHA_MODE")),
            "audio": len(c.streams.audio),
            "subtitles": [s.codec_context.name for s in c.streams.subtitles],
            "attachments": len(c.streams.attachments),
            "field_order": cc.field_order if hasattr(cc, "field_order") else None,
            "primaries": getattr(frames[0], "color_primaries", None) if frames else None,
            "trc": getattr(frames[0], "color_trc", None) if frames else None,
        }


def _has_alpha(fmt: str) -> bool:
    return fmt.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")) or fmt in ("pal8",)


def check_output(call: Call, inp: Input, out: Path, command: str) -> None:
    """A valid input's output: same frame count, rate, size and what ``expect`` lists."""
    try:
        src, dst = _streams(inp.path), _streams(out)
    except Exception as e:
        call.failures.append(f"output-unreadable: {type(e).__name__}: {e}")
        return
    for info in (src, dst):  # VP9 alpha is a side channel the native decoder drops: read the tag
        info["alpha"] = _has_alpha(info["pix_fmt"]) or info["alpha_mode"] == "1"
    x = inp.expect
    want_frames = src["frames"] * (2 if command == "interpolate-2x" else 1)
    if command == "interpolate-2x":
        if abs(dst["frames"] - want_frames) > 2:
            call.failures.append(f"wrong-frame-count {dst['frames']} (want ~{want_frames})")
    elif dst["frames"] != want_frames:
        call.failures.append(f"wrong-frame-count {dst['frames']} (want {want_frames})")
    if "frames" in x and command != "interpolate-2x" and dst["frames"] != x["frames"]:
        call.failures.append(f"wrong-frame-count {dst['frames']} (a player shows {x['frames']})")
    if dst["size"] != src["size"]:
        call.failures.append(f"wrong-size {dst['size']} (want {src['size']})")
    if command != "interpolate-2x" and not x.get("vfr") and src["rate"] and dst["rate"] != src["rate"]:
        call.failures.append(f"wrong-fps {dst['rate']} (want {src['rate']})")
    if "fps" in x and command != "interpolate-2x" and dst["rate"] != x["fps"]:
        call.failures.append(f"wrong-fps {dst['rate']} (want {x['fps']})")
    if command == "interpolate-2x" and src["rate"] and not x.get("vfr") and dst["rate"] != 2 * src["rate"]:
        call.failures.append(f"wrong-fps {dst['rate']} (want {2 * src['rate']})")
    if x.get("vfr") and command != "interpolate-2x":
        ds = sorted({b - a for a, b in zip(dst["pts"], dst["pts"][1:], strict=False)})
        if len(ds) < 2:
            call.failures.append("vfr-lost (output is constant rate)")
    if dst["rotation"] != src["rotation"]:
        call.failures.append(f"rotation-lost {dst['rotation']} (want {src['rotation']})")
    if dst["sar"] != src["sar"]:
        call.failures.append(f"sar-lost {dst['sar']} (want {src['sar']})")
    if "bits" in x and dst["bits"] != x["bits"] and command.startswith("run"):
        call.failures.append(f"bit-depth-lost {dst['bits']} (want {x['bits']}, {dst['pix_fmt']})")
    if x.get("alpha") and command.startswith("run") and not dst["alpha"]:
        call.failures.append(f"alpha-lost ({dst['pix_fmt']})")
    if x.get("hdr") and (dst["primaries"], dst["trc"]) != (src["primaries"], src["trc"]):
        call.failures.append(f"hdr-tags-lost primaries/trc {dst['primaries']}/{dst['trc']}")
    if "audio" in x and dst["audio"] != x["audio"]:
        call.failures.append(f"audio-tracks {dst['audio']} (want {x['audio']})")
    if "subtitles" in x and command.startswith("run") and dst["subtitles"] != src["subtitles"]:
        call.failures.append(f"subtitles {dst['subtitles']} (want {src['subtitles']})")
    if "attachments" in x and command.startswith("run") and dst["attachments"] != x["attachments"]:
        call.failures.append(f"attachments {dst['attachments']} (want {x['attachments']})")
    if "field_order" in x and command.startswith("run") and dst["field_order"] != src["field_order"]:
        call.failures.append(f"field-order {dst['field_order']} (want {src['field_order']})")


# Known defects: (input, command) -> reason. Filled from the full run; the quick test xfails
# exactly these and nothing else.
KNOWN: dict[tuple[str, str], str] = {
    # By design, not a defect: a named pipe is a live input for run and interpolate, which wait
    # for a writer as ffmpeg does; every other command refuses it in one line (exit 2).
    ("fifo", "run-identity"): "a FIFO is a live input: run waits for its writer (by design)",
    ("fifo", "run-sharpen"): "a FIFO is a live input: run waits for its writer (by design)",
    ("fifo", "interpolate-2x"): "a FIFO is a live input: interpolate waits for its writer (by design)",
}


def run_one(inp: Input, cmd: Command, work: Path, corpus_dir: Path) -> Call:
    o = work / f"{inp.name}.{cmd.name}"
    o.mkdir(parents=True)
    argv = cmd.argv(inp, o)
    before = snapshot(corpus_dir)
    timeout = min(cmd.timeout, inp.timeout or cmd.timeout)
    rc, stdout, stderr, secs = cli(argv, o, timeout)
    call = Call(inp.name, cmd.name, argv, rc, round(secs, 2), stderr[-2000:])
    call.xfail = KNOWN.get((inp.name, cmd.name))
    text = stdout + stderr
    if rc is None:
        call.failures.append(f"timeout ({timeout:.0f} s)")
    elif rc not in (0, 1, 2):
        call.failures.append(f"exit-code-{rc}")
    if _BAD.search(text):
        call.failures.append("traceback-or-internal-error")
    outs = cmd.outputs(inp, o)
    names = [inp.path.name, str(inp.path)] + [p.name for p in outs]
    if rc is not None and rc != 0:
        check_error(call, names, stdout)
        want = {"media": {1}, "usage": {2}, "path": {1, 2}, "either": {1, 2}, "valid": set()}[inp.kind]
        if rc in (0, 1, 2) and rc not in want:
            call.failures.append(
                f"error-on-valid-input (exit {rc})" if inp.kind == "valid" else f"exit-{rc}-for-{inp.kind}"
            )
    elif rc == 0:
        if inp.kind in ("media", "usage", "path"):
            call.failures.append(f"accepted-{inp.kind}-input")
        if cmd.name == "probe-json":
            try:
                json.loads(stdout)
            except ValueError:
                call.failures.append("probe-json-not-json")
        if inp.kind == "valid" and cmd.name in ("run-identity", "run-sharpen", "interpolate-2x"):
            if outs[0].exists():
                check_output(call, inp, outs[0], cmd.name)
            else:
                call.failures.append("no-output")
    # leftovers: anything in the call's folder that is not a promised output of a success,
    # temporary files anywhere, and anything new beside the inputs
    expected = set(outs) if rc == 0 else set()
    for p in sorted(snapshot(o)):
        if ".partial" in p.name or (
            not any(p == e or e in p.parents for e in expected) and p.parts[len(o.parts)] != ".config"
        ):
            call.leftovers.append(str(p.relative_to(work)))
    for p in sorted(snapshot(corpus_dir) - before):
        call.leftovers.append(f"corpus/{p.relative_to(corpus_dir)}")
    shutil.rmtree(o, ignore_errors=True)
    return call


def run_option(name: str, argv: list[str], word: str, w: Path) -> Call:
    before = snapshot(w)
    rc, stdout, stderr, secs = cli(argv, w, 90)
    call = Call("options", name, argv, rc, round(secs, 2), stderr[-2000:])
    call.xfail = KNOWN.get(("options", name))
    ok_rc = {0, 2} if name == "yaml-1000-ops" else {2}
    if rc not in ok_rc:
        call.failures.append(f"exit-{rc}-not-2")
    if _BAD.search(stdout + stderr):
        call.failures.append("traceback-or-internal-error")
    lines = _lines(stderr)
    if rc != 0 and len(lines) != 1:
        call.failures.append(f"error-not-one-line ({len(lines)} lines)")
    if rc != 0 and word.lower() not in stderr.lower():
        call.failures.append(f"error-does-not-name {word}")
    for p in sorted(snapshot(w) - before):
        if rc == 0 and p.name == "long.mp4":
            p.unlink()
        elif p.name != ".config" and ".config" not in p.parts:
            call.leftovers.append(str(p.relative_to(w)))
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return call


def run_corpus(
    quick: bool = False,
    only: set[str] | None = None,
    commands: set[str] | None = None,
    jobs: int = 2,
    options: bool = True,
    keep: Path | None = None,
) -> dict:
    t0 = time.monotonic()
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="vidlab-corpus-"))
    corpus_dir, work = tmp / "corpus", tmp / "work"
    work.mkdir(parents=True, exist_ok=True)
    try:
        inputs = build_corpus(corpus_dir)
        built = time.monotonic() - t0
        sel = [i for i in inputs if (not quick or i.quick) and (not only or i.name in only)]
        cmds = [c for c in COMMANDS if (not quick or c.quick) and (not commands or c.name in commands)]
        tasks = [(i, c) for i in sel for c in cmds if c.on(i)]
        with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as ex:
            calls = list(ex.map(lambda t: run_one(t[0], t[1], work, corpus_dir), tasks))
        if options:
            ow = work / "options"
            ow.mkdir()
            variants = option_variants(corpus_dir / "plain.mp4", ow)
            # one at a time: they share a folder, and leftovers are what a call adds to it
            calls += [run_option(n, a, wd, ow) for n, a, wd in variants]
            if (ow / "pwned.txt").exists():
                calls[-1].failures.append("yaml-python-tag-executed")
        report = summarize(calls, inputs, sel, cmds, time.monotonic() - t0, built, quick)
        return report
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def summarize(calls: list[Call], inputs, sel, cmds, seconds: float, built: float, quick: bool) -> dict:
    failed = [c for c in calls if c.failures or c.leftovers]
    kinds: Counter[str] = Counter()
    for c in failed:
        for f in c.failures:
            kinds[re.sub(r"[ (].*", "", f)] += 1
        if c.leftovers:
            kinds["leftover"] += 1
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "quick": quick,
        "inputs_built": len(inputs),
        "inputs_run": len(sel),
        "by_kind": dict(Counter(i.kind for i in sel)),
        "commands": [c.name for c in cmds],
        "calls": len(calls),
        "passed": len(calls) - len(failed),
        "failed": len(failed),
        "unexpected_failures": sum(1 for c in failed if not c.xfail),
        "xfail_passed": [
            f"{c.input} {c.command}" for c in calls if c.xfail and not (c.failures or c.leftovers)
        ],
        "failures_by_kind": dict(kinds),
        "leftovers": sum(len(c.leftovers) for c in calls),
        "seconds": round(seconds, 1),
        "build_seconds": round(built, 1),
        "calls_detail": [asdict(c) for c in calls],
    }


def print_summary(r: dict) -> None:
    print(
        f"\nhostile corpus ({'quick' if r['quick'] else 'full'}): {r['inputs_run']} inputs "
        f"{r['by_kind']}, {len(r['commands'])} commands, {r['seconds']} s"
    )
    print(f"{'calls':>8} {'passed':>8} {'failed':>8} {'leftovers':>10}")
    print(f"{r['calls']:>8} {r['passed']:>8} {r['failed']:>8} {r['leftovers']:>10}")
    if r["failures_by_kind"]:
        print("\nfailures by kind:")
        for k, n in sorted(r["failures_by_kind"].items(), key=lambda kv: -kv[1]):
            print(f"  {n:4d}  {k}")
    bad = [c for c in r["calls_detail"] if c["failures"] or c["leftovers"]]
    if bad:
        print("\nfailed calls:")
        for c in bad:
            tag = " [known]" if c["xfail"] else ""
            err = _lines(c["stderr"])[-1][:160] if _lines(c["stderr"]) else ""
            what = "; ".join(c["failures"] + c["leftovers"])
            print(f"  {c['input']:>14} {c['command']:<22} rc={c['rc']} {what}{tag}")
            if err:
                print(f"  {'':>14} stderr: {err}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="about 12 inputs and the fast commands")
    ap.add_argument("--only", help="comma-separated input names")
    ap.add_argument("--commands", help="comma-separated command names")
    ap.add_argument("--jobs", type=int, default=2, help="calls at once (default 2)")
    ap.add_argument("--no-options", action="store_true", help="skip the option/recipe variants")
    ap.add_argument("--keep", type=Path, help="build and work in this folder and keep it")
    ap.add_argument("--json", type=Path, default=OUT_JSON, help=f"report path (default {OUT_JSON})")
    a = ap.parse_args(argv)
    r = run_corpus(
        quick=a.quick,
        only=set(a.only.split(",")) if a.only else None,
        commands=set(a.commands.split(",")) if a.commands else None,
        jobs=a.jobs,
        options=not a.no_options,
        keep=a.keep,
    )
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(r, indent=1, default=str))
    print_summary(r)
    print(f"\nreport: {a.json}")
    return 1 if r["unexpected_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
