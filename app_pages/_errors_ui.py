"""The Results page's error browser: documents with gold and predicted paths, filters, one document opened
with its explanation, per-parent confusion between children, downloads. The tables come from
``hpt_core.error_analysis`` (the same as ``evaluate --errors FILE``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages._explain_ui import explain_section
from app_pages._shared import (PAGES, _stamp, adopt_files_form, csv_bytes, md, model_stamp, predictor, show_error,
                           workspace)

ANY = "any"
ALL_DOCUMENTS = "all documents"
#: At most this many documents go to the Label page at once.
MAX_RELABEL = 200


@st.cache_data(max_entries=8, show_spinner="Finding the errors…")
def _analysis(run_dir: str, data: str, stamp: int, data_stamp: int):
    from hpt_core.error_analysis import analyse_run

    analysis, _ = analyse_run(run_dir, data)
    return analysis


def analysis_of(run_dir: Path, data: str):
    """The run's error analysis on a corpus file (cached until the model or the file changes)."""
    return _analysis(str(run_dir), str(data), model_stamp(run_dir), _stamp(Path(data)))


def error_browser(run_dir: Path, split: str, data: str) -> None:
    from hpt_core.error_analysis import ERROR_KINDS, filter_documents, parents_with_children, sibling_confusion

    try:
        analysis = analysis_of(run_dir, data)
        model = predictor(run_dir)
    except Exception as err:  # unreadable file or model: say so, never crash the page
        show_error(err, "Cannot analyse the errors")
        return
    h = model.hierarchy
    docs = analysis.documents
    wrong = int((~docs["correct"]).sum())
    counts = analysis.errors["kind"].value_counts()
    st.caption(f"{wrong} of {len(docs)} {split} documents have at least one error (hierarchy-consistent decision). "
               + ", ".join(f"{kind}: {int(counts.get(kind, 0))}" for kind in ERROR_KINDS) + ".")

    c = st.columns(3)
    kind = c[0].selectbox("Error kind", [ANY, *ERROR_KINDS, ALL_DOCUMENTS], key="err_kind",
                          help="right parent wrong child: the branch was right, the child below it wrong; wrong sibling: "
                               "a wrong branch; missed: the path stops short; spurious: predicted beyond or beside the gold.")
    depth = c[1].selectbox("Depth", [ANY, *range(1, h.max_depth + 1)], key="err_depth")
    label = c[2].selectbox("Label", [ANY, *h.labels], key="err_label")
    try:
        shown = filter_documents(analysis, label=None if label == ANY else label,
                                 depth=None if depth == ANY else int(depth),
                                 kind=None if kind in (ANY, ALL_DOCUMENTS) else kind,
                                 include_correct=kind == ALL_DOCUMENTS)
    except Exception as err:
        show_error(err, "Cannot filter")
        return
    # The paths first and the text last: a wide text column pushed gold and predicted off-screen.
    st.dataframe(shown[["doc", "gold", "predicted", "kinds", "error_depths", "text", "predicted_scores"]],
                 hide_index=True, column_config={"gold": st.column_config.TextColumn(width="medium"),
                                                 "predicted": st.column_config.TextColumn(width="medium"),
                                                 "text": st.column_config.TextColumn(width="medium")})
    left, right = st.columns(2)
    left.download_button(f"Download these {len(shown)} documents (CSV)", csv_bytes(shown),
                         file_name=f"{run_dir.name}-{split}-errors.csv", mime="text/csv", key="err_download",
                         icon=":material/download:", on_click="ignore")
    right.download_button("Download every error (CSV, one row per error)", csv_bytes(analysis.errors),
                          file_name=f"{run_dir.name}-{split}-error-list.csv", mime="text/csv", key="err_download_all",
                          icon=":material/download:", on_click="ignore")

    relabel_button(run_dir, split, data, analysis, shown, h)

    if not shown.empty:
        choice = st.selectbox("Open a document", shown["doc"].tolist(), key="err_doc",
                              format_func=lambda n: f"#{n}: {docs.loc[n, 'text'][:90]}")
        row = docs.loc[choice]
        with st.container(border=True):
            st.markdown(f"**Document #{choice}** · {md(row['kinds'] or 'correct')}")
            st.markdown(f"Gold: {md(row['gold'])}  \nPredicted: {md(row['predicted'] or '(nothing)')}")
            st.caption(f"Scores of the gold labels: {md(row['gold_scores'])}")
            scores = dict(zip(h.labels, (float(s) for s in analysis.scores[choice])))
            predicted = [h.labels[i] for i, on in enumerate(analysis.y_pred[choice]) if on]
            explain_section(model.classifier, row["text"], scores, predicted, key=f"err_explain_{choice}")

    st.markdown("**Confusion between siblings**: per parent, gold child (rows) against predicted child (columns)")
    parent = st.selectbox("Parent", parents_with_children(h), key="err_parent",
                          format_func=lambda p: "the top level (children of the root)" if p == h.root else p)
    matrix = sibling_confusion(analysis.y_true, analysis.y_pred, h, parent)
    st.dataframe(matrix)
    st.download_button("Download this matrix (CSV)", matrix.to_csv().encode("utf-8"),
                       file_name=f"{run_dir.name}-{split}-confusion-{parent}.csv", mime="text/csv", key="err_matrix",
                       icon=":material/download:", on_click="ignore")


def relabel_button(run_dir: Path, split: str, data: str, analysis, shown, h) -> None:
    """Send the documents shown to the Label page's queue, to correct gold labels that are wrong
    (issue 23) — when they are a split of the workspace dataset the run was trained on."""
    ws = workspace()
    dataset = ws.dataset_of_run(run_dir)
    files = ws.dataset_files(dataset) if dataset is not None else None
    if dataset is None:
        st.caption("Relabelling works on the splits of a workspace dataset; this run was trained on files elsewhere.")
        adopt_files_form(run_dir, "errors")
        return
    if files is None or getattr(files, split, None) is None or Path(getattr(files, split)).resolve() != Path(data).resolve():
        st.caption("Relabelling works on the splits of a workspace dataset the run was trained on.")
        return
    if shown.empty:
        return
    sent = shown.head(MAX_RELABEL)
    if st.button(f"Relabel these {len(sent)} documents on the Label page", icon=":material/edit_note:",
                 key="err_relabel", help="Each opens with its gold and predicted paths; correct the gold labels where "
                                         f"they are wrong (saved into {dataset}'s {split} split, each correction "
                                         "recorded), keep them where the model is wrong."):
        items = []
        for n in sent["doc"].tolist():
            gold = [h.labels[i] for i, on in enumerate(analysis.y_true[n]) if on]
            predicted = [h.labels[i] for i, on in enumerate(analysis.y_pred[n]) if on]
            items.append({"text": analysis.documents.loc[n, "text"], "gold": gold, "predicted": predicted,
                          "relabel": {"dataset": dataset, "split": split, "document": int(n)}})
        st.session_state["label_queue"] = {"run": run_dir.name, "items": items, "at": 0}
        st.switch_page(PAGES["label"])
