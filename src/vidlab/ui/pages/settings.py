"""Settings: hardware (GPU, driver, CUDA, VRAM, temperature, NVENC, codec recommendation),
limits kept in the workspace, and preset management."""

from __future__ import annotations

import streamlit as st

from vidlab.core.errors import VidlabError
from vidlab.ui import logic
from vidlab.ui.common import attempt, header

ws, store = header("Settings")

st.subheader("Hardware")
try:
    info = logic.hardware()
except Exception as exc:
    info = None
    st.warning(f"the hardware probe failed: {type(exc).__name__}: {exc}")
if info is None:
    st.info("hardware report not available yet (vidlab.lab.hardware is missing in this install)")
else:
    st.write(logic.hardware_line(info))
    gpus = info.get("gpus") or []
    if gpus:
        st.dataframe(gpus, hide_index=True)  # name, driver, CUDA, VRAM, temperature
    else:
        st.write(f"no NVIDIA GPU: {info.get('gpu_reason') or 'none found'}")
    nvenc = info.get("nvenc")
    st.write("NVENC (an encoder actually opened):")
    st.json(nvenc if isinstance(nvenc, dict) else {"nvenc": nvenc}, expanded=True)
    if info.get("nvenc_reason"):
        st.caption(str(info["nvenc_reason"]))
    rec = info.get("recommendation")
    if isinstance(rec, dict):
        st.success(f"codec recommendation: {rec.get('codec')} ({rec.get('why', '')})")
    elif rec:
        st.success(f"codec recommendation: {rec}")
    with st.expander("everything the probe found"):
        st.json(info, expanded=False)

st.subheader("Limits")
current = attempt(logic.load_settings, ws) or logic.Settings()
with st.form("limits"):
    concurrency = st.number_input("concurrent jobs per worker", min_value=1, value=current.concurrency,
                                  key="set_concurrency")  # fmt: skip
    workers = st.number_input(
        "worker processes per job", min_value=1, value=current.workers, key="set_workers"
    )
    chunk = st.number_input("chunk size (seconds)", min_value=0.1, value=float(current.chunk_seconds),
                            key="set_chunk")  # fmt: skip
    upload = st.number_input(
        "upload limit (MiB)", min_value=1, value=current.upload_limit_mb, key="set_upload"
    )
    if st.form_submit_button("Save", key="set_save"):
        new = logic.Settings(int(concurrency), int(workers), float(chunk), int(upload))
        path = attempt(logic.save_settings, ws, new)
        if path is not None:
            st.success(f"saved {ws.relative(path)}; run `vidlab worker --concurrency {new.concurrency}`")

st.subheader("Presets")
presets = store.presets()
if presets:
    st.dataframe(
        [{"name": p["name"], "op": p["op"], "params": p["params"]} for p in presets], hide_index=True
    )
    name = st.selectbox("preset", [p["name"] for p in presets], key="set_preset")
    if st.button("Delete preset", key="set_delete"):
        try:
            store.delete_preset(name)
            st.rerun()
        except VidlabError as exc:
            st.error(str(exc))
else:
    st.caption("no saved presets (save one from a tuning run in the Style Lab)")
with st.expander("built-in style presets"):
    st.write(", ".join(f"{s}/{level}" for s in logic.styles() for level in ("Speed", "Balanced", "Quality")))
