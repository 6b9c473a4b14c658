"""Shared fixtures of the UI tests (imported by each test file, not a conftest: a second conftest
would shadow the root one that `from conftest import ...` reads): a temporary workspace with a
tiny generated clip and one queued render job."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidlab.jobs.store import Store
from vidlab.ui import logic


@pytest.fixture(scope="session")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from vidlab.io.samples import generate

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    generate(path, frames=12, size=(160, 96), fps=12)
    return path.read_bytes()


@pytest.fixture
def ws_root(tmp_path: Path, clip_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "clip.mp4").write_bytes(clip_bytes)
    monkeypatch.setenv(logic.ENV_WORKSPACE, str(root))
    return root


@pytest.fixture
def store(ws_root: Path) -> Store:
    s = Store.open(ws_root)
    yield s
    s.close()


@pytest.fixture
def queued(store: Store) -> int:
    params = logic.build_render_params(recipe="denoise")
    return logic.submit_renders(store, ["clip.mp4"], params, "denoise")[0]
