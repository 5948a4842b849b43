"""The Predict page's zero-shot mode: predictions from the current dataset's label names, before any training.

Called from app_pages/predict.py before it asks for a trained run, so it works right after a taxonomy
is uploaded. No torch here: the classifier is ``hpt_core.zero_shot.ZeroShotClassifier``, cached.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from hpt_core import viz
from app_pages._shared import _stamp, chart, current_dataset, md, show_error, tree_chart, workspace

#: Dev documents encoded to choose the threshold (the first ones): keeps the first use quick.
MAX_DEV_DOCUMENTS = 500


@st.cache_resource(max_entries=2, show_spinner="Loading the sentence encoder and choosing the threshold on dev…")
def _classifier(root: str, name: str, stamp: int):
    from hpt_core.workspace import Workspace
    from hpt_core.zero_shot import ZeroShotClassifier

    dataset = Workspace(root).load_dataset(name)
    classifier = ZeroShotClassifier.from_backbone(dataset.hierarchy)
    dev = dataset.splits.get("dev")
    if dev:
        classifier.fit_threshold(dev, max_documents=MAX_DEV_DOCUMENTS)
    return classifier, len(dev or [])


def classifier_for(name: str):
    """``(classifier, dev documents used)`` of dataset ``name`` (cached until its folder changes)."""
    ws = workspace()
    return _classifier(str(ws.root), name, _stamp(ws.dataset_dir(name)))


def zero_shot_section() -> bool:
    """A toggle; when on, the zero-shot predictor of the current dataset. Returns whether it is on."""
    on = st.toggle("Zero-shot: no training, the current dataset's label names", key="zs_on",
                   help="The bundled sentence encoder compares the text with each label's name (and description), "
                        "top-down on the tree; the threshold is chosen on the dataset's dev split when it has one.")
    if not on:
        return False
    name = current_dataset()
    try:
        classifier, n_dev = classifier_for(name)
    except Exception as err:  # unreadable dataset or encoder: say so, never crash the page
        show_error(err, "Cannot build the zero-shot predictor")
        return True
    h = classifier.hierarchy
    threshold = classifier.config.threshold
    st.caption(f"Dataset **{md(name)}** ({len(h)} labels). "
               + (f"Threshold {threshold:.3f}, chosen on {n_dev} dev documents." if threshold is not None
                  else "No dev split: every text gets a whole path.")
               + " Change the dataset in the sidebar.")
    with st.form("zs_form"):
        text = st.text_area("Text to classify (zero-shot)", height=120, max_chars=20_000, key="zs_text",
                            placeholder="Paste or type a document…")
        submitted = st.form_submit_button("Predict (zero-shot)", type="primary", icon=":material/play_arrow:")
    if submitted:
        if not text.strip():
            st.warning("Type or paste some text first.", icon=":material/edit:")
        else:
            try:
                st.session_state["zs_last"] = (name, classifier.predict([text])[0], classifier.last_latency_s)
            except Exception as err:
                show_error(err, "Prediction failed")
    last = st.session_state.get("zs_last")
    if last and last[0] == name:
        _, p, latency = last
        c = st.columns(2)
        c[0].metric("Latency", f"{1000 * (latency or 0):.0f} ms")
        c[1].metric("Labels", len(p.labels))
        st.markdown("**Paths**: " + (" · ".join(" › ".join(md(x) for x in path) for path in p.paths)
                                      if p.paths else "no label passed the threshold at depth 1"))
        by_depth = p.by_depth(h)
        left, right = st.columns([3, 2])
        # the same drawing as a trained model's prediction: an icicle with the path drawn wide on large trees
        tree_chart(viz.label_tree_figure(h, highlight=p.paths or None, emphasis=True, title="Zero-shot path"),
                   key="zs_tree", where=left)
        chart(viz.scores_figure(by_depth, top=5, title="Top similarities per depth"), key="zs_scores", where=right)
        st.dataframe(pd.DataFrame([{"label": label, "depth": d, "similarity": round(s, 4), "predicted": label in p.labels}
                                   for d, items in by_depth.items() for label, s in items]), hide_index=True)
    return True
