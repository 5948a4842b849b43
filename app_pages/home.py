"""Home: what HPT is, what training would run on, which runs exist, the job queue."""

import pandas as pd
import streamlit as st

from app_pages._shared import (PAGES, current_dataset, device_in_use, device_text, md, state_text, summaries,
                           workspace)
from hpt_core import runs

ws = workspace()
st.title("HPT — hierarchical text classification")
st.markdown(
    "**HPT** (Hierarchy-aware Prompt Tuning, Wang et al., EMNLP 2022) files a text under one or more paths of a "
    "label tree by treating classification as masked-word prediction, the task the language model was pretrained on. "
    "Its prompt holds one `[PRED]` token per depth of the tree, each label is a learned virtual label word, and a graph "
    "attention network over the tree builds the template of each depth from the label words of that depth. "
    "A zero-bounded multi-label cross-entropy loss, trained with the usual masked-language-model loss, decides every "
    "depth at once, which helps most with rare labels and small training sets."
)

left, right = st.columns(2)
# Finding the device imports torch (seconds on a first visit): the rest of the page is drawn first,
# and this slot shows a spinner until it is filled (at the end of the script).
device_slot = left.empty()
device_slot.caption(":material/progress_activity: Checking which device training will use…")
info = ws.dataset_info(current_dataset())
if info.counts:
    right.metric("Current dataset", info.name, help="Change it in the sidebar.")
    right.caption(f"{info.labels} labels, depth {info.depth} · "
                  + " · ".join(f"{split} {n} documents" for split, n in info.counts.items()))

st.subheader("Queue")
jobs = ws.active_jobs()
if jobs:
    rows = []
    for position, (run_dir, status) in enumerate(jobs, start=1):
        rows.append({"#": position, "run": run_dir.name, "state": state_text(status, runs.run_progress(run_dir)),
                     "device": device_text(status)})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.page_link(PAGES["train"], label="Follow them on the Train page", icon=":material/model_training:")
else:
    st.caption("No job is running or queued.")

st.subheader("Runs")
run_dirs = ws.list_runs()
if run_dirs:
    # Finished runs apart from the stopped ones: a cancelled or failed run has no figures to compare.
    table = pd.DataFrame(summaries(run_dirs))
    stopped = table["state"].isin(["failed", "cancelled", "interrupted"])
    active = table["state"].isin(list(runs.ACTIVE_STATES))
    st.dataframe(table[~stopped & ~active], hide_index=True)
    if active.any():
        st.caption(f"{int(active.sum())} run(s) queued or running: see the queue above.")
    if stopped.any():
        st.markdown(f"**Cancelled, failed or interrupted** ({int(stopped.sum())}): retry or delete them on the Train page")
        st.dataframe(table[stopped][["run", "method", "dataset", "state", "started"]], hide_index=True)
else:
    st.info(f"No runs yet in {md(ws.runs_dir)}. Start with the bundled demo: look at it on the Data page, "
            "then launch HPT on the Train page.", icon=":material/info:")

st.subheader("Next steps")
cols = st.columns(5)
for col, (key, label, icon, what) in zip(cols, [
    ("data", "Data", ":material/dataset:", "upload a taxonomy and a corpus, or look at the demo"),
    ("train", "Train", ":material/model_training:", "launch HPT, an ablation or a baseline; follow it"),
    ("results", "Results", ":material/analytics:", "F1 per depth and frequency, per label; compare runs"),
    ("predict", "Predict", ":material/batch_prediction:", "classify a text or a file of texts"),
    ("label_words", "Label words", ":material/sell:", "nearest words of the learned label words"),
]):
    with col:
        st.page_link(PAGES[key], label=label, icon=icon)
        st.caption(what)

with device_slot:
    with st.spinner("Checking which device training will use…"):
        device = device_in_use()
device_slot.metric("Training will run on", device, help="One job per device at a time; later launches wait in the queue.")
