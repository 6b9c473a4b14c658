"""Auto-tuning: search an op's parameters with Optuna for the best score of an objective built
from vidlab's metrics.

The search space is the op's own ``ParamSpec`` schema: numeric parameters with both bounds
become int/float distributions, choices and bools categorical ones (file, text and fraction
parameters, and the few that only change speed or randomness, :data:`NOT_TUNED`, are held at
their defaults unless ``space`` names them). The input's first ``frames`` frames are decoded
once and kept in memory; every trial runs the op over them through
:meth:`Recipe.process <vidlab.pipeline.recipe.Recipe.process>` and scores the result.

**Objectives** (:data:`OBJECTIVES`) combine with weights, ``"psnr+0.5*stability"``. So that
terms of different units can be added, each term's raw value is mapped to a *score* on a
comparable scale where higher is better (about 0..1 over the useful range):

=========  ==============================================  ==================================
term       raw value                                       score
=========  ==============================================  ==================================
psnr       mean PSNR (dB) vs the reference, RGB            ``min(dB, 60) / 60``
ssim       mean SSIM vs the reference, luma                ``ssim``
vmaf       mean VMAF vs the reference (libvmaf, ffmpeg)    ``vmaf / 100``
stability  E_warp of the output (lower is steadier)        ``1 - log10(1e-6 + E) / -6`` → 0..1
sharpness  mean variance of the Laplacian of the output    ``log10(1 + var) / 4``
rating     predicted stars from the user's ratings (1..5)  ``(stars - 1) / 4``
=========  ==============================================  ==================================

(stability's score is ``log10(E + 1e-6) / -6`` clipped to 0..1: 1e-6 scores 1, 1e-3 0.5, 1
scores 0.) The objective's value is the weighted sum of the scores and is maximised.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import UsageError, VidlabError
from vidlab.core.events import CancelToken
from vidlab.core.frame import Frame

log = logging.getLogger(__name__)

#: Parameters left out of the default search space (they change speed, devices or randomness,
#: not the look); name them in ``space`` to tune them anyway.
NOT_TUNED = frozenset({"seed", "paper_seed", "device", "threads", "tile", "overlap", "flow_width",
                       "via_rgb"})  # fmt: skip

MIN_RATINGS = 3


@dataclasses.dataclass(frozen=True)
class Objective:
    """One term: its name, whether it compares against a reference, the direction of its raw
    value (``maximize``/``minimize``), and ``score`` mapping a raw value to higher-is-better
    on about 0..1 (see the module)."""

    name: str
    needs_reference: bool
    direction: str
    help: str
    score: Callable[[float], float]


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("psnr", True, "maximize", "PSNR (dB) against the reference",
                  lambda v: min(v, 60.0) / 60.0),
        Objective("ssim", True, "maximize", "SSIM (luma) against the reference", lambda v: v),
        Objective("vmaf", True, "maximize", "VMAF against the reference (libvmaf)", lambda v: v / 100.0),
        Objective("stability", False, "minimize", "E_warp of the output (lower is steadier)",
                  lambda v: _clip01(math.log10(max(v, 0.0) + 1e-6) / -6.0)),
        Objective("sharpness", False, "maximize", "variance of the Laplacian of the output",
                  lambda v: math.log10(1.0 + max(v, 0.0)) / 4.0),
        Objective("rating", False, "maximize", "stars predicted from your stored ratings of the op",
                  lambda v: (v - 1.0) / 4.0),
    )
}  # fmt: skip

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_TERM = re.compile(
    rf"\s*(?P<sign>[+-])?\s*(?:(?P<w1>{_NUM})\s*\*\s*)?(?P<name>[a-z_]\w*)(?:\s*\*\s*(?P<w2>{_NUM}))?\s*"
)


def parse_objective(text: str) -> list[tuple[float, Objective]]:
    """``"psnr+0.5*stability"`` as ``[(1.0, psnr), (0.5, stability)]``; a term may be
    subtracted (``-0.2*sharpness``) and its weight written before or after it. A bad text is
    a one-line :class:`UsageError`."""
    source = (text or "").strip().lower()
    if not source:
        raise UsageError(f"empty objective (terms: {', '.join(OBJECTIVES)})", param="objective")
    terms: list[tuple[float, Objective]] = []
    pos = 0
    while pos < len(source):
        m = _TERM.match(source, pos)
        if m is None or m.end() == pos or (terms and not m["sign"]):
            raise UsageError(
                f"objective '{text}': cannot read '{source[pos:].strip()}' "
                "(write TERM, WEIGHT*TERM, joined by + or -)",
                param="objective",
            )
        name = m["name"]
        if name not in OBJECTIVES:
            raise UsageError(
                f"objective '{text}': unknown term '{name}' (terms: {', '.join(OBJECTIVES)})",
                param="objective",
            )
        if any(o.name == name for _, o in terms):
            raise UsageError(f"objective '{text}': '{name}' appears twice", param="objective")
        if m["w1"] and m["w2"]:
            raise UsageError(f"objective '{text}': '{name}' has two weights", param="objective")
        weight = float(m["w1"] or m["w2"] or 1.0) * (-1.0 if m["sign"] == "-" else 1.0)
        terms.append((weight, OBJECTIVES[name]))
        pos = m.end()
    return terms


def needs_reference(objective: str) -> bool:
    """Whether any term of ``objective`` compares against a reference video."""
    return any(o.needs_reference for _, o in parse_objective(objective))


# -- search space -------------------------------------------------------------------------------


def search_space(op: str, space: dict[str, Any] | list[str] | None = None, fixed: dict | None = None) -> dict:
    """The op's tunable params as ``{name: spec dict}`` (see :meth:`ParamSpec.to_dict`), limited
    to ``space`` keys when given (a mapping may narrow ``min``/``max``/``choices``), minus
    ``fixed``. A key that cannot be tuned is a one-line error."""
    from vidlab.ops.registry import get_op

    try:
        specs = {p["name"]: p for p in get_op(op).describe()["params"]}
    except VidlabError as exc:
        raise UsageError(exc.message, param="op") from None
    fixed = fixed or {}
    bad = set(fixed) - set(specs)
    if bad:
        raise UsageError(f"op '{op}' has no parameter(s) {', '.join(sorted(bad))}", param="fixed")
    overrides: dict[str, Any] = {}
    if space:
        names = list(space)
        overrides = dict(space) if isinstance(space, dict) else {}
        bad = set(names) - set(specs)
        if bad:
            raise UsageError(
                f"op '{op}' has no parameter(s) {', '.join(sorted(bad))} (parameters: {', '.join(specs)})",
                param="space",
            )
    else:
        names = [n for n in specs if n not in NOT_TUNED]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in fixed:
            continue
        spec = dict(specs[name])
        extra = overrides.get(name)
        if isinstance(extra, dict):
            spec.update({k: v for k, v in extra.items() if k in ("min", "max", "choices")})
        if not _tunable(spec):
            if space:
                raise UsageError(
                    f"op '{op}': parameter '{name}' ({spec['type']}) cannot be tuned "
                    "(numbers need a min and a max; choices and bools can)",
                    param="space",
                )
            continue
        out[name] = spec
    if not out:
        raise UsageError(f"op '{op}' has no parameter left to tune", param="space")
    return out


def coerce_fixed(op: str, fixed: dict[str, Any] | None) -> dict[str, Any]:
    """Held params (often strings from a command line) in their JSON form, checked against the
    op's schema (a bad value is a one-line error naming ``fixed``)."""
    from vidlab.ops.registry import get_op

    cls = get_op(op)
    specs = {p.name: p for p in cls.params()}
    try:
        op_obj = cls.create(**(fixed or {}))
        return {k: specs[k].to_json(getattr(op_obj, k)) for k in fixed or {}}
    except VidlabError as exc:
        raise UsageError(exc.message, exc.path, param="fixed") from None


def _tunable(spec: dict[str, Any]) -> bool:
    if spec["choices"] or spec["type"] == "bool":
        return True
    return (
        spec["type"] in ("int", "float")
        and spec["min"] is not None
        and spec["max"] is not None
        and (spec["max"] > spec["min"])
    )


def _suggest(trial: Any, name: str, spec: dict[str, Any]) -> Any:
    if spec["choices"]:
        return trial.suggest_categorical(name, list(spec["choices"]))
    if spec["type"] == "bool":
        return trial.suggest_categorical(name, [False, True])
    if spec["type"] == "int":
        return trial.suggest_int(name, math.ceil(spec["min"]), math.floor(spec["max"]))
    return trial.suggest_float(name, float(spec["min"]), float(spec["max"]))


def _distribution(spec: dict[str, Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if spec["choices"]:
        return CategoricalDistribution(list(spec["choices"]))
    if spec["type"] == "bool":
        return CategoricalDistribution([False, True])
    if spec["type"] == "int":
        return IntDistribution(math.ceil(spec["min"]), math.floor(spec["max"]))
    return FloatDistribution(float(spec["min"]), float(spec["max"]))


# -- the ratings model --------------------------------------------------------------------------


class RatingModel:
    """Predicts stars for a parameter set from rated ones: a Gaussian-kernel weighted average
    of the ratings (Nadaraya-Watson, a smooth kNN), in a space where every numeric param is
    scaled to 0..1 by its bounds and a categorical one counts 0 (same) or 1 (different).
    ``bandwidth`` is in that unit space; far from every rating the prediction tends to the
    mean. Fewer than :data:`MIN_RATINGS` ratings is refused."""

    def __init__(self, op: str, ratings: list[dict[str, Any]], space: dict[str, dict], *,
                 bandwidth: float = 0.2) -> None:  # fmt: skip
        from vidlab.ops.registry import get_op

        usable = [r for r in ratings if isinstance(r.get("stars"), int | float)]
        if len(usable) < MIN_RATINGS:
            raise UsageError(
                f"objective 'rating' needs at least {MIN_RATINGS} stored ratings of op '{op}' "
                f"(there are {len(usable)})",
                param="objective",
            )
        self.space = space
        self.defaults = {p["name"]: p["default"] for p in get_op(op).describe()["params"]}
        self.bandwidth = bandwidth
        self.points = [{**self.defaults, **(r.get("params") or {})} for r in usable]
        self.stars = np.array([float(r["stars"]) for r in usable])

    def _distance(self, a: dict[str, Any], b: dict[str, Any]) -> float:
        total = 0.0
        for name, spec in self.space.items():
            x, y = a.get(name, self.defaults.get(name)), b.get(name, self.defaults.get(name))
            if spec["choices"] or spec["type"] == "bool":
                total += 0.0 if x == y else 1.0
            else:
                try:
                    span = float(spec["max"]) - float(spec["min"])
                    total += ((float(x) - float(y)) / span) ** 2
                except (TypeError, ValueError):
                    total += 1.0
        return math.sqrt(total)

    def predict(self, params: dict[str, Any]) -> float:
        d = np.array([self._distance(params, p) for p in self.points])
        w = np.exp(-0.5 * (d / self.bandwidth) ** 2)
        prior = 1e-3  # a little weight on the mean keeps far-away predictions finite
        return float((w @ self.stars + prior * self.stars.mean()) / (w.sum() + prior))


# -- measuring ----------------------------------------------------------------------------------


def _luma(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _match(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``out`` at the reference's size (an op that resizes is still comparable)."""
    if out.shape[:2] == ref.shape[:2]:
        return out
    import cv2

    return cv2.resize(out, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)


def _psnr(outs: list[np.ndarray], refs: list[np.ndarray]) -> float:
    from vidlab.metrics.image import psnr

    values = [min(psnr(r, _match(o, r)), 100.0) for o, r in zip(outs, refs, strict=False)]
    return float(np.mean(values))


def _ssim(outs: list[np.ndarray], refs: list[np.ndarray]) -> float:
    from skimage.metrics import structural_similarity

    values = [
        structural_similarity(_luma(r), _luma(_match(o, r)), data_range=255)
        for o, r in zip(outs, refs, strict=False)
    ]
    return float(np.mean(values))


def _vmaf(out_frames: list[Frame], reference: Path, info: Any) -> float:
    """Mean VMAF of the output frames (encoded losslessly to a temporary file) against the
    reference file's first frames, through the metrics' libvmaf pass."""
    from vidlab.io.codecs import EncodeSettings
    from vidlab.io.writer import VideoWriter
    from vidlab.metrics.quality import quality

    h, w = out_frames[0].image.shape[:2]
    with tempfile.TemporaryDirectory(prefix="vidlab-tune-") as tmp:
        path = Path(tmp) / "trial.mkv"
        out_info = dataclasses.replace(info, width=w, height=h, has_alpha=False)
        settings = EncodeSettings(codec="libx264", crf=0, preset="ultrafast", pix_fmt="yuv444p")
        with VideoWriter(path, out_info, settings, copy_audio=False) as writer:
            for f in out_frames:
                writer.write(Frame(f.image, f.pts, f.index) if f.planes else f)
        report = quality(reference, path, psnr=False, ssim=False, vmaf=True, max_frames=len(out_frames))
    values = [row["vmaf"] for row in report.vmaf if "vmaf" in row]
    if not values:
        raise VidlabError("VMAF gave no values", reference)
    return float(np.mean(values))


@dataclasses.dataclass
class TuneResult:
    """The outcome: the best params (fixed ones included) and value, and every trial as a
    dict ``{number, params, value, terms: {name: raw}, scores: {name: score}, seconds,
    state, error}``."""

    op: str
    objective: str
    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _decode(path: Path, frames: int) -> tuple[list[Frame], Any]:
    from vidlab.io.reader import VideoReader

    reader = VideoReader(path)
    decoded = list(islice(iter(reader), frames))
    if not decoded:
        raise UsageError("no frames could be decoded", path, param="input")
    return decoded, reader.info


def tune(
    input: Path,
    op: str,
    objective: str,
    *,
    trials: int = 20,
    reference: Path | None = None,
    fixed: dict | None = None,
    space: dict | None = None,
    frames: int = 24,
    seed: int = 0,
    ratings: list[dict] | None = None,
    on_trial: Callable[[dict], None] | None = None,
    cancel: CancelToken | None = None,
    history: list[dict] | None = None,
) -> TuneResult:
    """Search ``op``'s parameters for the highest ``objective`` on ``input``'s first ``frames``
    frames with a seeded TPE sampler (the same seed gives the same trials). ``on_trial`` gets
    each finished trial's dict; ``cancel`` stops between trials (and within one, at a frame)
    by raising :class:`~vidlab.core.events.Cancelled`. ``ratings`` are the stored ratings of
    the op (``Store.ratings(target=op)``), needed by the ``rating`` term. ``history``, the
    trials of an earlier, stopped run of the same search, is replayed into the study and
    counts toward ``trials``, so a paused tuning job resumes where it stopped."""
    import optuna

    from vidlab.ops.registry import get_op
    from vidlab.pipeline.recipe import Recipe

    terms = parse_objective(objective)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UsageError(f"trials must be >= 1, got {trials!r}", param="trials")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise UsageError(f"frames must be >= 2, got {frames!r}", param="frames")
    fixed = dict(fixed or {})
    dims = search_space(op, space, fixed)
    op_cls = get_op(op)
    fixed = coerce_fixed(op, fixed)
    names = {o.name for _, o in terms}
    if any(o.needs_reference for _, o in terms) and reference is None:
        need = ", ".join(o.name for _, o in terms if o.needs_reference)
        raise UsageError(f"objective '{objective}' ({need}) needs a reference video", param="reference")
    model = RatingModel(op, list(ratings or []), dims) if "rating" in names else None
    source, info = _decode(Path(input), frames)
    inputs = [f.image for f in source]
    refs: list[np.ndarray] = []
    if reference is not None and names & {"psnr", "ssim"}:
        refs = [f.image for f in _decode(Path(reference), len(source))[0]]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    done: list[dict[str, Any]] = []
    for old in (history or [])[:trials]:
        done.append(dict(old))
        values = {k: v for k, v in (old.get("params") or {}).items() if k in dims}
        if old.get("value") is None or set(values) != set(dims):
            continue
        try:
            dists = {k: _distribution(dims[k]) for k in dims}
            study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=old["value"]))
        except (ValueError, TypeError):  # a point outside today's space: kept, not learnt from
            log.info("tune %s: trial %s of the earlier run is outside the space", op, old.get("number"))
    for number in range(len(done), trials):
        if cancel is not None:
            cancel.check()
        trial = study.ask()
        params = {name: _suggest(trial, name, spec) for name, spec in dims.items()}
        full = {**fixed, **params}
        started = time.perf_counter()
        record: dict[str, Any] = {
            "number": number, "params": full, "value": None, "terms": {}, "scores": {},
            "seconds": 0.0, "state": "complete", "error": None,
        }  # fmt: skip
        try:
            recipe = Recipe((op_cls.create(**full),)).bind(info)
            out_frames = []
            for f in recipe.process(iter(source)):
                if cancel is not None:
                    cancel.check()
                out_frames.append(f)
            if not out_frames:
                raise VidlabError(f"op '{op}' gave no frames")
            outs = [f.image for f in out_frames]
            raw: dict[str, float] = {}
            for _, term in terms:
                if term.name == "psnr":
                    raw["psnr"] = _psnr(outs, refs)
                elif term.name == "ssim":
                    raw["ssim"] = _ssim(outs, refs)
                elif term.name == "vmaf":
                    assert reference is not None
                    raw["vmaf"] = _vmaf(out_frames, Path(reference), info)
                elif term.name == "stability":
                    from vidlab.metrics.temporal import e_warp

                    n = min(len(outs), len(inputs))
                    raw["stability"] = float(e_warp(outs[:n], inputs[:n]))
                elif term.name == "sharpness":
                    from vidlab.metrics.image import sharpness

                    raw["sharpness"] = float(np.mean([sharpness(o) for o in outs]))
                elif term.name == "rating":
                    assert model is not None
                    raw["rating"] = model.predict(full)
            scores = {t.name: float(t.score(raw[t.name])) for _, t in terms}
            value = float(sum(w * scores[t.name] for w, t in terms))
            if not math.isfinite(value):
                raise VidlabError(f"objective is not finite ({value})")
            record.update(value=value, terms=raw, scores=scores)
            study.tell(trial, value)
        except VidlabError as exc:
            if type(exc).__name__ == "Cancelled":
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            record.update(state="failed", error=" ".join(str(exc).split()))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log.info("tune %s: trial %d failed: %s", op, number, record["error"])
        record["seconds"] = time.perf_counter() - started
        done.append(record)
        if on_trial is not None:
            on_trial(dict(record))
    complete = [t for t in done if t["value"] is not None]
    if not complete:
        del source, inputs, refs  # the error's traceback would keep the decoded frames alive
        raise VidlabError(f"every trial of op '{op}' failed; the first: {done[0]['error']}")
    best = max(complete, key=lambda t: t["value"])  # the first of equals, as Optuna picks
    return TuneResult(op, objective, dict(best["params"]), float(best["value"]), done)


def best_so_far(trials: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, float | None]:
    """The best params and value among finished trials (None, None when there is none)."""
    complete = [t for t in trials if t.get("value") is not None]
    if not complete:
        return None, None
    best = max(complete, key=lambda t: t["value"])
    return dict(best["params"]), float(best["value"])


def plot_trials(trials: list[dict[str, Any]], path: str | Path) -> Path:
    """Write a PNG of each trial's value and the running best (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    xs = [t["number"] for t in trials if t.get("value") is not None]
    ys = [t["value"] for t in trials if t.get("value") is not None]
    running = list(np.maximum.accumulate(ys)) if ys else []
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    try:
        ax.plot(xs, ys, "o", color="#4c72b0", label="trial")
        ax.step(xs, running, where="post", color="#dd8452", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel("objective (higher is better)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out


#: What a tune job's params may hold.
TUNE_KEYS = frozenset({"input", "op", "objective", "trials", "reference", "fixed", "space", "frames",
                       "seed", "preset"})  # fmt: skip


def check_tune_params(params: dict[str, Any], confine: Callable[..., Path]) -> dict[str, Any]:
    """A tune job's params checked before it is queued: known keys, the op exists, the
    objective parses, ``trials >= 1``, the held and searched params exist, ``input`` (and
    ``reference``, required when the objective needs one) are files inside the workspace
    (``confine(path, param=...)`` resolves them). Returns them normalized (absolute paths)."""
    unknown = set(params) - TUNE_KEYS
    if unknown:
        raise UsageError(
            f"unknown tune parameter(s): {', '.join(sorted(unknown))}", param=tuple(sorted(unknown))
        )
    out = dict(params)
    op = params.get("op")
    if not isinstance(op, str) or not op:
        raise UsageError("a tune job needs an op", param="op")
    objective = params.get("objective")
    if not isinstance(objective, str):
        raise UsageError("a tune job needs an objective", param="objective")
    terms = parse_objective(objective)
    for key, low in (("trials", 1), ("frames", 2)):
        value = params.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise UsageError(f"{key} must be an integer >= {low}, got {value!r}", param=key)
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UsageError(f"seed must be an integer, got {seed!r}", param="seed")
    fixed = params.get("fixed") or {}
    space = params.get("space")
    if not isinstance(fixed, dict):
        raise UsageError("fixed must be a mapping of parameter values", param="fixed")
    if space is not None and not isinstance(space, list | dict):
        raise UsageError("space must be a list of parameter names", param="space")
    from vidlab.ops.registry import get_op

    try:
        get_op(op)
    except VidlabError as exc:
        raise UsageError(exc.message, param="op") from None
    out["fixed"] = coerce_fixed(op, fixed)
    search_space(op, space, out["fixed"])
    preset = params.get("preset")
    if preset is not None and (not isinstance(preset, str) or not preset.strip()):
        raise UsageError("preset must be a non-empty name", param="preset")
    if not params.get("input"):
        raise UsageError("a tune job needs an input video", param="input")
    for key in ("input", "reference"):
        if params.get(key):
            path = confine(params[key], param=key)
            if not path.is_file():
                raise UsageError("no such file", path, param=key)
            out[key] = str(path)
    if any(o.needs_reference for _, o in terms) and not params.get("reference"):
        need = ", ".join(o.name for _, o in terms if o.needs_reference)
        raise UsageError(f"objective '{objective}' ({need}) needs a reference video", param="reference")
    return out
