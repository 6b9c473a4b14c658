"""Safe checkpoint files: written atomically, read with ``torch.load(weights_only=True)`` so a
file that carries pickled code is refused, never executed.

The layout is the contract between the trainer, export and the registry::

    {"format": "vidlab-checkpoint/1", "arch": str, "arch_config": dict, "model": state_dict,
     "optimizer": dict | None, "scheduler": dict | None, "step": int, "epoch": int,
     "best_val": float | None, "config": dict, "rng": dict}
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

from vidlab.core.errors import ModelError
from vidlab.core.fsutil import hold, remove_stale_temps, temp_path
from vidlab.ml.torchdep import require_torch

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "vidlab-checkpoint/1"

#: Keys every vidlab checkpoint has (``metrics`` and other extras may be added).
CHECKPOINT_KEYS = (
    "format",
    "arch",
    "arch_config",
    "model",
    "optimizer",
    "scheduler",
    "step",
    "epoch",
    "best_val",
    "config",
    "rng",
)

REFUSED_PICKLE = "refused: not a plain checkpoint or state dict (it holds pickled code)"


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` with ``torch.save`` to a temporary file beside ``path``, then rename it
    into place: a crash leaves the previous checkpoint or the new one, never half of one."""
    torch, _ = require_torch()
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder, f".{path.name}")
    tmp = temp_path(folder, f".{path.name}")
    try:
        with open(tmp, "xb") as f:
            hold(f.fileno())
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _starts_like_pickle(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(1) == b"\x80"  # pickle's PROTO opcode
    except OSError:
        return False


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint or state dict on the CPU with ``weights_only=True``.

    Raises :class:`ModelError` (one line, naming the file) for a missing, truncated or corrupt
    file, for a file that is not a torch file, and for one whose pickle holds anything beyond
    tensors and plain containers (refused without running it)."""
    torch, _ = require_torch()
    path = Path(path)
    if not path.is_file():
        raise ModelError("no such checkpoint file", path)
    try:
        with warnings.catch_warnings():  # torch warns about a bare pickle's protocol first
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses a global it does not allow (the pickle would call it) before
        # anything runs; a bare pickle (not torch's zip) is refused the same way.
        if "Unsupported global" in str(exc) or _starts_like_pickle(path):
            raise ModelError(REFUSED_PICKLE, path) from None
        raise ModelError("not a PyTorch checkpoint (corrupt or another format)", path) from None
    except EOFError:
        raise ModelError("not a readable PyTorch checkpoint (truncated or corrupt)", path) from None
    except Exception as exc:  # torch's reader fails many ways on a damaged file; all are one line
        text = str(exc).lower()
        if "zip" in text or "truncated" in text or "central directory" in text:
            raise ModelError("not a readable PyTorch checkpoint (truncated or corrupt)", path) from None
        raise ModelError("not a PyTorch checkpoint (corrupt or another format)", path) from None
    if not isinstance(data, dict):
        raise ModelError(f"not a checkpoint or state dict (it holds a {type(data).__name__})", path)
    return data


def is_checkpoint(data: dict[str, Any]) -> bool:
    """Whether ``data`` is a vidlab checkpoint (rather than a bare state dict)."""
    return data.get("format") == CHECKPOINT_FORMAT and isinstance(data.get("model"), dict)


def _is_state_dict(data: dict[str, Any]) -> bool:
    torch, _ = require_torch()
    return bool(data) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())


def load_state_dict_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dict, meta)`` from a vidlab checkpoint (its ``model``; ``meta`` is the rest) or
    from a plain state dict (str -> Tensor; ``meta`` is empty). Anything else is refused."""
    data = load_checkpoint(path)
    if is_checkpoint(data):
        state = data["model"]
        if not _is_state_dict(state):
            raise ModelError("checkpoint's model is not a state dict of tensors", path)
        meta = {k: v for k, v in data.items() if k != "model"}
        return state, meta
    if "format" in data and data.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(
            f"unknown checkpoint format {data.get('format')!r} (expected {CHECKPOINT_FORMAT})", path
        )
    if _is_state_dict(data):
        return data, {}
    raise ModelError("neither a vidlab checkpoint nor a plain state dict (str -> tensor)", path)
