"""Queue: every job with its progress, fps and ETA; pause, resume, cancel, retry and remove,
one by one or in bulk; details, events and logs. It refreshes itself."""

from __future__ import annotations

import streamlit as st

from vidlab.ui import logic
from vidlab.ui.common import header

ws, store = header("Queue")
auto = st.toggle("refresh every 2 s", value=True, key="auto")


def _act(action: str, ids: list[int]) -> None:
    errors = logic.apply_action(store, action, ids)
    st.session_state["queue_msgs"] = errors or [f"{action}: job(s) {', '.join(map(str, ids))}"]
    st.session_state["queue_ok"] = not errors


@st.fragment(run_every=2.0 if auto else None)
def jobs_view() -> None:
    for msg in st.session_state.pop("queue_msgs", []):
        (st.success if st.session_state.get("queue_ok") else st.error)(msg)
    jobs = store.list()
    if not jobs:
        st.caption("no jobs yet: submit some from the Dashboard (or `vidlab jobs submit`)")
        return
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.state] = counts.get(j.state, 0) + 1
    st.caption(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

    with st.container(border=True):
        c1, c2, c3 = st.columns([3, 2, 1])
        picked = c1.multiselect("jobs", [j.id for j in jobs], key="bulk_ids",
                                format_func=lambda i: f"job {i}")  # fmt: skip
        action = c2.selectbox("bulk action", logic.ACTIONS, key="bulk_action")
        if c3.button("apply", key="bulk_apply", disabled=not picked):
            _act(action, picked)
            jobs = store.list()

    for job in jobs:
        row = logic.job_row(job, ws)
        with st.container(border=True):
            top = st.columns([1, 3, 2, 4])
            top[0].markdown(f"**#{job.id}** {job.kind}")
            top[1].progress(row["progress"] or 0.0, text=f"{row['state']} · {row['frames']}")
            top[2].caption(f"fps {row['fps'] or '-'} · ETA {row['eta'] or '-'}")
            buttons = top[3].container(horizontal=True)  # natural widths: equal columns cut labels
            allowed = logic.actions_for(job)
            for action in logic.ACTIONS:
                if buttons.button(action, key=f"{action}-{job.id}", disabled=action not in allowed):
                    _act(action, [job.id])
                    st.rerun()
            st.caption(f"{row['what']}  \n{row['input']} → {row['output']}")
            if job.error:
                st.error(job.error)
            with st.expander("details, events and logs"):
                st.json(job.to_dict(), expanded=False)
                st.dataframe(store.events(job.id), hide_index=True)
                for line in store.logs(job.id)[-200:]:
                    st.text(f"[{line['level']}] {line['message']}")


jobs_view()
