"""Trainer: scan a dataset folder, start a training run as a job, watch its loss, list its
checkpoints, export one to ONNX or roll the run back to it."""

from __future__ import annotations

import streamlit as st

from vidlab.core.errors import VidlabError
from vidlab.ui import logic
from vidlab.ui.common import attempt, header

ws, store = header("Trainer")

st.subheader("Dataset")
folders = logic.list_folders(ws)
folder = st.selectbox("dataset folder (UCF-101 style: one subfolder per class)", folders, key="ds_folder")
scan = attempt(logic.scan_dataset, ws, folder)
if scan is not None:
    st.write(f"{scan['videos']} video(s) in {len(scan['classes'])} class(es)")
    if scan["classes"]:
        st.dataframe([{"class": k or "(top level)", "videos": v} for k, v in scan["classes"].items()],
                     hide_index=True)  # fmt: skip

st.subheader("New training run")
with st.form("train"):
    task = st.selectbox("task", logic.TRAIN_TASKS, key="tr_task")
    c1, c2, c3 = st.columns(3)
    steps = c1.number_input("steps", min_value=1, value=200, key="tr_steps")
    batch = c2.number_input("batch size", min_value=1, value=4, key="tr_batch")
    lr = c3.number_input("learning rate", min_value=0.0, value=1e-3, format="%.5f", key="tr_lr")
    crop = c1.number_input("crop", min_value=8, value=64, key="tr_crop")
    val_every = c2.number_input("validate every", min_value=1, value=50, key="tr_val")
    source = st.radio("data", ["the dataset folder above", "generated clips"], key="tr_source")
    generate = st.number_input("generated clips", min_value=2, value=4, key="tr_generate")
    photos = st.text_input(
        "photographs for generated clips (optional: a folder in the workspace)", key="tr_photos"
    )
    init = st.text_input("fine-tune from a checkpoint (optional: a .pt in the workspace)", key="tr_init")
    style_image = st.text_input("style image (style task; a path in the workspace)", key="tr_style")
    if st.form_submit_button("Start training job", key="tr_submit"):
        extra = {}
        try:
            if task == "style" and style_image.strip():
                extra["style_image"] = str(ws.confine(style_image.strip(), param="style_image"))
            params = logic.train_params(
                task, steps=int(steps), batch_size=int(batch), lr=float(lr), crop=int(crop),
                val_every=int(val_every), data=folder if source.startswith("the dataset") else None,
                generate=int(generate), extra_options=extra, init=init.strip() or None,
                photos=photos.strip() or None,
            )  # fmt: skip
            job_id = store.submit("train", params)
            st.success(f"queued training job {job_id}")
        except VidlabError as exc:
            st.error(str(exc))

st.subheader("Runs")
jobs = store.list(kind="train")
if not jobs:
    st.caption("no training jobs yet")
else:
    job_id = st.selectbox("run", [j.id for j in jobs], key="tr_run",
                          format_func=lambda i: f"job {i}")  # fmt: skip
    run = logic.run_dir(store, job_id)

    @st.fragment(run_every=3.0)
    def live() -> None:
        job = store.get(job_id)
        st.progress(
            job.progress or 0.0, text=f"{job.state} · step {job.frames_done}/{job.frames_total or '?'}"
        )
        history = logic.loss_history(run)
        if history:
            chart = {
                "train_loss": [r.get("train_loss") for r in history],
                "val_loss": [r.get("val_loss") for r in history],
            }
            st.line_chart(chart)
        else:
            st.caption("no log.csv yet")

    live()
    ckpts = logic.checkpoints(run)
    if ckpts:
        st.dataframe(ckpts, hide_index=True)
        name = st.selectbox("checkpoint", [c["name"] for c in ckpts], key="tr_ckpt")
        c1, c2 = st.columns(2)
        out = c1.text_input("ONNX file", f"models/job{job_id}-{name.removesuffix('.pt')}.onnx", key="tr_onnx")
        if c1.button("Export ONNX", key="tr_export"):
            with st.spinner("exporting..."):
                report = attempt(logic.export_checkpoint, ws, run, name, out)
            if report is not None:
                st.success(f"exported {out}")
        running = store.get(job_id).state == "running"
        c2.caption("rollback copies the checkpoint to last.pt: a resumed run continues from it")
        rolled = c2.button("Roll back to it", key="tr_rollback", disabled=running)
        if rolled and attempt(logic.rollback, run, name) is not None:
            st.success(f"last.pt is now {name} (the previous one is last.before-rollback.pt)")
    else:
        st.caption("no checkpoints yet")
