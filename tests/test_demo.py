"""`vidlab demo` end to end on a small sample: outputs, styles and a report whose checks hold."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from vidlab.cli.demo import DEMO_STYLES, run_demo
from vidlab.io.probe import probe
from vidlab.ml.session import sha256_file


def test_demo_writes_outputs_styles_and_report(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative output folder, as `make demo` gives (vidlab-demo)
    res = run_demo(Path("vidlab-demo"), frames=12, size=(320, 180))
    data = json.loads(res.report.read_text())
    assert all(v is True or (isinstance(v, int | float) and v > 0) for v in data["checks"].values()), data
    assert probe(res.output).frame_count == 12
    assert set(res.styles) == set(DEMO_STYLES)
    for path in res.styles.values():
        info = probe(path)
        assert (info.width, info.height, info.frame_count) == (320, 180, 12)
    doubled = probe(res.interpolated)
    assert doubled.frame_count == 24 and doubled.fps == 2 * probe(res.sample).fps
    rebuilt = data["interpolation"]["rebuilt_frames_y_psnr_db"]
    assert rebuilt["flow"] > rebuilt["blend"] and {"learned", "minterpolate"} <= set(rebuilt)
    enh = data["enhance"]
    assert probe(Path(enh["enhanced"])).frame_count == enh["frames"] == 20
    assert cv2.imread(enh["sheet"]) is not None
    int8 = json.loads(Path(enh["int8_model"]).with_suffix(".json").read_text())
    assert int8["sha256"] == sha256_file(enh["int8_model"]) and int8["training"]["int8"]["from"]
    assert enh["int8_ms_per_frame"] > 0 and abs(enh["int8_psnr_y_gain_db"]) < 3
    sheet = cv2.imread(str(res.contact_sheet))
    assert sheet.shape == (3 * 90 + 16, 3 * 160 + 16, 3)  # source + 7 styles, at half size
