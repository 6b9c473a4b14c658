"""Style Lab: A/B two parameter sets of an op on the same frames, rate them, auto-tune the op
against an objective and save the best as a preset."""

from __future__ import annotations

import streamlit as st

from vidlab.core.errors import VidlabError
from vidlab.ui import logic
from vidlab.ui.common import attempt, header, param_widgets

ws, store = header("Style Lab")
videos = logic.list_media(ws, videos_only=True)
ops = logic.op_names()
c1, c2 = st.columns(2)
source = c1.selectbox("clip", videos, key="lab_input")
op = c2.selectbox("op", ops, index=ops.index("cartoon") if "cartoon" in ops else 0, key="lab_op")

st.subheader("A/B")
col_a, col_b = st.columns(2)
with col_a:
    st.markdown("**A**")
    values_a = param_widgets(op, "a")
with col_b:
    st.markdown("**B**")
    values_b = param_widgets(op, "b")

if st.button("Render A and B (first second)", key="ab_render", disabled=source is None):
    pa = attempt(logic.confine_paths, ws, op, values_a)
    pb = attempt(logic.confine_paths, ws, op, values_b)
    if pa is not None and pb is not None:
        with st.spinner("rendering A and B..."):
            res = attempt(logic.ab_frames, ws, source, op, pa, pb)
        if res is not None:
            st.session_state["ab_result"] = (op, *res)
result = st.session_state.get("ab_result")
if result and result[0] == op:
    _, before, img_a, img_b = result
    view = st.radio("view", ["side by side", "slider", "toggle"], horizontal=True, key="ab_view")
    if view == "side by side":
        cols = st.columns(3)
        cols[0].image(before, caption="original", width="stretch")
        cols[1].image(img_a, caption="A", width="stretch")
        cols[2].image(img_b, caption="B", width="stretch")
    elif view == "slider":
        pos = st.slider("wipe (A left, B right)", 0.0, 1.0, 0.5, key="ab_wipe")
        st.image(logic.slider(img_a, img_b, pos), caption="A | B", width="stretch")
    else:
        show_b = st.toggle("show B", key="ab_toggle")
        st.image(img_b if show_b else img_a, caption="B" if show_b else "A", width="stretch")

st.subheader("Rate")
with st.form("rate"):
    which = st.radio("which parameter set", ["A", "B"], horizontal=True, key="rate_which")
    stars = st.select_slider("stars", options=[1, 2, 3, 4, 5], value=3, key="rate_stars")
    note = st.text_area("note", key="rate_note")
    if st.form_submit_button("Save rating", key="rate_submit"):
        values = values_a if which == "A" else values_b
        params = attempt(logic.clean_params, op, values)
        if params is not None and attempt(store.rate, op, int(stars), note, params) is not None:
            st.success(f"rated {op} {which}: {stars} stars")
ratings = store.ratings(op)
if ratings:
    st.dataframe(
        [{"stars": r["stars"], "note": r["note"], "params": r["params"]} for r in ratings[-20:]],
        hide_index=True,
    )

st.subheader("Auto-tune")
names = logic.objectives()
if names is None:
    st.info("auto-tune is not available yet (vidlab.jobs.tune is missing in this install)")
else:
    with st.form("tune"):
        objective = st.selectbox("objective", names, key="tune_objective")
        trials = st.number_input("trials", min_value=1, max_value=500, value=20, key="tune_trials")
        frames = st.number_input("frames per trial", min_value=1, value=30, key="tune_frames")
        reference = st.selectbox("reference (for full-reference metrics)", [None, *videos], key="tune_ref")
        space = st.multiselect("parameters to search (empty: all numeric)",
                               [s["name"] for s in logic.param_specs(op)], key="tune_space")  # fmt: skip
        seed = st.number_input("seed", min_value=0, value=0, key="tune_seed")
        preset = st.text_input("save the best as preset (name, optional)", key="tune_preset")
        if st.form_submit_button("Submit tune job", key="tune_submit"):
            params = attempt(
                logic.tune_params, source, op, objective, trials=int(trials), reference=reference,
                space=space or None, frames=int(frames), seed=int(seed), preset=preset.strip() or None,
            )  # fmt: skip
            if params is not None and source:
                job_id = attempt(logic.submit_tune, store, params)
                if job_id is not None:
                    st.success(f"queued tune job {job_id}")

runs = store.tuning_runs(op)
if runs:
    run_id = st.selectbox("tuning run", [r["id"] for r in reversed(runs)], key="tune_run",
                          format_func=lambda i: f"run {i}")  # fmt: skip
    run = next(r for r in runs if r["id"] == run_id)
    st.caption(f"{run['objective']} · {run['state']} · best {run['best_value']} at {run['best_params']}")
    rows = logic.trials_table(run)
    if rows:
        st.dataframe(rows, hide_index=True)
        st.line_chart({"value": [r["value"] for r in rows]})
    if run.get("best_params"):
        name = st.text_input("preset name", f"{op}-tuned-{run_id}", key="best_name")
        if st.button("Save best as preset", key="save_best"):
            try:
                store.save_preset(name, op, run["best_params"])
                st.success(f"saved preset {name}")
            except VidlabError as exc:
                st.error(str(exc))
else:
    st.caption(f"no tuning runs for {op} yet")
