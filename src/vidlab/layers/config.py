"""Stage configs of the layers pipeline: one dataclass per stage (back-end, parameters,
enabled), read from YAML or JSON and validated like op parameters (one line naming the bad key)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vidlab.core.errors import RecipeError, UsageError

STAGES = ("segment", "refine", "temporal", "inpaint", "annotate")
#: The per-frame stages, in order; each reads the previous one's RGBA layer.
MATTE_STAGES = ("segment", "refine", "temporal")
SEGMENT_BACKENDS = {
    "background": "segment_background",
    "chromakey": "chromakey",
    "mediapipe": "segment_person",
    "onnx": "segment_onnx",
    "rvm": "segment_rvm",
}
#: How the inpaint stage fills pixels never seen in any frame: OpenCV (``inpaint`` telea | ns)
#: or a LaMa-layout ONNX (``model``).
INPAINT_FILLS = ("opencv", "lama")


@dataclass(frozen=True)
class StageConfig:
    """What every stage has: ``enabled`` and op-like ``params``."""

    enabled: bool = True
    params: dict[str, Any] = field(default_factory=dict)

    stage = ""

    def check(self) -> None:
        """Raise :class:`RecipeError` naming the bad key."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        text = json.dumps({"stage": self.stage, **self.to_dict()}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _op(name: str, params: dict[str, Any], stage: str) -> Any:
    from vidlab.ops.registry import get_op

    try:
        return get_op(name).create(**params)
    except RecipeError as exc:
        raise RecipeError(f"layers config: {stage}: {exc.message}", exc.path, param=exc.params) from None


@dataclass(frozen=True)
class SegmentConfig(StageConfig):
    """Coarse masks: ``backend`` background | chromakey | mediapipe | onnx | rvm; ``params`` are
    the back-end op's (``segment_background``, ``chromakey``, ``segment_person``,
    ``segment_onnx``, ``segment_rvm``)."""

    backend: str = "background"
    stage = "segment"

    def check(self) -> None:
        if self.backend not in SEGMENT_BACKENDS:
            raise RecipeError(
                f"layers config: segment: backend={self.backend!r} is not one of "
                f"{', '.join(SEGMENT_BACKENDS)}"
            )
        self.op()

    def op(self) -> Any:
        params = dict(self.params)
        if self.backend in ("onnx", "rvm") and params.get("model"):
            params["model"] = os.path.abspath(str(params["model"]))
        return _op(SEGMENT_BACKENDS[self.backend], params, "segment")


@dataclass(frozen=True)
class RefineConfig(StageConfig):
    """Mask to matte: ``matte_refine``'s params (``mode`` guided | quality, ...)."""

    stage = "refine"

    def check(self) -> None:
        self.op()

    def op(self) -> Any:
        return _op("matte_refine", self.params, "refine")


@dataclass(frozen=True)
class TemporalConfig(StageConfig):
    """Flow-guided smoothing: ``matte_temporal``'s params."""

    stage = "temporal"

    def check(self) -> None:
        self.op()

    def op(self) -> Any:
        return _op("matte_temporal", self.params, "temporal")


_INPAINT_KEYS = {
    "window": int,
    "threshold": float,
    "grow": int,
    "inpaint": str,
    "inpaint_radius": float,
    "crf": float,
    "fill": str,
    "model": str,
    "output_range": str,
}
_ANNOTATE_KEYS = {
    "cut_threshold": float,
    "min_shot_frames": int,
    "palette": int,
    "faces": bool,
    "sample_every": int,
}


def _check_keys(stage: str, params: dict[str, Any], keys: dict[str, type]) -> None:
    for k, v in params.items():
        if k not in keys:
            raise RecipeError(
                f"layers config: {stage}: unknown parameter '{k}' (parameters: {', '.join(keys)})"
            )
        want = keys[k]
        ok = isinstance(v, want) and not (want is not bool and isinstance(v, bool))
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            raise RecipeError(f"layers config: {stage}: {k}={v!r} is not a {want.__name__}")


@dataclass(frozen=True)
class InpaintConfig(StageConfig):
    """Clean plate: ``window`` (frames, 0 = all), ``threshold``, ``grow``, ``inpaint`` telea|ns,
    ``inpaint_radius``, ``crf`` of the clean-plate video; ``fill`` opencv | lama with ``model``
    (a LaMa-layout .onnx) and ``output_range`` auto | unit | byte for never-seen pixels."""

    stage = "inpaint"

    def check(self) -> None:
        _check_keys("inpaint", self.params, _INPAINT_KEYS)
        if self.params.get("inpaint", "telea") not in ("telea", "ns"):
            raise RecipeError("layers config: inpaint: inpaint must be telea or ns")
        fill = self.params.get("fill", "opencv")
        if fill not in INPAINT_FILLS:
            raise RecipeError(f"layers config: inpaint: fill must be one of {', '.join(INPAINT_FILLS)}")
        if fill == "lama" and not self.params.get("model"):
            raise RecipeError("layers config: inpaint: fill=lama needs model (a LaMa-layout .onnx)")
        if self.params.get("output_range", "auto") not in ("auto", "unit", "byte"):
            raise RecipeError("layers config: inpaint: output_range must be auto, unit or byte")


@dataclass(frozen=True)
class AnnotateConfig(StageConfig):
    """Shots and per-shot statistics: ``cut_threshold`` and ``min_shot_frames`` (PySceneDetect's
    ContentDetector threshold and min_scene_len), ``palette`` (colours), ``faces``,
    ``sample_every`` (frames)."""

    stage = "annotate"

    def check(self) -> None:
        _check_keys("annotate", self.params, _ANNOTATE_KEYS)
        if int(self.params.get("palette", 5)) < 1 or int(self.params.get("sample_every", 1)) < 1:
            raise RecipeError("layers config: annotate: palette and sample_every must be >= 1")


_CLASSES: dict[str, type[StageConfig]] = {
    "segment": SegmentConfig,
    "refine": RefineConfig,
    "temporal": TemporalConfig,
    "inpaint": InpaintConfig,
    "annotate": AnnotateConfig,
}


@dataclass(frozen=True)
class LayersConfig:
    """The five stage configs."""

    segment: SegmentConfig = field(default_factory=SegmentConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    inpaint: InpaintConfig = field(default_factory=InpaintConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)

    def stage(self, name: str) -> StageConfig:
        return getattr(self, name)  # type: ignore[no-any-return]

    def check(self) -> LayersConfig:
        for name in STAGES:
            self.stage(name).check()
        return self

    @classmethod
    def from_dict(cls, data: Any) -> LayersConfig:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise RecipeError("layers config: expected a mapping of stage names")
        stages = {}
        for name, raw in data.items():
            if name not in _CLASSES:
                raise RecipeError(f"layers config: unknown stage '{name}' (stages: {', '.join(STAGES)})")
            raw = raw or {}
            if not isinstance(raw, dict):
                raise RecipeError(f"layers config: {name}: expected a mapping")
            klass = _CLASSES[name]
            allowed = {f.name for f in fields(klass)}
            for key in raw:
                if key not in allowed:
                    raise RecipeError(
                        f"layers config: {name}: unknown key '{key}' (keys: {', '.join(sorted(allowed))})"
                    )
            if not isinstance(raw.get("params", {}), dict):
                raise RecipeError(f"layers config: {name}: params must be a mapping")
            if not isinstance(raw.get("enabled", True), bool):
                raise RecipeError(f"layers config: {name}: enabled must be true or false")
            stages[name] = klass(**raw)
        return cls(**stages).check()

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> LayersConfig:
        """Read a ``.yaml``/``.yml`` (``yaml.safe_load``) or ``.json`` config; None: defaults."""
        if path is None:
            return cls().check()
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read the config: {exc.strerror or exc}", p) from None
        try:
            if p.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:
            raise RecipeError(
                f"not valid {p.suffix.lstrip('.') or 'JSON'}: {' '.join(str(exc).split())[:160]}", p
            ) from None
        try:
            return cls.from_dict(data)
        except RecipeError as exc:
            exc.set_path(p)
            raise
