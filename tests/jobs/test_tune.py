"""Auto-tuning (vidlab.jobs.tune): a real op tuned against a reference, seeded repeatability,
objective parsing, the ratings model, cancel between trials, tune jobs through the store and
the worker, and `vidlab tune` from the shell."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from vidlab.core.errors import UsageError
from vidlab.core.events import Cancelled, CancelToken
from vidlab.io.codecs import EncodeSettings
from vidlab.io.samples import generate
from vidlab.jobs.store import Store
from vidlab.jobs.tune import OBJECTIVES, parse_objective, plot_trials, tune
from vidlab.jobs.worker import Worker
from vidlab.pipeline.entry import execute

#: The reference is the clip through ``tone contrast=1.2``: PSNR peaks there (a known optimum).
TARGET = 1.2


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tune")
    clip, ref = root / "clip.mp4", root / "ref.mkv"
    generate(clip, frames=12, size=(160, 96))
    # lossless RGB (gbrp): a 4:2:0 reference would move the PSNR optimum off the target
    execute(clip, ref, f"tone contrast={TARGET}", EncodeSettings(codec="ffv1", pix_fmt="gbrp"))
    return clip, ref


@pytest.fixture
def ws(tmp_path: Path, media: tuple[Path, Path]) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    for p in media:
        shutil.copy(p, root / p.name)
    return root


def test_tune_against_a_reference_improves_and_stays_in_bounds(media: tuple[Path, Path]) -> None:
    clip, ref = media
    result = tune(clip, "tone", "psnr", trials=6, reference=ref, space=["contrast"], frames=12)
    values = [t["value"] for t in result.trials]
    assert len(result.trials) == 6 and all(v is not None for v in values)
    assert result.best_value == max(values) > min(values)
    assert 0.0 <= result.best_params["contrast"] <= 3.0
    worst = min(result.trials, key=lambda t: t["value"])
    assert abs(result.best_params["contrast"] - TARGET) < abs(worst["params"]["contrast"] - TARGET)
    best = max(result.trials, key=lambda t: t["value"])
    assert set(best["terms"]) == {"psnr"} and best["scores"]["psnr"] == pytest.approx(best["value"])


def test_the_same_seed_gives_the_same_trials(media: tuple[Path, Path]) -> None:
    clip, ref = media
    runs = [
        tune(clip, "tone", "psnr+0.5*sharpness", trials=4, reference=ref, frames=6, seed=3,
             fixed={"luma_only": "true"})
        for _ in range(2)
    ]  # fmt: skip
    strip = [[(t["params"], t["value"]) for t in r.trials] for r in runs]
    assert strip[0] == strip[1]
    assert all(t["params"]["luma_only"] is True for t in runs[0].trials)  # held, coerced
    other = tune(clip, "tone", "psnr", trials=2, reference=ref, frames=6, seed=4)
    assert other.trials[0]["params"] != runs[0].trials[0]["params"]


def test_weighted_objectives_parse() -> None:
    assert [(w, o.name) for w, o in parse_objective("psnr+0.5*stability")] == [
        (1.0, "psnr"),
        (0.5, "stability"),
    ]
    assert [(w, o.name) for w, o in parse_objective(" ssim * 2 - 0.1*sharpness")] == [
        (2.0, "ssim"),
        (-0.1, "sharpness"),
    ]
    assert {"psnr", "ssim", "vmaf", "stability", "sharpness", "rating"} <= set(OBJECTIVES)
    assert OBJECTIVES["psnr"].needs_reference and not OBJECTIVES["stability"].needs_reference
    assert OBJECTIVES["stability"].direction == "minimize"
    # normalised to comparable, higher-is-better scores
    assert OBJECTIVES["stability"].score(1e-3) > OBJECTIVES["stability"].score(1e-2)
    assert 0 <= OBJECTIVES["psnr"].score(40.0) <= 1


@pytest.mark.parametrize(
    "text", ["", "psnr+", "psnr stability", "fidelity", "psnr+psnr", "2*psnr*3", "psnr++ssim"]
)
def test_a_bad_objective_is_one_line(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_objective(text)
    assert "\n" not in str(info.value) and info.value.params == ("objective",)


def test_reference_objectives_need_a_reference(media: tuple[Path, Path]) -> None:
    with pytest.raises(UsageError, match="needs a reference"):
        tune(media[0], "tone", "ssim", trials=1, frames=4)


def test_the_rating_objective_prefers_what_was_rated_high(media: tuple[Path, Path]) -> None:
    clip, _ = media
    # stars grow with contrast
    ratings = [
        {"params": {"contrast": c}, "stars": s} for c, s in ((0.2, 1), (0.9, 2), (1.5, 3), (2.2, 4), (2.9, 5))
    ]
    result = tune(clip, "tone", "rating", trials=6, space=["contrast"], frames=4, ratings=ratings)
    contrasts = sorted(t["params"]["contrast"] for t in result.trials)
    assert result.best_params["contrast"] == contrasts[-1]
    predicted = sorted((t["params"]["contrast"], t["terms"]["rating"]) for t in result.trials)
    assert [p for _, p in predicted] == sorted(p for _, p in predicted)  # monotone in contrast
    with pytest.raises(UsageError, match="at least 3 stored ratings") as info:
        tune(clip, "tone", "rating", trials=2, frames=4, ratings=ratings[:2])
    assert "\n" not in str(info.value)


def test_cancel_stops_between_trials(media: tuple[Path, Path]) -> None:
    clip, _ = media
    token, seen = CancelToken(), []

    def on_trial(trial: dict) -> None:
        seen.append(trial)
        if len(seen) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        tune(clip, "tone", "sharpness", trials=6, frames=4, on_trial=on_trial, cancel=token)
    assert [t["number"] for t in seen] == [0, 1]


def test_history_is_replayed_and_counts(media: tuple[Path, Path]) -> None:
    clip, _ = media
    first = tune(clip, "tone", "sharpness", trials=2, frames=4, space=["contrast"])
    resumed = tune(clip, "tone", "sharpness", trials=4, frames=4, space=["contrast"], history=first.trials)
    assert len(resumed.trials) == 4 and resumed.trials[:2] == first.trials
    assert [t["number"] for t in resumed.trials] == [0, 1, 2, 3]


def test_plot_trials_writes_a_png(tmp_path: Path) -> None:
    trials = [{"number": i, "value": v} for i, v in enumerate([0.2, 0.5, None, 0.4])]
    path = plot_trials(trials, tmp_path / "t.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_tune_job_runs_in_the_worker(ws: Path) -> None:
    with Store.open(ws) as store:
        job_id = store.submit(
            "tune",
            {"input": "clip.mp4", "op": "tone", "objective": "psnr", "reference": "ref.mkv", "trials": 4,
             "frames": 6, "space": ["contrast"], "preset": "tuned"},
        )  # fmt: skip
        assert Worker(store).run(once=True) == 1
        job = store.get(job_id)
        assert job.state == "done", job.error
        assert (job.frames_done, job.frames_total, job.progress) == (4, 4, 1.0)
        (run,) = store.tuning_runs("tone")
        assert run["job_id"] == job_id and run["state"] == "done" and len(run["trials"]) == 4
        assert run["best_value"] == max(t["value"] for t in run["trials"])
        preset = store.get_preset("tuned")
        assert preset["op"] == "tone" and preset["params"] == run["best_params"]
        assert 0.0 <= preset["params"]["contrast"] <= 3.0
        assert any("tune trial 4/4" in row["message"] for row in store.logs(job_id))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"op": "nope", "objective": "psnr"}, "nope"),
        ({"op": "tone", "objective": "psnr+"}, "cannot read"),
        ({"op": "tone", "objective": "psnr"}, "needs a reference"),
        ({"op": "tone", "objective": "sharpness", "trials": 0}, "trials"),
        ({"op": "tone", "objective": "sharpness", "space": ["nope"]}, "no parameter"),
        ({"op": "tone", "objective": "sharpness", "fixed": {"contrast": "x"}}, "contrast"),
        ({"op": "tone", "objective": "psnr", "reference": "../ref.mkv"}, "outside the workspace"),
        ({"op": "tone", "objective": "sharpness", "colour": 1}, "unknown tune parameter"),
    ],
)
def test_tune_params_are_checked_at_submit(ws: Path, params: dict, message: str) -> None:
    with Store.open(ws) as store:
        with pytest.raises(UsageError, match=message) as info:
            store.submit("tune", {"input": "clip.mp4", **params})
        assert "\n" not in str(info.value)
        assert store.list() == []


def test_tune_input_is_confined(ws: Path) -> None:
    with Store.open(ws) as store, pytest.raises(UsageError, match="outside the workspace"):
        store.submit("tune", {"op": "tone", "objective": "sharpness"}, input="/etc/passwd")


def test_cli_tune_saves_a_preset_and_records_the_run(ws: Path) -> None:
    r = run_cli(
        "tune", "clip.mp4", "--op", "tone", "--objective", "psnr", "--reference", "ref.mkv", "--trials", "3",
        "--frames", "6", "--space", "contrast", "--param", "luma_only=false", "--save-preset", "cli_best",
        "--plot", str(ws / "trials.png"), "--json", "--workspace", ws,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["trials"]) == 3 and 0.0 <= data["best_params"]["contrast"] <= 3.0
    assert (ws / "trials.png").is_file()
    with Store.open(ws) as store:
        assert store.get_preset("cli_best")["params"] == data["best_params"]
        (run,) = store.tuning_runs()
        assert run["id"] == data["run_id"] and run["state"] == "done" and len(run["trials"]) == 3
    table = run_cli(
        "tune", "clip.mp4", "--op", "tone", "--objective", "sharpness", "-n", "2", "--frames", "4",
        "--workspace", ws,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "best (trial" in table.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--op", "nope", "--objective", "psnr"], "nope"),
        (["--op", "tone", "--objective", "psnr**2"], "objective"),
    ],
)
def test_cli_tune_errors_are_one_line(ws: Path, args: list[str], needle: str) -> None:
    r = run_cli("tune", "clip.mp4", *args, "--workspace", ws)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr


def test_every_metric_term_scores(media: tuple[Path, Path]) -> None:
    clip, ref = media
    result = tune(
        clip, "tone", "psnr+ssim+vmaf+0.5*stability+0.1*sharpness", trials=2, reference=ref, frames=4
    )
    for trial in result.trials:
        assert trial["state"] == "complete", trial["error"]
        assert set(trial["terms"]) == {"psnr", "ssim", "vmaf", "stability", "sharpness"}
        assert 0 <= trial["terms"]["vmaf"] <= 100 and 0 <= trial["terms"]["ssim"] <= 1
        weights = {"psnr": 1, "ssim": 1, "vmaf": 1, "stability": 0.5, "sharpness": 0.1}
        assert trial["value"] == pytest.approx(sum(w * trial["scores"][k] for k, w in weights.items()))


def test_a_paused_tune_job_resumes_its_run(ws: Path) -> None:
    class PauseAtTrial2(Store):
        def log(self, job_id: int | None, message: str, level: str = "info") -> None:
            super().log(job_id, message, level)
            if job_id is not None and "tune trial 2/" in message and not getattr(self, "paused_once", False):
                self.paused_once = True
                self.pause(job_id)

    with PauseAtTrial2.open(ws) as store:
        job_id = store.submit(
            "tune",
            {"input": "clip.mp4", "op": "tone", "objective": "sharpness", "trials": 4, "frames": 4,
             "space": ["contrast"]},
        )  # fmt: skip
        Worker(store).run(once=True)
        assert store.get(job_id).state == "paused"
        (run,) = store.tuning_runs()
        assert run["state"] == "paused" and len(run["trials"]) == 2
        first = run["trials"]
        store.resume(job_id)
        Worker(store).run(once=True)
        assert store.get(job_id).state == "done"
        (run,) = store.tuning_runs()
        assert run["state"] == "done" and len(run["trials"]) == 4 and run["trials"][:2] == first


def test_cli_tune_finds_a_known_optimum_within_10_percent(ws: Path) -> None:
    r = run_cli(
        "tune", "clip.mp4", "--op", "tone", "--objective", "psnr", "--reference", "ref.mkv", "--trials", "20",
        "--frames", "6", "--space", "contrast", "--json", "--workspace", ws,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best_params"]["contrast"]
    assert abs(best - TARGET) <= 0.1 * TARGET, best
