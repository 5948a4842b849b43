"""Label words: the nearest vocabulary words of a label's learned label word (the paper's Table 4)."""

import pandas as pd
import streamlit as st

from hpt_core import runs, viz
from hpt_core.errors import HPTInputError
from app_pages._shared import (csv_bytes, md, neighbours, predictor, require_predictor, runs_with_models,
                           same_taxonomy, show_error, summaries, tree_chart)

LABEL_KEY = "lw_label"
TREE_KEY = "lw_tree"

st.title("Label words")
st.caption("Each label is a learned virtual word; its nearest words in the backbone's vocabulary (cosine similarity) "
           "show what it has learned. The paper's Table 4 compares HPT with r.m. hierarchy injection.")
run_dir, model = require_predictor()
h = model.hierarchy
if model.model.label_words is None:
    st.info(f"Run **{md(run_dir.name)}** uses the method {md(model.model.config.method)}, which scores labels without "
            "learned label words. Pick an HPT run (or an ablation / soft-prompt run) in the sidebar.",
            icon=":material/info:")
    st.stop()

if model.model.config.label_word_encoding == "encoder":
    st.caption("This run's label words started from the backbone's encoding of the label names (the small-data "
               "recipe), not from word embeddings as in the paper, so they live nearer the encoder's output space; "
               "their vocabulary neighbours still read well but compare best with runs of the same recipe.")

k = st.slider("Nearest words per label (k)", 1, 30, 8, key="lw_k")
try:
    table = neighbours(run_dir, k)
except Exception as err:  # HPTInputError for a method without label words; anything else is shown too
    show_error(err, "Cannot inspect the label words")
    st.stop()

if st.session_state.get(LABEL_KEY) not in h:
    st.session_state[LABEL_KEY] = h.labels_at_depth(h.max_depth)[0]


def picked_on_tree() -> None:
    """A click on a tree node (a dot, or a box of the icicle) makes it the label shown (the search box follows)."""
    event = st.session_state.get(TREE_KEY)
    label = viz.clicked_label(h, event.selection if event else None)
    if label in h:
        st.session_state[LABEL_KEY] = label


def words(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    return frame.loc[frame["label"] == label, ["rank", "token", "similarity"]]


def show_words(frame: pd.DataFrame, label: str, where=st) -> None:
    where.dataframe(words(frame, label), hide_index=True, column_config={
        "similarity": st.column_config.ProgressColumn(format="%.3f", min_value=-1.0, max_value=1.0)})


left, right = st.columns([3, 2])
with right:
    label = st.selectbox("Label (type to search)", h.labels, key=LABEL_KEY, format_func=lambda x: " › ".join(h.path(x)))
counts = (runs.read_json(run_dir / runs.METRICS, {}) or {}).get("train_counts")
with left:
    sizes = counts if counts and len(counts) == len(h) else None
    tree_chart(viz.label_tree_figure(h, sizes, highlight=[label], focus=label, highlight_name="selected label",
                                     title="Click a label" + (" (red: the selected one and its path)"
                                                              if len(h) > viz.MAX_NAMED_NODES else "")),
               key=TREE_KEY, on_select=picked_on_tree, selection_mode="points")
with right:
    st.markdown(f"**{md(label)}** (depth {h.depth(label)})")
    show_words(table, label)

parent = h.parent(label)
siblings = [s for s in h.children(parent if parent else h.root) if s != label]
c1, c2 = st.columns(2)
with c1:
    st.markdown(f"**Parent: {md(parent)}**" if parent else "**Parent**: the root (no label word)")
    if parent:
        show_words(table, parent)
with c2:
    st.markdown(f"**Siblings** ({len(siblings)})")
    if siblings:
        sibling_rows = [{"sibling": s, "nearest words": ", ".join(words(table, s)["token"])} for s in siblings]
        st.dataframe(pd.DataFrame(sibling_rows), hide_index=True)
    else:
        st.caption("None.")

# ---- the same label in a second run --------------------------------------------------------------------
st.subheader("Compared with another run")
others = [p for p in runs_with_models() if p != run_dir]
rows = {row["run"]: row for row in summaries(others)}
if not others:
    st.caption("Train a second run (e.g. rm-injection, 'r.m. hierarchy injection') to compare its label words here.")
else:
    # Only runs that can show this label: the same taxonomy, and label words to show.
    compatible = [p for p in others if same_taxonomy(run_dir, p)]
    names = [p.name for p in compatible]
    if not names:
        st.caption(f"No other run with learned label words on this taxonomy ({len(others)} run(s) on other "
                   "taxonomies or without label words). Train e.g. rm-injection on the same dataset.")
        other_name = None
    else:
        preferred = [n for n in names if rows[n]["method"] == "rm-injection"]
        if st.session_state.get("lw_other") not in names:
            st.session_state["lw_other"] = (preferred or names)[0]
        other_name = st.selectbox("Second run (same taxonomy)", names, key="lw_other",
                                  format_func=lambda n: f"{n} · {rows[n]['method']} · {rows[n]['dataset']}")
if others and other_name:
    other_dir = run_dir.parent / other_name
    try:
        other_model = predictor(other_dir)
        if other_model.model.label_words is None:
            raise HPTInputError(f"method {other_model.model.config.method!r} has no learned label words")
        if label not in other_model.hierarchy:
            raise HPTInputError(f"label {label!r} is not in that run's taxonomy")
        other_table = neighbours(other_dir, k)
    except Exception as err:  # the other run may be gone or damaged
        show_error(err, "Cannot compare")
    else:
        a, b = st.columns(2)
        a.markdown(f"**{md(run_dir.name)}** ({md(model.model.config.method)})")
        show_words(table, label, a)
        b.markdown(f"**{md(other_name)}** ({md(other_model.model.config.method)})")
        show_words(other_table, label, b)

st.download_button("Download all labels' nearest words (CSV)", csv_bytes(table),
                   file_name=f"label-words-{run_dir.name}-k{k}.csv", mime="text/csv", icon=":material/download:",
                   on_click="ignore")
