"""The web UI: a Streamlit multi-page app (``vidlab ui``) over the job store. Page modules are
thin; what they do lives in :mod:`vidlab.ui.logic` (tested without Streamlit)."""
