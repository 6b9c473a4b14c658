"""ONNX Runtime sessions: opened once per process, with a CPU fallback when the chosen GPU
provider fails, introspected for their input spec, and run on NCHW float32 batches.

Every failure is one :class:`ModelError` line naming the model file: a missing file, a corrupt
or truncated ONNX, a sha256 that differs from the card's, an input spec vidlab cannot feed."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vidlab.core.errors import ModelError
from vidlab.ml.backends import CPU, CUDA, TensorRT, available, provider_names, select_backend

log = logging.getLogger(__name__)

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
}

CORRUPT = "not a valid ONNX model (truncated or corrupt)"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output: its name, shape (``None`` for a dynamic dimension), dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


def ort_message(exc: BaseException) -> str:
    """ONNX Runtime's long error text as one short line (its code prefix and path removed)."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = re.sub(r"^Load model from .*? failed:", "", text).strip()
    return text if len(text) <= 200 else text[:197] + "..."


def _is_corrupt(exc: BaseException) -> bool:
    text = str(exc)
    return (
        type(exc).__name__ in ("InvalidProtobuf", "InvalidGraph")
        or "INVALID_PROTOBUF" in text
        or "Protobuf parsing failed" in text
        or "No graph was found" in text
    )


def _backend_for(name: str, requested: Any, threads: int) -> Any:
    """The backend object for a provider that actually runs (after ORT's own fallbacks)."""
    if name == "TensorrtExecutionProvider":
        return requested if isinstance(requested, TensorRT) else TensorRT()
    if name == "CUDAExecutionProvider":
        device_id = getattr(requested, "device_id", 0)
        return CUDA(device_id, fp16=getattr(requested, "fp16", False))
    return CPU(threads)


class Session:
    """One ONNX Runtime session over one model file, with what it expects and what runs it.

    ``backend`` is the backend that actually runs (CPU after a fallback); ``requested`` is the
    one that was asked for."""

    def __init__(self, ort_session: Any, path: Path, backend: Any, requested: Any) -> None:
        self._sess = ort_session
        self.path = path
        self.backend = backend
        self.requested = requested
        self.inputs: list[TensorSpec] = [_spec(a) for a in ort_session.get_inputs()]
        self.outputs: list[TensorSpec] = [_spec(a) for a in ort_session.get_outputs()]

    def __repr__(self) -> str:
        return f"Session({self.path.name}, backend={self.backend.name})"

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        backend: Any = None,
        threads: int = 0,
        sha256: str | None = None,
    ) -> Session:
        """Open ``path`` on ``backend`` (a backend object, a device string such as ``"cuda:1"``,
        or None for ``auto``); check its sha256 against ``sha256`` when given. A GPU provider
        that fails to start, or that ORT drops, falls back to the CPU with a warning."""
        global _opens
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError("no such model file", path)
        if sha256 is not None:
            actual = sha256_file(path)
            if actual.lower() != sha256.lower():
                raise ModelError(f"sha256 is {actual}, its card says {sha256}", path)
        requested = (
            select_backend(backend or "auto", threads)
            if backend is None or isinstance(backend, str)
            else backend
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, int(threads or getattr(requested, "threads", 0) or 0))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # ORT's own warnings: vidlab logs its decisions itself

        def create(providers: list[Any]) -> Any:
            with warnings.catch_warnings():  # ORT warns about providers it lacks; we log it
                warnings.simplefilter("ignore")
                return ort.InferenceSession(os.fspath(path), sess_options=options, providers=providers)

        wanted = requested.providers()
        have = set(available())
        usable = [p for p in wanted if (p if isinstance(p, str) else p[0]) in have]
        dropped = [n for n in provider_names(wanted) if n not in have]
        if dropped:
            log.warning(
                "%s: ONNX Runtime has no %s here (it has %s); running on what remains",
                path.name,
                ", ".join(dropped),
                ", ".join(sorted(have)),
            )
        try:
            with _lock:
                _opens += 1
            sess = create(usable or ["CPUExecutionProvider"])
        except Exception as exc:
            if _is_corrupt(exc):
                raise ModelError(CORRUPT, path) from None
            if provider_names(usable) == ["CPUExecutionProvider"] or not usable:
                raise ModelError(f"ONNX Runtime cannot load it: {ort_message(exc)}", path) from None
            log.warning(
                "%s: the %s backend failed to start (%s); falling back to the CPU",
                path.name,
                getattr(requested, "name", requested),
                ort_message(exc),
            )
            try:
                sess = create(["CPUExecutionProvider"])
            except Exception as exc2:
                if _is_corrupt(exc2):
                    raise ModelError(CORRUPT, path) from None
                raise ModelError(f"ONNX Runtime cannot load it: {ort_message(exc2)}", path) from None
        running = sess.get_providers()
        first = next((n for n in provider_names(wanted) if n in running), "CPUExecutionProvider")
        actual_backend = (
            requested if first == provider_names(wanted)[0] else _backend_for(first, requested, threads)
        )
        if actual_backend is not requested and not dropped:
            log.warning(
                "%s: ONNX Runtime did not start %s; running on %s",
                path.name,
                provider_names(wanted)[0],
                actual_backend.name,
            )
        log.info("%s: opened on %s", path.name, actual_backend.name)
        return cls(sess, path, actual_backend, requested)

    # -- introspection ------------------------------------------------------------------------

    @property
    def channels(self) -> int | None:
        """The input's channel count when the model fixes it (NCHW axis 1), else None."""
        if not self.inputs or len(self.inputs[0].shape) != 4:
            return None
        return self.inputs[0].shape[1]

    def check_input(self, channels: int = 3, layout: str = "NCHW") -> None:
        """Refuse, in one line, a model vidlab cannot feed ``channels``-channel ``layout`` images."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise ModelError(
                f"the model has {len(self.inputs)} inputs and {len(self.outputs)} outputs; "
                "vidlab runs models with one image in and one out",
                self.path,
            )
        spec = self.inputs[0]
        if len(spec.shape) != 4:
            raise ModelError(
                f"the model takes a {len(spec.shape)}-D input {spec.shape}, "
                f"vidlab gives it a 4-D {layout} batch",
                self.path,
            )
        axis = layout.upper().index("C")
        have = spec.shape[axis]
        if have is not None and have != channels:
            raise ModelError(f"the model takes {have}-channel input, vidlab gives it {channels}", self.path)
        if spec.dtype not in ("float32", "float16"):
            raise ModelError(f"the model takes {spec.dtype} input, vidlab gives it float32", self.path)

    # -- running -------------------------------------------------------------------------------

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run a single-input, single-output model on ``x`` (NCHW float32); float32 out."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            self.check_input(x.shape[1] if x.ndim == 4 else 3)
        spec = self.inputs[0]
        feed = np.ascontiguousarray(x, dtype=np.float16 if spec.dtype == "float16" else np.float32)
        try:
            (y,) = self._sess.run([self.outputs[0].name], {spec.name: feed})
        except Exception as exc:
            raise ModelError(
                f"inference failed on an input of shape {tuple(x.shape)}: {ort_message(exc)}", self.path
            ) from None
        return np.asarray(y, dtype=np.float32)

    def run_feed(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a model with several named inputs (float32 or its own float16); all outputs in
        their order, as float32. ORT's failures are one-line :class:`ModelError` s."""
        dtypes = {i.name: i.dtype for i in self.inputs}
        feed = {
            k: np.ascontiguousarray(v, dtype=np.float16 if dtypes.get(k) == "float16" else np.float32)
            for k, v in feeds.items()
        }
        try:
            outs = self._sess.run(None, feed)
        except Exception as exc:
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feeds.items())
            raise ModelError(f"inference failed on inputs {shapes}: {ort_message(exc)}", self.path) from None
        return [np.asarray(y, dtype=np.float32) for y in outs]

    def run_batches(self, x: np.ndarray, batch: int) -> np.ndarray:
        """:meth:`run` over ``x`` in slices of at most ``batch`` along axis 0."""
        batch = max(1, int(batch))
        if len(x) <= batch:
            return self.run(x)
        return np.concatenate([self.run(x[i : i + batch]) for i in range(0, len(x), batch)], axis=0)


# -- one session per model, device and thread count per process ----------------------------------

_lock = threading.RLock()
_cache: dict[tuple[Any, ...], Session] = {}
_opens = 0


def open_count() -> int:
    """How many sessions this process has opened (tests assert reuse with it)."""
    return _opens


def cached_session(
    path: str | os.PathLike[str], device: str = "auto", threads: int = 0, sha256: str | None = None
) -> Session:
    """The process's session for this model file (by resolved path, mtime and size), device
    and thread count: a worker that runs many chunks opens each model once."""
    p = Path(path)
    try:
        resolved = p.resolve(strict=True)
        st = resolved.stat()
    except OSError:
        raise ModelError("no such model file", p) from None
    key = (str(resolved), st.st_mtime_ns, st.st_size, str(device), int(threads), sha256)
    with _lock:
        sess = _cache.get(key)
        if sess is None:
            sess = Session.open(resolved, device, threads=threads, sha256=sha256)
            _cache[key] = sess
        return sess


def clear_cache() -> None:
    """Forget the cached sessions (their memory is freed when nothing else holds them)."""
    with _lock:
        _cache.clear()
