"""HPT app: ``streamlit run app.py`` (binds to localhost; see .streamlit/config.toml).

One page per job (app_pages/), one shared sidebar (current dataset, current run). Data and runs live
in the workspace folder (``$HPT_WORKSPACE``, default ``./workspace``); the bundled demo dataset is
always there.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import hpt_core and app_pages._shared from here
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app_pages._shared import PAGES, sidebar  # noqa: E402

st.set_page_config(page_title="HPT · hierarchical text classification", page_icon=":material/account_tree:",
                   layout="wide")

page = st.navigation([
    st.Page(PAGES["home"], title="Home", icon=":material/home:", default=True),
    st.Page(PAGES["data"], title="Data", icon=":material/dataset:"),
    st.Page(PAGES["train"], title="Train", icon=":material/model_training:"),
    st.Page(PAGES["results"], title="Results", icon=":material/analytics:"),
    st.Page(PAGES["predict"], title="Predict", icon=":material/batch_prediction:"),
    st.Page(PAGES["label_words"], title="Label words", icon=":material/sell:"),
    st.Page(PAGES["label"], title="Label", icon=":material/edit_note:"),
])
sidebar()
page.run()
