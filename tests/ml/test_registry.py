"""Model cards and the registry: built-in cards beside their models, user models added by path
with their sha256 into an atomic index, and one clear line for every bad card or file."""

from __future__ import annotations

import json

import pytest
from onnx_samples import scale_model

from vidlab.core.errors import ModelError, UsageError
from vidlab.ml import registry
from vidlab.ml.registry import (
    ModelCard,
    add_model,
    get_model,
    list_models,
    model_path,
    resolve,
    sha256_file,
    user_index_path,
    verify,
    vidlab_home,
)

pytest.importorskip("onnx")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("VIDLAB_HOME", str(h))
    return h


@pytest.fixture
def builtin(tmp_path, monkeypatch):
    """A built-in models folder with one model, ``deblock``."""
    folder = tmp_path / "builtin"
    folder.mkdir()
    onnx_file = scale_model(folder / "deblock.onnx")
    card = ModelCard("deblock", "enhance", "deblock.onnx", sha256_file(onnx_file), license="MIT")
    (folder / "deblock.json").write_text(card.to_json())
    monkeypatch.setattr(registry, "_builtin_folder", lambda: folder)
    return folder


def test_home_and_index_follow_vidlab_home(home):
    assert vidlab_home() == home and user_index_path() == home / "models.json"


def test_card_round_trips_through_json(tmp_path):
    card = ModelCard(
        "enh", "enhance", "enh.onnx", "ab" * 32, license="CC0", training={"command": "vidlab train x"},
        metrics={"psnr_gain": 1.5}, description="d", version="2",
    )  # fmt: skip
    path = tmp_path / "enh.json"
    path.write_text(card.to_json())
    back = ModelCard.from_json(path)
    assert back == card and back.inputs["layout"] == "NCHW" and back.inputs["multiple"] == 16


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"name": "x", "task": "t", "file": "x.onnx"}', "lacks sha256"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (
            '{"name": "x", "task": "t", "file": "x.onnx", "sha256": "a", "inputs": {"layout": "CHW"}}',
            "layout",
        ),
        ('{"name": "x", "task": "t", "file": "x.onnx", "sha256": "a", "metrics": []}', "metrics must be"),
    ],
)
def test_bad_card_is_one_line_naming_the_card(tmp_path, text, needle):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelError) as e:
        ModelCard.from_json(path)
    assert e.value.path == str(path) and needle in e.value.message and "\n" not in str(e.value)


def test_add_model_by_path_with_its_card(tmp_path, home):
    model = scale_model(tmp_path / "mine.onnx")
    (tmp_path / "mine.json").write_text(
        json.dumps({"name": "sharp", "task": "enhance", "file": "x", "sha256": "0", "license": "MIT"})
    )
    card = add_model(model)
    assert card.name == "sharp" and card.task == "enhance" and card.license == "MIT"
    assert card.file == str(model.resolve()) and card.sha256 == sha256_file(
        model
    )  # the file's, not the card's
    index = json.loads((home / "models.json").read_text())
    assert [m["name"] for m in index["models"]] == ["sharp"]
    assert not [p for p in home.iterdir() if p.name != "models.json"]  # no temporary files left
    assert get_model("sharp") == card and list_models()[-1].source == "user"


def test_add_model_from_arguments_and_replace(tmp_path):
    model = scale_model(tmp_path / "plain.onnx")
    first = add_model(model, task="denoise")
    assert first.name == "plain" and first.task == "denoise"
    add_model(scale_model(tmp_path / "other.onnx"), name="second", task="enhance")
    again = add_model(model, name="plain", task="enhance")  # same name: replaces, keeps order of the rest
    assert [c.name for c in list_models() if c.source == "user"] == [
        "second",
        "plain",
    ] and again.task == "enhance"


def test_add_refuses_corrupt_and_truncated_models(tmp_path, home):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 50)
    data = scale_model(tmp_path / "good.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[:40])
    for bad in (junk, cut):
        with pytest.raises(ModelError) as e:
            add_model(bad)
        assert "not a valid ONNX model" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelError, match="no such model file"):
        add_model(tmp_path / "absent.onnx")
    assert not (home / "models.json").exists()


def test_builtin_models_listed_first_and_names_protected(builtin, tmp_path):
    add_model(scale_model(tmp_path / "u.onnx"), task="enhance")
    cards = list_models()
    assert [(c.name, c.source) for c in cards] == [("deblock", "builtin"), ("u", "user")]
    assert model_path(cards[0]) == builtin / "deblock.onnx"
    assert verify(cards[0]) == builtin / "deblock.onnx"
    with pytest.raises(UsageError, match="taken by a built-in"):
        add_model(scale_model(tmp_path / "x.onnx"), name="deblock")


def test_unknown_name_lists_known_ones(builtin):
    with pytest.raises(UsageError) as e:
        get_model("nosuch")
    assert "unknown model 'nosuch' (known: deblock)" in str(e.value)


def test_resolve_by_name_and_by_path(builtin, tmp_path):
    card, path = resolve("deblock")
    assert card.name == "deblock" and path == builtin / "deblock.onnx"
    loose = scale_model(tmp_path / "loose.onnx")
    card, path = resolve(str(loose))
    assert card.name == "loose" and path == loose.resolve() and card.sha256 == sha256_file(loose)
    with pytest.raises(ModelError, match="no such model file"):
        resolve(str(tmp_path / "gone.onnx"))


def test_verify_catches_a_changed_file(tmp_path):
    model = scale_model(tmp_path / "m.onnx")
    card = add_model(model)
    assert verify(card) == model.resolve() and verify(card, model) == model
    scale_model(model, factor=5.0)  # replaced after it was added
    with pytest.raises(ModelError) as e:
        verify(get_model("m"))
    assert e.value.message == f"sha256 is {sha256_file(model)}, its card says {card.sha256}"


def test_unreadable_index_is_one_line(home):
    home.mkdir(parents=True)
    (home / "models.json").write_text("{broken")
    with pytest.raises(ModelError) as e:
        list_models()
    assert e.value.path == str(home / "models.json") and "\n" not in str(e.value)
