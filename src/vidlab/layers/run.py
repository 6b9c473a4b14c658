"""The staged layers pipeline: a folder per stage under the output folder, each with a
``stage.json`` (its config hash and its inputs' hashes), reused when they match, redone when
its config or anything upstream changed, and written atomically (a work folder, then rename).

The per-frame stages (segment, refine, temporal) are recipes run through
:func:`vidlab.pipeline.entry.execute`, each reading the previous stage's RGBA layer
(``layer.mkv``, FFV1 BGRA: lossless), so chunking, events and cancellation come from there."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidlab.core.errors import MediaError, UsageError
from vidlab.core.events import CancelToken, Event, EventCallback
from vidlab.core.fsutil import write_atomic
from vidlab.layers.config import MATTE_STAGES, STAGES, LayersConfig

__all__ = ["LayersResult", "StageEvents", "checker", "input_identity", "run_layers"]

StageEvents = Callable[[str], AbstractContextManager[EventCallback | None]]
LAYER = "layer.mkv"
LAYER_FORMATS = ("mkv", "mov", "webm")
_LAYER_SETTINGS = {"codec": "ffv1", "pix_fmt": "bgra"}


@dataclass
class LayersResult:
    """What a run did: per stage ``ran`` or ``reused``, and the report's path."""

    outdir: Path
    status: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        return self.outdir / "report.json"


def input_identity(path: Path) -> dict[str, Any]:
    """The input video's identity: its resolved path, size and content sha256."""
    if not path.is_file():
        raise MediaError("no such file", path)
    from vidlab.ml.session import sha256_file

    return {"path": str(path.resolve()), "size": path.stat().st_size, "sha256": sha256_file(path)}


def _enabled_matte(config: LayersConfig) -> list[str]:
    return [s for s in MATTE_STAGES if config.stage(s).enabled]


def _upstream(name: str, config: LayersConfig) -> list[str]:
    mattes = _enabled_matte(config)
    if name in MATTE_STAGES:
        if name not in mattes:
            return []  # disabled: never runs
        i = mattes.index(name)
        return mattes[i - 1 : i] if i > 0 else []
    if name == "inpaint":
        return mattes[-1:]
    return []


def _hashes(config: LayersConfig, identity: dict[str, Any]) -> dict[str, str]:
    """Every stage's expected hash: its config, the input and the upstream hashes."""
    out: dict[str, str] = {}
    for name in STAGES:
        cfg = config.stage(name)
        ups = {u: out[u] for u in _upstream(name, config)}
        text = json.dumps(
            {"config": cfg.digest(), "input": identity["sha256"], "upstream": ups}, sort_keys=True
        )
        out[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def _read_stage(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "stage.json").read_text())
    except (OSError, ValueError):
        return None
    if not all((folder / o).exists() for o in data.get("outputs", [])):
        return None
    return data if isinstance(data, dict) else None


def _emit(cb: EventCallback | None, name: str, done: int, total: int | None, t0: float) -> None:
    if cb is None:
        return
    el = time.perf_counter() - t0
    fps = done / el if el > 0 else 0.0
    eta = (total - done) / fps if total and fps > 0 else None
    state = "done" if total is not None and done >= total else "running"
    cb(Event("job", state, name, frames_done=done, frames_total=total, fps=fps, eta=eta, elapsed=el))


def checker(h: int, w: int, cell: int = 16) -> np.ndarray:
    """A light/dark gray checkerboard (RGB ``uint8``) to show transparency over."""
    ys, xs = np.indices((h, w))
    board = ((ys // cell + xs // cell) % 2).astype(np.uint8)
    return np.where(board[..., None] > 0, np.uint8(200), np.uint8(120)).repeat(3, axis=2)


def over_checker(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] * np.float32(1 / 255)
    bg = checker(*rgb.shape[:2]).astype(np.float32)
    return np.clip(rgb * a + bg * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def _lama_fill(plates: np.ndarray, unseen: np.ndarray, model: str, output_range: str) -> np.ndarray:
    """The clean plates with their never-seen pixels filled by a LaMa-layout ONNX; a plate
    shared by consecutive frames (the same median window) is filled once."""
    from vidlab.ml.lama import LamaInpainter

    lama = LamaInpainter(model, output_range=output_range)
    out = plates.copy()
    for i in range(len(plates)):
        if not unseen[i].any():
            continue
        same = i > 0 and np.array_equal(unseen[i], unseen[i - 1]) and np.array_equal(plates[i], plates[i - 1])
        out[i] = out[i - 1] if same else lama.fill(plates[i], unseen[i])
    return out


def _png(path: Path, image: np.ndarray) -> None:
    """A stage's PNG (gray, RGB or RGBA), at zlib level 1: fast, as these are many."""
    from vidlab.io.images import write_png

    write_png(path, image, compression=1)


def _alphas(folder: Path) -> list[np.ndarray]:
    from vidlab.io.matte_clips import MatteSource

    return [a for _, a in MatteSource(folder)]


class _Runner:
    def __init__(
        self,
        input: Path,
        outdir: Path,
        config: LayersConfig,
        *,
        truth: Path | None,
        resume: bool,
        force: bool,
        events: StageEvents | None,
        cancel: CancelToken | None,
        options: Any = None,
    ) -> None:
        self.options = options
        self.input, self.outdir, self.config = input, outdir, config
        self.truth, self.resume, self.force = truth, resume, force
        self.events = events or (lambda name: nullcontext(None))
        self.cancel = cancel
        self.identity = input_identity(input)
        self.hashes = _hashes(config, self.identity)
        self._truth_cache: list[np.ndarray] | None = None

    # -- bookkeeping ----------------------------------------------------------------------------

    def valid(self, name: str) -> dict[str, Any] | None:
        data = _read_stage(self.outdir / name)
        if data is None or data.get("hash") != self.hashes[name]:
            return None
        return data

    def truth_alphas(self) -> list[np.ndarray] | None:
        if self.truth is None:
            return None
        if self._truth_cache is None:
            self._truth_cache = _alphas(self.truth)
        return self._truth_cache

    def run_stage(self, name: str) -> dict[str, Any]:
        for up in _upstream(name, self.config):
            if self.valid(up) is None:
                raise UsageError(
                    f"stage {name} needs the {up} stage's output, which is missing or out of date "
                    f"(run the {up} stage first)",
                    self.outdir / up,
                )
        work = self.outdir / ".work" / name
        if work.exists() and not self.resume:
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            with self.events(name) as cb:
                info = getattr(self, "_" + name)(work, cb)
        except BaseException:
            if not self.resume:  # nothing half-written stays; --resume keeps a chunked job's state
                shutil.rmtree(work, ignore_errors=True)
                _remove_empty(self.outdir / ".work")
            raise
        cfg = self.config.stage(name)
        info.update(
            stage=name,
            hash=self.hashes[name],
            config=cfg.to_dict(),
            inputs={
                "input": self.identity,
                "upstream": {u: self.hashes[u] for u in _upstream(name, self.config)},
            },
            seconds=round(time.perf_counter() - t0, 3),
        )
        write_atomic(work / "stage.json", json.dumps(info, indent=2).encode())
        final = self.outdir / name
        old = self.outdir / ".work" / f"{name}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            final.rename(old)
        work.rename(final)
        if old.exists():
            shutil.rmtree(old)
        return info

    # -- per-frame stages -----------------------------------------------------------------------

    def _execute(self, name: str, source: Path, work: Path, cb: EventCallback | None) -> int:
        from vidlab.io.codecs import EncodeSettings
        from vidlab.pipeline.entry import execute
        from vidlab.pipeline.recipe import Recipe

        op = self.config.stage(name).op()  # type: ignore[attr-defined]
        result = execute(
            source,
            work / LAYER,
            Recipe((op,)),
            EncodeSettings(**_LAYER_SETTINGS),
            copy_audio=False,
            options=self.options,
            on_event=cb,
            cancel=self.cancel,
            label=name,
        )
        return int(result.frames)

    def _export(self, name: str, work: Path, rgba: bool) -> tuple[list[np.ndarray], int]:
        """The stage's layer as PNG sequences: gray mattes and (``rgba``) the RGBA layer. The
        work folder is renamed into place at the end, so files need no atomic writes of their
        own; PNGs are encoded on two threads (OpenCV releases the GIL)."""
        from concurrent.futures import ThreadPoolExecutor

        from vidlab.io.reader import VideoReader

        alphas: list[np.ndarray] = []
        rgba_dir = work / "rgba"
        matte_dir = work / ("masks" if name == "segment" else "alphas")
        matte_dir.mkdir(exist_ok=True)
        if rgba:
            rgba_dir.mkdir(exist_ok=True)
        pending: list[Any] = []
        with ThreadPoolExecutor(2) as pool:
            for i, f in enumerate(VideoReader(work / LAYER)):
                a = f.alpha_u8()
                if a is None:
                    raise MediaError("the stage's layer has no alpha", work / LAYER)
                a = np.ascontiguousarray(a)
                alphas.append(a)
                pending.append(pool.submit(_png, matte_dir / f"{i:05d}.png", a))
                if rgba:
                    pending.append(pool.submit(_png, rgba_dir / f"{i:05d}.png", np.dstack([f.image, a])))
                if len(pending) > 8:
                    pending.pop(0).result()
                if self.cancel is not None:
                    self.cancel.check()
            for fut in pending:
                fut.result()
        return alphas, len(alphas)

    def _quality(self, alphas: list[np.ndarray], upstream: str | None) -> dict[str, Any]:
        from vidlab.metrics.matte import MatteErrors

        q: dict[str, Any] = {"temporal_change": _temporal_change(alphas)}
        truth = self.truth_alphas()
        if truth is not None:
            if len(truth) != len(alphas):
                raise UsageError(f"holds {len(truth)} mattes for {len(alphas)} frames", self.truth)
            e = MatteErrors()
            for p, t in zip(alphas, truth, strict=True):
                e.add(p, t)
            q["truth"] = {k: round(v, 4) for k, v in e.means().items()}
        if upstream is not None:
            up_folder = self.outdir / upstream / ("masks" if upstream == "segment" else "alphas")
            ups = _alphas(up_folder)
            q["upstream"] = upstream
            q["upstream_temporal_change"] = _temporal_change(ups)
            if truth is not None and len(ups) == len(truth):
                e = MatteErrors()
                for p, t in zip(ups, truth, strict=True):
                    e.add(p, t)
                q["upstream_truth"] = {k: round(v, 4) for k, v in e.means().items()}
        return q

    def _matte_stage(self, name: str, work: Path, cb: EventCallback | None) -> dict[str, Any]:
        ups = _upstream(name, self.config)
        source = self.outdir / ups[0] / LAYER if ups else self.input
        frames = self._execute(name, source, work, cb)
        alphas, _ = self._export(name, work, rgba=name != "segment")
        outputs = [LAYER, "masks" if name == "segment" else "alphas"] + (
            [] if name == "segment" else ["rgba"]
        )
        return {
            "frames": frames,
            "parameters": _op_parameters(self.config.stage(name).op()),  # type: ignore[attr-defined]
            "quality": self._quality(alphas, ups[0] if ups else None),
            "outputs": outputs,
        }

    def _segment(self, work: Path, cb: EventCallback | None) -> dict[str, Any]:
        return self._matte_stage("segment", work, cb)

    def _refine(self, work: Path, cb: EventCallback | None) -> dict[str, Any]:
        return self._matte_stage("refine", work, cb)

    def _temporal(self, work: Path, cb: EventCallback | None) -> dict[str, Any]:
        return self._matte_stage("temporal", work, cb)

    # -- inpaint ----------------------------------------------------------------------------------

    def _inpaint(self, work: Path, cb: EventCallback | None) -> dict[str, Any]:
        from vidlab.io.codecs import EncodeSettings
        from vidlab.io.probe import probe
        from vidlab.io.reader import VideoReader
        from vidlab.io.writer import VideoWriter
        from vidlab.vision.matting import clean_plate

        ups = _upstream("inpaint", self.config)
        if not ups:
            raise UsageError("stage inpaint needs a matte stage (segment, refine or temporal) enabled")
        up = ups[0]
        alphas = _alphas(self.outdir / up / ("masks" if up == "segment" else "alphas"))
        t0 = time.perf_counter()
        frames = [f.image for f in VideoReader(self.input)]
        if len(frames) != len(alphas):
            raise MediaError(f"decoded {len(frames)} frames but {up} has {len(alphas)} alphas", self.input)
        p = dict(self.config.inpaint.params)
        crf = float(p.pop("crf", 12))
        fill, model = p.pop("fill", "opencv"), p.pop("model", None)
        output_range = p.pop("output_range", "auto")
        plates, unseen = clean_plate(np.stack(frames), alphas, **p)
        if fill == "lama":  # never-seen pixels: the LaMa model's instead of cv2.inpaint's
            plates = _lama_fill(plates, unseen, os.path.abspath(str(model)), output_range)
        info = probe(self.input)
        with VideoWriter(
            work / "clean_plate.mp4",
            info.with_changes(has_alpha=False),
            EncodeSettings(codec="libx264", crf=crf, pix_fmt="yuv420p"),
            copy_audio=False,
        ) as writer:
            for i, plate in enumerate(plates):
                writer.write(_frame(plate, i, info.fps))
                if self.cancel is not None:
                    self.cancel.check()
                _emit(cb, "inpaint", i + 1, len(plates), t0)
        never = unseen.any(axis=0)
        _png(work / "never_seen.png", never.astype(np.uint8) * 255)
        _png(work / "plate_00000.png", plates[0])
        q: dict[str, Any] = {"never_seen_share": round(float(never.mean()), 5)}
        return {
            "frames": len(plates),
            "parameters": {"upstream": up, **self.config.inpaint.params},
            "quality": q,
            "outputs": ["clean_plate.mp4", "never_seen.png", "plate_00000.png"],
        }

    # -- annotate ---------------------------------------------------------------------------------

    def _annotate(self, work: Path, cb: EventCallback | None) -> dict[str, Any]:
        from scenedetect.detectors import ContentDetector  # PySceneDetect, as a library

        from vidlab.io.probe import probe
        from vidlab.io.reader import VideoReader

        p = self.config.annotate.params
        cuts = ContentDetector(
            threshold=float(p.get("cut_threshold", 27.0)), min_scene_len=int(p.get("min_shot_frames", 15))
        )
        k = int(p.get("palette", 5))
        every = int(p.get("sample_every", 1))
        faces, face_note = None, None
        if p.get("faces", True):
            faces, face_note = _face_detector()
        else:
            face_note = "face counting off (faces: false)"
        info = probe(self.input)
        total = int(info.frame_count or 0) or None
        fps = info.fps
        shots: list[dict[str, Any]] = []
        cur: dict[str, Any] | None = None
        prev_gray: np.ndarray | None = None
        t0 = time.perf_counter()
        n = 0
        for i, frame in enumerate(VideoReader(self.input)):
            rgb = frame.image
            g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            if cuts.process_frame(i, np.ascontiguousarray(rgb[:, :, ::-1])) or cur is None:  # BGR in
                if cur is not None:
                    shots.append(_close_shot(cur, k, fps))
                cur = {
                    "start": i,
                    "frames": 0,
                    "bright": [],
                    "motion": [],
                    "sharp": [],
                    "pixels": [],
                    "faces": [],
                }
                prev_gray = None
            cur["frames"] += 1
            if i % every == 0:
                cur["bright"].append(float(g.mean()))
                cur["sharp"].append(float(cv2.Laplacian(g, cv2.CV_64F).var()))
                small = cv2.resize(rgb, (32, 18), interpolation=cv2.INTER_AREA).reshape(-1, 3)
                cur["pixels"].append(small)
                if faces is not None:
                    cur["faces"].append(len(faces.detect(rgb)))
            if prev_gray is not None:
                cur["motion"].append(float(cv2.absdiff(g, prev_gray).mean()))
            prev_gray = g
            n = i + 1
            if self.cancel is not None:
                self.cancel.check()
            _emit(cb, "annotate", n, total, t0)
        if cur is not None:
            shots.append(_close_shot(cur, k, fps))
        doc = {
            "input": str(self.input),
            "fps": str(fps),
            "frames": n,
            "cut_detector": "PySceneDetect ContentDetector (threshold "
            f"{float(p.get('cut_threshold', 27.0)):g}, min_scene_len {int(p.get('min_shot_frames', 15))})",
            "faces_note": face_note,
            "shots": shots,
        }
        write_atomic(work / "shots.json", json.dumps(doc, indent=2).encode())
        buf = io.StringIO()
        cols = [
            "shot",
            "start",
            "end",
            "frames",
            "seconds",
            "brightness",
            "motion",
            "sharpness",
            "faces_max",
            "palette",
        ]
        w = csv.writer(buf)
        w.writerow(cols)
        for s in shots:
            w.writerow([s[c] if c != "palette" else " ".join(s[c]) for c in cols])
        write_atomic(work / "shots.csv", buf.getvalue().encode())
        return {
            "frames": n,
            "parameters": dict(p),
            "quality": {"shots": len(shots), "faces_note": face_note},
            "outputs": ["shots.json", "shots.csv"],
        }


def _op_parameters(op: Any) -> dict[str, Any]:
    """Every parameter of the stage's op (defaults included), in JSON form."""
    return {"op": op.name, "params": {p.name: p.to_json(getattr(op, p.name)) for p in op.params()}}


def _frame(image: np.ndarray, i: int, fps: Fraction) -> Any:
    from vidlab.core.frame import Frame

    return Frame(image, Fraction(i) / fps, i)


def _face_detector() -> tuple[Any, str | None]:
    from vidlab.core.errors import VidlabError

    try:
        from vidlab.ml.mediapipe import FaceDetector

        return FaceDetector(), None
    except VidlabError as exc:
        return None, f"faces not counted: {exc.message}"


def _close_shot(cur: dict[str, Any], k: int, fps: Fraction) -> dict[str, Any]:
    pixels = (
        np.concatenate(cur["pixels"]).astype(np.float32) if cur["pixels"] else np.zeros((1, 3), np.float32)
    )
    kk = max(1, min(k, len(pixels)))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)
    _, labels, centers = cv2.kmeans(pixels, kk, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    order = np.argsort(-np.bincount(labels.ravel(), minlength=kk))
    palette = ["#{:02x}{:02x}{:02x}".format(*np.clip(centers[j] + 0.5, 0, 255).astype(int)) for j in order]
    start, frames = cur["start"], cur["frames"]
    return {
        "shot": 0,
        "start": start,
        "end": start + frames - 1,
        "frames": frames,
        "seconds": round(float(frames / fps), 4),
        "brightness": round(float(np.mean(cur["bright"])), 2) if cur["bright"] else None,
        "motion": round(float(np.mean(cur["motion"])), 3) if cur["motion"] else 0.0,
        "sharpness": round(float(np.mean(cur["sharp"])), 2) if cur["sharp"] else None,
        "faces_max": max(cur["faces"]) if cur["faces"] else None,
        "palette": palette,
    }


def _remove_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _temporal_change(alphas: list[np.ndarray]) -> float:
    """Mean absolute change of the matte from frame to frame (0..255 scale): flicker, plus motion."""
    if len(alphas) < 2:
        return 0.0
    d = [float(cv2.absdiff(a, b).mean()) for a, b in zip(alphas[1:], alphas[:-1], strict=True)]
    return round(float(np.mean(d)), 4)


def _finish(
    outdir: Path, input: Path, final: str | None, plate: bool, layer_format: str, cancel: CancelToken | None
) -> list[str]:
    """Preview composite over a checkerboard (``preview.mp4``), the contact sheet and, for a
    ``layer_format`` other than ``mkv``, the final RGBA layer as ``layer.mov`` (ProRes 4444)
    or ``layer.webm`` (VP9 with alpha)."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.io.probe import probe
    from vidlab.io.reader import VideoReader
    from vidlab.io.writer import VideoWriter

    if final is None:
        return []
    info = probe(input)
    tmp = outdir / ".work" / "preview.mp4"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    # the final stage's FFV1 layer holds its RGB and alpha: one decode, faster than its PNGs
    layer = VideoReader(outdir / final / LAYER)
    total = layer.info.frame_count or 0
    picks = set(np.linspace(0, total - 1, min(4, total)).round().astype(int).tolist()) if total else set()
    kept: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    with VideoWriter(
        tmp, info.with_changes(has_alpha=False), EncodeSettings(codec="libx264", crf=18, pix_fmt="yuv420p"),
        copy_audio=False,
    ) as writer:  # fmt: skip
        for i, (f, lf) in enumerate(zip(VideoReader(input), layer, strict=False)):
            alpha = lf.alpha_u8()
            if alpha is None:
                raise MediaError("the stage's layer has no alpha", outdir / final / LAYER)
            writer.write(_frame(over_checker(lf.image, alpha), i, info.fps))
            if i in picks:
                kept[i] = (f.image, lf.image, np.ascontiguousarray(alpha))
            if cancel is not None:
                cancel.check()
    os.replace(tmp, outdir / "preview.mp4")
    plates = None
    plate_video = outdir / "inpaint" / "clean_plate.mp4"
    if plate and plate_video.is_file():
        plates = {i: f.image for i, f in enumerate(VideoReader(plate_video)) if i in picks}
    rows = []
    for i in sorted(kept):
        src, rgb, alpha = kept[i]
        cells = [src, np.repeat(alpha[..., None], 3, axis=2), over_checker(rgb, alpha)]
        if plates is not None and i in plates:
            cells.append(plates[i])
        rows.append(np.hstack(cells))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    from vidlab.io.images import write_png

    write_png(outdir / "contact_sheet.png", sheet)
    made = ["preview.mp4", "contact_sheet.png"]
    if layer_format != "mkv":
        from vidlab.io.alpha import alpha_encoder_for
        from vidlab.pipeline.entry import execute

        target = outdir / f"layer.{layer_format}"
        execute(
            outdir / final / LAYER, target, "identity", EncodeSettings(codec=alpha_encoder_for(target)),
            copy_audio=False, cancel=cancel, label="layer",
        )  # fmt: skip
        made.append(target.name)
    return made


def run_layers(
    input: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    config: LayersConfig | None = None,
    *,
    stages: list[str] | None = None,
    truth: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    layer_format: str = "mkv",
    options: Any = None,
    events: StageEvents | None = None,
    cancel: CancelToken | None = None,
) -> LayersResult:
    """Run the layers pipeline on ``input`` into ``outdir``. ``stages`` (default: every enabled
    one) are run in pipeline order; a stage whose ``stage.json`` hash matches is reused unless
    ``force``; one that runs needs its upstream outputs valid. ``resume`` keeps an interrupted
    stage's work folder so a chunked ``execute`` resumes it. ``truth`` is a folder of true
    alpha PNGs for MAD/Grad/... figures. ``events(stage)`` gives each stage's event callback
    (a context manager: the CLI draws one bar per stage). The final RGBA layer is always the
    last matte stage's ``layer.mkv`` (FFV1); ``layer_format`` ``mov`` or ``webm`` adds
    ``layer.mov`` (ProRes 4444) or ``layer.webm`` (VP9 alpha) beside the report. ``options``
    (:class:`vidlab.pipeline.job.JobOptions`) go to every per-frame stage's ``execute``: chunks
    and workers."""
    cfg = config or LayersConfig().check()
    src, out = Path(input).absolute(), Path(outdir).absolute()
    if layer_format not in LAYER_FORMATS:
        raise UsageError(
            f"layer_format must be one of {', '.join(LAYER_FORMATS)}, got {layer_format!r}",
            param="layer_format",
        )
    wanted = list(stages) if stages else [s for s in STAGES if cfg.stage(s).enabled]
    for s in wanted:
        if s not in STAGES:
            raise UsageError(f"unknown stage {s!r} (stages: {', '.join(STAGES)})", param="stages")
        if not cfg.stage(s).enabled:
            raise UsageError(f"stage {s} is disabled in the config", param="stages")
    runner = _Runner(
        src, out, cfg, truth=Path(truth) if truth else None, resume=resume, force=force,
        events=events, cancel=cancel, options=options,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    result = LayersResult(out)
    ran = False
    for name in STAGES:
        if name not in wanted:
            continue
        if not force and runner.valid(name) is not None:
            result.status[name] = "reused"
            continue
        runner.run_stage(name)
        result.status[name] = "ran"
        ran = True
    mattes = [s for s in _enabled_matte(cfg) if runner.valid(s) is not None]
    final = mattes[-1] if mattes else None
    extras: list[str] = []
    missing = not (out / "contact_sheet.png").exists() or (
        layer_format != "mkv" and not (out / f"layer.{layer_format}").exists()
    )
    if final is not None and (ran or missing):
        extras = _finish(out, src, final, runner.valid("inpaint") is not None, layer_format, cancel)
    report: dict[str, Any] = {"input": runner.identity, "final_matte": final, "stages": {}}
    for name in STAGES:
        data = runner.valid(name)
        if data is None:
            continue
        entry = {k: data.get(k) for k in ("hash", "seconds", "frames", "parameters", "quality", "outputs")}
        entry["status"] = result.status.get(name, "kept")
        report["stages"][name] = entry
    if final is not None:
        report["layer_video"] = f"{final}/{LAYER}"
        report["rgba_sequence"] = f"{final}/rgba" if final != "segment" else None
        report["extras"] = extras or ["preview.mp4", "contact_sheet.png"] + (
            [f"layer.{layer_format}"] if layer_format != "mkv" else []
        )
    write_atomic(out / "report.json", json.dumps(report, indent=2).encode())
    _remove_empty(out / ".work")
    result.report = report
    return result


def iter_stage_names(text: str | None) -> Iterator[str]:
    """Stage names from a comma-separated list."""
    for part in (text or "").split(","):
        if part.strip():
            yield part.strip()
