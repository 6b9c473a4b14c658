"""``vidlab ui``: the Streamlit entry script (``streamlit run app.py -- --workspace DIR``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="vidlab", layout="wide")
nav = st.navigation(
    [
        st.Page(PAGES / "dashboard.py", title="Dashboard", default=True),
        st.Page(PAGES / "queue.py", title="Queue"),
        st.Page(PAGES / "style_lab.py", title="Style Lab"),
        st.Page(PAGES / "trainer.py", title="Trainer"),
        st.Page(PAGES / "settings.py", title="Settings"),
    ]
)
nav.run()
