"""``vidlab tune``: search an op's parameters with Optuna for the best score of an objective
(PSNR/SSIM/VMAF against a reference, temporal stability, sharpness, a model of your ratings),
record the run in the workspace's store (the UI lists it) and optionally save the best as a
preset. The library is :mod:`vidlab.jobs.tune`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vidlab.cli.common import app, err, out, table
from vidlab.core.errors import UsageError


def _params(items: list[str]) -> dict[str, str]:
    fixed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected KEY=VALUE, got '{item}'", param="param")
        fixed[key.strip()] = value
    return fixed


@app.command("tune")
def tune_cmd(
    input: Annotated[str, typer.Argument(help="Input video (in the workspace).")],
    op: Annotated[str, typer.Option("--op", help="The op to tune (see `vidlab ops`).")],
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            help="What to maximise: psnr, ssim, vmaf (need --reference), stability, sharpness, "
            "rating; weighted sums such as 'psnr+0.5*stability'.",
        ),
    ],
    trials: Annotated[int, typer.Option("--trials", "-n", help="How many trials.")] = 20,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference video for psnr/ssim/vmaf.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Hold a parameter: KEY=VALUE (repeatable).")
    ] = None,
    space: Annotated[str | None, typer.Option("--space", help="Tune only these parameters: KEY,KEY.")] = None,
    frames: Annotated[int, typer.Option(help="Frames of the input each trial measures.")] = 24,
    seed: Annotated[int, typer.Option(help="Sampler seed (the same seed, the same trials).")] = 0,
    save_preset: Annotated[
        str | None, typer.Option("--save-preset", help="Save the best parameters as this preset.")
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of the trials.")] = None,
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace folder (default: the current folder).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Auto-tune an op's parameters on the input's first frames."""
    from vidlab.cli.common import ctrl_c_cancels
    from vidlab.jobs.store import Store
    from vidlab.jobs.tune import best_so_far, parse_objective, plot_trials, search_space, tune

    terms = parse_objective(objective)  # a bad objective or op fails before anything is opened
    fixed = _params(param or [])
    keys = [k.strip() for k in space.split(",") if k.strip()] if space else None
    search_space(op, keys, fixed)
    with Store.open(workspace) as store:
        ws = store.workspace
        src = ws.confine(input, param="input")
        if not src.is_file():
            raise UsageError("no such file", ws.relative(src), param="input")
        ref = None
        if reference is not None:
            ref = ws.confine(reference, param="reference")
            if not ref.is_file():
                raise UsageError("no such file", ws.relative(ref), param="reference")
        ratings = store.ratings(target=op) if any(o.name == "rating" for _, o in terms) else None
        run_id = store.create_tuning_run(op, objective)
        seen: list[dict[str, Any]] = []
        bar = None
        if not as_json and err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            bar = Progress(TextColumn("[bold]tune"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("trials  best {task.fields[best]}"), console=err.real())  # fmt: skip
            task = bar.add_task("tune", total=trials, best="-")
            bar.start()

        def on_trial(trial: dict[str, Any]) -> None:
            seen.append(trial)
            best_params, best_value = best_so_far(seen)
            store.update_tuning_run(run_id, trials=seen, best_params=best_params, best_value=best_value)
            if bar is not None:
                bar.update(task, advance=1, best="-" if best_value is None else f"{best_value:.4f}")

        state = "failed"
        try:
            with ctrl_c_cancels() as token:
                result = tune(
                    src, op, objective, trials=trials, reference=ref, fixed=fixed,
                    space=keys, frames=frames, seed=seed, ratings=ratings,
                    on_trial=on_trial, cancel=token,
                )  # fmt: skip
            state = "done"
        except BaseException as exc:
            from vidlab.core.events import Cancelled

            if isinstance(exc, Cancelled):
                state = "cancelled"
            raise
        finally:
            if bar is not None:
                bar.stop()
            store.update_tuning_run(run_id, state=state)
        store.update_tuning_run(run_id, trials=result.trials, best_params=result.best_params,
                                best_value=result.best_value)  # fmt: skip
        if save_preset:
            store.save_preset(save_preset, op, result.best_params)
        if plot is not None:
            plot_trials(result.trials, plot)
    if as_json:
        print(json.dumps({**result.to_dict(), "run_id": run_id, "preset": save_preset}, indent=2))
        return
    _show(result, run_id, save_preset, plot)


def _show(result: Any, run_id: int, preset: str | None, plot: Path | None) -> None:
    from rich.text import Text

    names = list(result.trials[0]["params"]) if result.trials else []
    terms = sorted({k for t in result.trials for k in t["terms"]})
    t = table(title=f"tune {result.op}: {result.objective} (run {run_id})")
    for col in ("#", *names, *terms, "value", "s"):
        t.add_column(col, justify="right" if col not in names else "left")
    best = max((x for x in result.trials if x["value"] is not None), key=lambda x: x["value"])
    for trial in result.trials:
        cells = [str(trial["number"])]
        cells += [_fmt(trial["params"].get(n)) for n in names]
        cells += [_fmt(trial["terms"].get(k)) for k in terms]
        cells += ["failed" if trial["value"] is None else f"{trial['value']:.4f}", f"{trial['seconds']:.2f}"]
        t.add_row(*(Text(c) for c in cells), style="bold green" if trial is best else None)
    out.print(t)
    shown = " ".join(f"{k}={_fmt(v)}" for k, v in result.best_params.items())
    out.print(Text(f"best (trial {best['number']}, {result.best_value:.4f}): {result.op} {shown}"))
    if preset:
        out.print(Text(f"saved as preset '{preset}'"))
    if plot is not None:
        out.print(Text(f"plot: {plot}"))


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
