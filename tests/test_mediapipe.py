"""MediaPipe's person segmentation and face detection, installed offline from the mediapipe
wheel into vidlab's model registry: install (idempotent), cards and sha256, one-line errors, and
the models on real photographs (scikit-image's astronaut, with a hand-checked person mask)."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from conftest import run_cli
from vidlab.core.errors import ModelError, UsageError
from vidlab.ml import mediapipe as mp
from vidlab.ml import registry

pytest.importorskip("ai_edge_litert")

DATA = Path(__file__).parent / "data"
#: The wheel is fetched once and kept here between runs (35 MB).
CACHE = Path(os.environ.get("VIDLAB_TEST_CACHE", Path.home() / ".cache" / "vidlab-test"))
#: Eileen Collins' face in astronaut(): hairline to chin, cheek to cheek (read off the image).
ASTRONAUT_FACE = (180, 82, 272, 178)
NAMES = {"mediapipe_selfie", "mediapipe_selfie_landscape", "mediapipe_face_short"}


@pytest.fixture(scope="session")
def wheel() -> Path:
    """The mediapipe==0.10.21 wheel: from the test cache, else downloaded into it once with
    pip; skips (saying why) where it cannot be had."""
    cached = sorted(CACHE.glob("mediapipe-0.10.21-*.whl"))
    if cached:
        return cached[-1]
    try:
        return mp.download_wheel(CACHE)
    except ModelError as exc:
        pytest.skip(f"no mediapipe wheel in {CACHE} and none could be downloaded: {exc}")


def _installed_elsewhere() -> list[registry.ModelCard]:
    """The MediaPipe cards already installed in the home the tests were started with (e.g. by
    `make test`'s `vidlab models install mediapipe`), whose files still check."""
    try:
        cards = [c for c in registry.user_models() if c.name in NAMES]
        return [c for c in cards if registry.verify(c)]
    except ModelError:
        return []


@pytest.fixture(scope="module")
def mp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VIDLAB_HOME of its own with the MediaPipe models installed: from the wheel, or copied
    from the models already installed in the starting home when there is no wheel."""
    home = tmp_path_factory.mktemp("mp_home")
    elsewhere = _installed_elsewhere()
    cached = sorted(CACHE.glob("mediapipe-0.10.21-*.whl"))
    with pytest.MonkeyPatch.context() as mpatch:
        mpatch.setenv("VIDLAB_HOME", str(home))
        if cached or not elsewhere:
            try:
                whl = cached[-1] if cached else mp.download_wheel(CACHE)
            except ModelError as exc:
                pytest.skip(f"mediapipe models not installed and no wheel: {exc}")
            mp.install(whl)
        else:
            for card in elsewhere:
                target = mp.models_folder() / Path(card.file).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(card.file, target)
                registry.add_model(target, card=card)
        yield home


@pytest.fixture
def fresh_home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("VIDLAB_HOME", str(h))
    return h


def _in_home(monkeypatch, home: Path) -> None:
    monkeypatch.setenv("VIDLAB_HOME", str(home))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _box_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text, text
    return text


# -- install -----------------------------------------------------------------------------------


def test_install_from_a_wheel_registers_cards_and_is_idempotent(wheel, fresh_home):
    cards = mp.install(wheel)
    assert {c.name for c in cards} == NAMES
    by_name = {c.name: c for c in cards}
    assert by_name["mediapipe_selfie"].task == "person_segmentation"
    assert by_name["mediapipe_face_short"].task == "face_detection"
    assert by_name["mediapipe_face_short"].inputs["size"] == [128, 128]
    for card in cards:
        path = Path(card.file)
        assert path.parent == fresh_home / "models" / "mediapipe" and path.suffix == ".tflite"
        assert card.format == "tflite" and card.license.startswith("Apache-2.0")
        assert card.training["wheel"] == wheel.name and card.training["wheel_version"] == "0.10.21"
        assert card.training["wheel_sha256"] == registry.sha256_file(wheel)
        assert registry.verify(registry.get_model(card.name)) == path
        beside = json.loads(path.with_suffix(".json").read_text())
        assert beside["sha256"] == card.sha256 and beside["format"] == "tflite"
        assert registry.resolve(path)[0].name == card.name  # by path, through the card beside it

    again = mp.install(wheel)
    assert again == cards
    index = json.loads(registry.user_index_path().read_text())["models"]
    assert sorted(e["name"] for e in index) == sorted(NAMES)  # replaced, not duplicated


def test_cli_install_list_and_info(wheel, fresh_home):
    res = run_cli("models", "install", "mediapipe", "--wheel", wheel)
    assert res.returncode == 0, res.stderr
    assert "mediapipe_selfie (person_segmentation)" in res.stdout
    res = run_cli("models", "list", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert set(rows) >= NAMES and rows["mediapipe_face_short"]["format"] == "tflite"
    res = run_cli("models", "info", "mediapipe_selfie", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["task"] == "person_segmentation"


def test_cli_install_errors_are_one_line(tmp_path, fresh_home):
    not_zip = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    not_zip.write_bytes(b"not a zip" * 100)
    no_models = tmp_path / "mediapipe-0.10.21-cp311-none-any.whl"
    with zipfile.ZipFile(no_models, "w") as z:
        z.writestr("mediapipe-0.10.21.dist-info/METADATA", "Name: mediapipe\nVersion: 0.10.21\n")
        z.writestr("mediapipe/__init__.py", "")
    other = tmp_path / "numpy-2.0-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("numpy-2.0.dist-info/METADATA", "Name: numpy\nVersion: 2.0\n")
    cases = [
        (["mediapipe", "--wheel", tmp_path / "absent.whl"], 2, "no such wheel file"),
        (["mediapipe", "--wheel", not_zip], 1, "not a wheel (zip) file"),
        (["mediapipe", "--wheel", no_models], 1, "the wheel lacks mediapipe/modules/"),
        (["mediapipe", "--wheel", other], 1, "not a mediapipe wheel (it is numpy 2.0)"),
        (["yolo"], 2, "nothing called 'yolo' to install"),
    ]
    for args, code, words in cases:
        res = run_cli("models", "install", *args)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == code and len(lines) == 1, res.stderr
        assert words in lines[0] and lines[0].startswith("vidlab: error: "), lines[0]
    assert not (fresh_home / "models.json").exists()


def test_download_failure_is_one_line(tmp_path):
    with pytest.raises(ModelError) as err:
        mp.download_wheel(tmp_path, requirement="mediapipe==0.0.0.404", timeout=120)
    assert "mediapipe==0.0.0.404" in _one_line(err.value)


# -- cards, sha256 and one-line errors ----------------------------------------------------------


def test_a_tampered_model_is_refused(wheel, fresh_home):
    mp.install(wheel)
    path = fresh_home / "models" / "mediapipe" / "selfie_segmentation.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        mp.PersonSegmenter("mediapipe_selfie")
    assert "its card says" in _one_line(err.value) and str(path) in str(err.value)
    with pytest.raises(ModelError):
        registry.verify(registry.get_model("mediapipe_selfie"))


def test_missing_models_name_the_install_command(fresh_home, wheel):
    for make in (mp.PersonSegmenter, mp.FaceDetector):
        with pytest.raises(ModelError) as err:
            make()
        assert "run `vidlab models install mediapipe`" in _one_line(err.value)
    mp.install(wheel)
    (fresh_home / "models" / "mediapipe" / "face_detection_short_range.tflite").unlink()
    with pytest.raises(ModelError) as err:
        mp.FaceDetector()
    assert "is missing; run `vidlab models install mediapipe`" in _one_line(err.value)
    with pytest.raises(UsageError):
        mp.PersonSegmenter("no_such_model")


def test_corrupt_models_are_one_line(tmp_path, fresh_home, wheel):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 300)
    with pytest.raises(ModelError) as err:
        registry.add_model(garbage, name="mediapipe_selfie", task="person_segmentation")
    assert "not a valid TensorFlow Lite model" in _one_line(err.value)
    with zipfile.ZipFile(wheel) as z:  # a truncated model: its header passes, its body does not
        head = z.read("mediapipe/modules/face_detection/face_detection_short_range.tflite")[:5000]
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(head)
    registry.add_model(truncated, name="mediapipe_face_short", task="face_detection")
    with pytest.raises(ModelError) as err:
        mp.FaceDetector()
    assert "TensorFlow Lite cannot load it" in _one_line(err.value) and str(truncated) in str(err.value)


def test_wrong_task_and_bad_input_are_refused(mp_home, monkeypatch):
    _in_home(monkeypatch, mp_home)
    with pytest.raises(ModelError, match="is a face_detection model, not person_segmentation"):
        mp.PersonSegmenter("mediapipe_face_short")
    seg = mp.PersonSegmenter()
    with pytest.raises(UsageError, match="expected an RGB uint8 image"):
        seg.mask(np.zeros((32, 32), np.uint8))


# -- the models on photographs ------------------------------------------------------------------


def test_anchors_are_blazeface_short_range():
    a = mp.ssd_anchors()
    assert a.shape == (896, 2)
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])  # 2 per cell
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[512:518], a[512])  # 6 per cell
    assert np.allclose(a[-1], [7.5 / 8, 7.5 / 8])


@pytest.mark.parametrize(
    ("model", "least"), [("mediapipe_selfie", 0.9), ("mediapipe_selfie_landscape", 0.85)]
)
def test_person_mask_of_the_astronaut(mp_home, monkeypatch, model, least):
    _in_home(monkeypatch, mp_home)
    img = skimage.data.astronaut()
    truth = cv2.imread(str(DATA / "astronaut_person_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    seg = mp.PersonSegmenter(model, threads=1)
    mask = seg.mask(img)
    assert mask.shape == img.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    iou = _iou(mask > 0.5, truth)
    assert iou >= max(0.8, least), iou
    wide = seg.mask(cv2.resize(img, (1280, 720)))  # any frame size comes back at its size
    assert wide.shape == (720, 1280)
    assert _iou(cv2.resize(wide, (512, 512)) > 0.5, truth) >= 0.8


def test_one_face_in_the_astronaut_and_none_without_people(mp_home, monkeypatch):
    _in_home(monkeypatch, mp_home)
    det = mp.FaceDetector()
    faces = det.detect(skimage.data.astronaut())
    assert len(faces) == 1, faces
    assert _box_iou(faces[0][:4], ASTRONAUT_FACE) >= 0.6 and faces[0].score >= 0.5, faces
    wide = det.detect(cv2.resize(skimage.data.astronaut(), (1280, 720)))  # letterboxed, mapped back
    assert len(wide) == 1
    x0, y0, x1, y1, _ = wide[0]
    sx, sy = 1280 / 512, 720 / 512
    assert _box_iou((x0 / sx, y0 / sy, x1 / sx, y1 / sy), ASTRONAUT_FACE) >= 0.5, wide
    for photo in ("coffee", "chelsea", "rocket"):
        assert det.detect(getattr(skimage.data, photo)()) == [], photo
