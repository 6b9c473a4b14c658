"""Every page under Streamlit's AppTest, on a temporary workspace."""

# ruff: noqa: F811  (pytest fixtures imported from uikit are parameters here)
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from uikit import clip_bytes, queued, store, ws_root  # noqa: F401 (fixtures)

from vidlab.ui import logic

PAGES = Path(logic.__file__).parent / "pages"

TIMEOUT = 60


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", ["dashboard.py", "queue.py", "style_lab.py", "trainer.py", "settings.py"])
def test_page_loads(page: str, queued: int) -> None:
    _run(page)


def test_dashboard_lists_the_clip(queued: int) -> None:
    at = _run("dashboard.py")
    assert "clip.mp4" in at.multiselect(key="inputs").options


def test_queue_shows_and_pauses_the_job(store, queued: int) -> None:
    at = _run("queue.py")
    assert any(f"#{queued}" in m.value for m in at.markdown)
    at.button(key=f"pause-{queued}").click().run()
    assert not at.exception
    assert store.get(queued).state == "paused"
    at.button(key=f"resume-{queued}").click().run()
    assert store.get(queued).state == "queued"


def test_style_lab_stores_a_rating(store, queued: int) -> None:
    at = _run("style_lab.py")
    at.select_slider(key="rate_stars").set_value(4)
    at.text_area(key="rate_note").input("crisp lines")
    at.radio(key="rate_which").set_value("B")
    at.slider(key="b-cartoon-colors").set_value(12)
    at.button(key="rate_submit").click().run()
    assert not at.exception
    (rating,) = store.ratings("cartoon")
    assert rating["stars"] == 4 and rating["note"] == "crisp lines"
    assert rating["params"] == {"colors": 12}


def test_style_lab_submits_a_tune_job_and_shows_runs(store, queued: int) -> None:
    run = store.create_tuning_run("cartoon", "sharpness")
    trials = [{"number": i, "value": v, "params": {"colors": c}} for i, (v, c) in enumerate([(1, 4), (3, 8)])]
    store.update_tuning_run(run, trials=trials, best_params={"colors": 8}, best_value=3.0, state="done")
    at = _run("style_lab.py")
    if at.button(key="tune_submit") is None:  # pragma: no cover - before vidlab.jobs.tune existed
        pytest.skip("vidlab.jobs.tune is not available yet")
    at.selectbox(key="tune_objective").set_value("sharpness")
    at.number_input(key="tune_trials").set_value(3)
    at.button(key="tune_submit").click().run()
    assert not at.exception
    (job,) = store.list(kind="tune")
    assert job.params["op"] == "cartoon" and job.params["trials"] == 3
    assert len(at.dataframe) >= 1
    at.text_input(key="best_name").input("crisp")
    at.button(key="save_best").click().run()
    assert store.get_preset("crisp")["params"] == {"colors": 8}


def test_trainer_submits_and_shows_a_run(store, ws_root) -> None:
    at = _run("trainer.py")
    at.radio(key="tr_source").set_value("generated clips")
    at.number_input(key="tr_steps").set_value(5)
    at.button(key="tr_submit").click().run()
    assert not at.exception
    (job,) = store.list(kind="train")
    assert job.params["config"]["steps"] == 5
    at.text_input(key="tr_init").input("/etc/passwd")  # fine-tuning reads only workspace files
    at.button(key="tr_submit").click().run()
    assert not at.exception and at.error and "outside the workspace" in at.error[0].value
    assert len(store.list(kind="train")) == 1
    run = store.job_dir(job.id) / "run"
    run.mkdir(parents=True)
    (run / "log.csv").write_text("step,train_loss,val_loss\n1,0.5,\n2,0.4,0.42\n")
    (run / "best.pt").write_bytes(b"b")
    (run / "last.pt").write_bytes(b"l")
    at = _run("trainer.py")
    at.selectbox(key="tr_ckpt").set_value("best.pt")
    at.button(key="tr_rollback").click().run()
    assert not at.exception
    assert (run / "last.pt").read_bytes() == b"b"


def test_settings_saves_limits_and_deletes_presets(store, ws_root) -> None:
    store.save_preset("mine", "cartoon", {"colors": 6})
    at = _run("settings.py")
    at.number_input(key="set_workers").set_value(3)
    at.button(key="set_save").click().run()
    assert not at.exception
    assert logic.load_settings(store.workspace).workers == 3
    at.button(key="set_delete").click().run()
    assert store.presets() == []


def test_dashboard_previews_and_submits(store, queued: int) -> None:
    at = _run("dashboard.py")
    at.multiselect(key="styles").set_value(["cartoon"])
    at.radio(key="level").set_value("Speed")
    at.button(key="preview").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    before, after, clip = at.session_state["pv_result"]
    assert before.shape == after.shape == (96, 160, 3) and clip.is_file()
    at.radio(key="pv_view").set_value("slider").run()
    assert not at.exception
    at.button(key="submit").click().run()
    assert not at.exception
    jobs = [j for j in store.list() if j.id != queued]
    assert len(jobs) == 1 and jobs[0].params["style"] == "cartoon" and jobs[0].params["level"] == "Speed"
    assert jobs[0].output.endswith("outputs/clip.cartoon-Speed.mp4")


def test_the_app_navigates(queued: int) -> None:
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert any("dashboard" in t.value for t in at.title)
    at.switch_page(str(PAGES / "queue.py")).run()
    assert not at.exception
    assert any(t.value == "Queue" for t in at.title)
