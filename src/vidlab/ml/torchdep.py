"""PyTorch is optional (training and export only): one place that imports it or says how to
install it in one line."""

from __future__ import annotations

from typing import Any

from vidlab.core.errors import MissingDependencyError

INSTALL_HINT = "pip install 'vidlab[train]' (CPU: pip install torch==2.13.0)"


def require_torch() -> tuple[Any, Any]:
    """``(torch, torch.nn)``, or a one-line :class:`MissingDependencyError`."""
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        raise MissingDependencyError(f"training and export need PyTorch: {INSTALL_HINT}") from None
    return torch, nn
