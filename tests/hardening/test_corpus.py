"""Hostile-input corpus, quick form (issue 13): about 14 broken and unusual inputs through the
fast commands (probe, probe --json, run -r identity, metrics) and every wrong option/recipe
variant, with ``benchmarks/hostile_corpus.py``'s own machinery. Every call must exit 0, 1 or 2
as the README says, fail in one line naming the file, print no traceback, leave nothing behind
and, for valid inputs, keep what the README promises. Known defects (``KNOWN`` in the script)
are xfailed one by one, strictly, so a fix shows up and everything else stays guarded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import hostile_corpus as hc

pytestmark = pytest.mark.slow

QUICK_COMMANDS = {c.name for c in hc.COMMANDS if c.quick}


@pytest.fixture(scope="module")
def report() -> dict:
    return hc.run_corpus(quick=True, jobs=2)


def _bad(c: dict) -> bool:
    return bool(c["failures"] or c["leftovers"])


def test_quick_corpus_size(report: dict) -> None:
    assert report["inputs_built"] >= 40
    assert report["inputs_run"] >= 12
    assert report["calls"] >= 80


def test_quick_corpus_has_no_failures(report: dict) -> None:
    bad = [
        f"{c['input']} {c['command']} rc={c['rc']}: {c['failures'] + c['leftovers']} | {c['stderr'][-300:]}"
        for c in report["calls_detail"]
        if _bad(c) and not c["xfail"]
    ]
    assert not bad, "\n".join(bad)


_KNOWN_QUICK = sorted(k for k in hc.KNOWN if k[1] in QUICK_COMMANDS or k[0] == "options")


@pytest.mark.parametrize(
    "key",
    [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=hc.KNOWN[k])) for k in _KNOWN_QUICK],
    ids=[f"{a}-{b}" for a, b in _KNOWN_QUICK],
)
def test_known_defect(report: dict, key: tuple[str, str]) -> None:
    calls = [c for c in report["calls_detail"] if (c["input"], c["command"]) == key]
    if not calls:
        pytest.skip("not in the quick subset")
    assert not _bad(calls[0]), calls[0]["failures"] + calls[0]["leftovers"]
