"""Dashboard: pick or upload inputs, choose styles or ops and a preset level, preview 5 s,
submit jobs; a compact hardware status."""

from __future__ import annotations

import streamlit as st

from vidlab.pipeline.presets import LEVELS
from vidlab.ui import logic
from vidlab.ui.common import attempt, header


@st.cache_data(ttl=300, show_spinner=False)
def _hardware_line() -> str:
    try:
        return logic.hardware_line(logic.hardware())
    except Exception as exc:  # a broken probe must not take the dashboard down
        return f"hardware status unavailable ({type(exc).__name__})"


ws, store = header("vidlab dashboard")
settings = attempt(logic.load_settings, ws) or logic.Settings()
st.info(f"Hardware: {_hardware_line()}")

st.subheader("Inputs")
with st.expander("Upload videos or images"):
    st.caption(f"limit {settings.upload_limit_mb} MiB per file; saved into {logic.UPLOAD_DIR}/")
    uploads = st.file_uploader("files", accept_multiple_files=True, key="uploads")
    saved: set[str] = st.session_state.setdefault("saved_uploads", set())
    for up in uploads or []:
        if up.file_id in saved:
            continue
        path = attempt(
            logic.save_upload, ws, up.name, up, limit_bytes=settings.upload_limit_bytes, size=up.size
        )
        saved.add(up.file_id)
        if path is not None:
            st.success(f"saved {ws.relative(path)}")

media = logic.list_media(ws)
inputs = st.multiselect("files in the workspace", media, default=media[:1], key="inputs")

st.subheader("What to do")
mode = st.radio("mode", ["Styles", "Ops recipe"], horizontal=True, key="mode")
level = st.radio("preset", list(LEVELS), index=1, horizontal=True, key="level")
chosen_styles: list[str] = []
recipe_text = ""
if mode == "Styles":
    all_styles = logic.styles()
    chosen_styles = st.multiselect("styles (one job per style and input)", all_styles,
                                   default=all_styles[:1], key="styles")  # fmt: skip
else:
    ops = st.multiselect("ops, in order", logic.op_names(), default=["denoise"], key="ops")
    recipe_text = st.text_input("recipe (edit parameters as name=value)", " | ".join(ops), key="recipe")

with st.expander("Advanced settings"):
    codec = st.selectbox("codec", logic.CODECS, key="codec")
    crf = st.number_input("CRF", min_value=0.0, max_value=63.0, value=18.0, key="crf")
    chunk = st.number_input(
        "chunk size (seconds)", min_value=0.1, value=float(settings.chunk_seconds), key="chunk"
    )
    stabilize = st.selectbox("temporal stabilization", logic.STABILIZE, key="stabilize")
    workers = st.number_input(
        "worker processes per job", min_value=1, value=int(settings.workers), key="workers"
    )


def _params(style: str | None) -> dict:
    return logic.build_render_params(
        style=style, level=level, recipe=(recipe_text or None) if style is None else None, codec=codec,
        crf=float(crf), chunk_seconds=float(chunk), stabilize=stabilize, workers=int(workers),
    )  # fmt: skip


targets: list[str | None] = list(chosen_styles) if mode == "Styles" else [None]

st.subheader("Preview (first 5 seconds)")
if inputs and targets:
    col1, col2 = st.columns(2)
    pv_input = col1.selectbox("input", inputs, key="pv_input")
    pv_target = col2.selectbox("style", targets, key="pv_target") if mode == "Styles" else None
    if st.button("Make preview", key="preview"):
        params = attempt(_params, pv_target)
        if params is not None:
            with st.spinner("rendering 5 seconds..."):
                res = attempt(logic.preview_frames, ws, pv_input, logic.recipe_of(params))
            if res is not None:
                st.session_state["pv_result"] = res
    if "pv_result" in st.session_state:
        before, after, clip = st.session_state["pv_result"]
        view = st.radio("view", ["side by side", "slider"], horizontal=True, key="pv_view")
        if view == "side by side":
            c1, c2 = st.columns(2)
            c1.image(before, caption="before", width="stretch")
            c2.image(after, caption="after", width="stretch")
        else:
            pos = st.slider("wipe", 0.0, 1.0, 0.5, key="pv_wipe")
            st.image(logic.slider(before, after, pos), caption="before | after", width="stretch")
        st.video(str(clip))
else:
    st.caption("choose an input and a style or recipe first")

st.subheader("Submit")
if st.button("Submit jobs", type="primary", key="submit", disabled=not (inputs and targets)):
    ids: list[int] = []
    for target in targets:
        params = attempt(_params, target)
        if params is None:
            continue
        tag = f"{target}-{level}" if target else "recipe"
        made = attempt(logic.submit_renders, store, inputs, params, tag)
        ids += made or []
    if ids:
        st.success(
            f"queued job(s) {', '.join(map(str, ids))}: see the Queue page (a `vidlab worker` runs them)"
        )
