"""Data: upload a taxonomy and a corpus (checked before anything is saved), preview a dataset, delete one."""

import pandas as pd
import streamlit as st

from hpt_core import viz
from hpt_core.data import label_counts
from hpt_core.errors import HPTInputError
from hpt_core.uploads import upload_suffix
from hpt_core.workspace import CORPUS_FORMATS, CORPUS_SUFFIXES, DEMO, TAXONOMY_SUFFIXES
from app_pages._shared import (chart, current_dataset, load_dataset, md, select_dataset, show_error,
                           tree_chart, workspace)

ws = workspace()
st.title("Data")
st.caption("Pick a dataset in the sidebar, upload a new one below, or delete one you saved.")


# ---- upload --------------------------------------------------------------------------------------------
with st.expander("Upload a dataset", icon=":material/upload:", expanded=False):
    st.markdown(
        "**Taxonomy**: HiAGM TSV (`parent<TAB>child…`), a `parent,child` CSV, one label path a line "
        "(`A/B/C` or `A > B`), or the library's JSON. **Corpus**: JSON Lines (`{\"text\", \"labels\"}`), CSV/TSV "
        "with a `text` column and `labels` / `level1…` / `path` columns, WOS `Data.txt` / `Data.xlsx`, or the "
        "20 Newsgroups `20news-bydate.tar.gz` (its tree comes from the group names: no taxonomy needed). "
        "The corpus is split 80/10/10 into train/dev/test (20 Newsgroups keeps its own test split), unless you "
        "give its own dev and/or test files below: then the corpus is the train file (a missing dev split is drawn "
        "from it). Nothing is saved until every file is valid."
    )
    with st.form("upload", clear_on_submit=False):
        name = st.text_input("Dataset name", placeholder="e.g. my-tickets",
                             help="Letters, digits, '_' and '-'; up to 64 characters.")
        # No type= filter: Streamlit would reject other names with an exception; the workspace says why instead.
        taxonomy_file = st.file_uploader("Taxonomy", key="upload_taxonomy", help=", ".join(TAXONOMY_SUFFIXES))
        corpus_file = st.file_uploader("Corpus (or its train file)", key="upload_corpus", help=", ".join(CORPUS_SUFFIXES))
        g1, g2 = st.columns(2)
        dev_file = g1.file_uploader("Dev file (optional: given split)", key="upload_dev",
                                    help="The corpus's own dev split, same format as the train file")
        test_file = g2.file_uploader("Test file (optional: given split)", key="upload_test",
                                     help="The corpus's own test split, same format as the train file")
        c1, c2, c3 = st.columns(3)
        fmt = c1.selectbox("Corpus format", CORPUS_FORMATS, help="auto: from the file name and first line")
        seed = c2.number_input("Split seed", min_value=0, value=0, step=1)
        text_column = c3.text_input("Text column / key", value="text")
        skip_unknown = st.checkbox("Skip documents whose labels are not in the taxonomy (instead of rejecting the file)")
        submitted = st.form_submit_button("Check and save", type="primary", icon=":material/save:")
    if submitted:
        try:
            if not name.strip():
                raise HPTInputError("give the dataset a name")
            if corpus_file is None:
                raise HPTInputError("upload a corpus file")
            corpus_suffix = upload_suffix(corpus_file.name, CORPUS_SUFFIXES)
            taxonomy_bytes = taxonomy_suffix = None
            if taxonomy_file is not None:
                taxonomy_suffix = upload_suffix(taxonomy_file.name, TAXONOMY_SUFFIXES)
                taxonomy_bytes = taxonomy_file.getvalue()
            given = {split: (f.getvalue(), upload_suffix(f.name, CORPUS_SUFFIXES), f.name)
                     for split, f in (("dev", dev_file), ("test", test_file)) if f is not None}
            with st.spinner("Reading and checking the files…"):
                dataset, skipped = ws.save_uploaded_dataset(
                    name.strip(), taxonomy_bytes, taxonomy_suffix, corpus_file.getvalue(), corpus_suffix, fmt,
                    seed=int(seed), skip_unknown=skip_unknown, text_column=text_column.strip() or "text",
                    taxonomy_label=taxonomy_file.name if taxonomy_file is not None else "taxonomy",
                    corpus_label=corpus_file.name, given=given,
                )
        except HPTInputError as err:
            show_error(err, "Not saved")
        except Exception as err:  # a reader's unexpected failure must not take the page down
            show_error(err, "Not saved (unexpected problem)")
        else:
            counts = ", ".join(f"{split} {len(docs)}" for split, docs in dataset.splits.items())
            note = f"; {skipped} documents skipped (labels not in the taxonomy, listed below)" if skipped else ""
            given_note = f" ({', '.join(sorted(given))} as given)" if given else ""
            st.session_state["data_saved"] = (f"Saved **{md(dataset.name)}**: {len(dataset.hierarchy)} labels, "
                                              f"depth {dataset.hierarchy.max_depth}; {counts}{given_note}{note}")
            st.session_state["data_skipped"] = dataset.meta.get("skipped") or []
            select_dataset(dataset.name)
            st.rerun()

if "data_saved" in st.session_state:
    st.success(st.session_state.pop("data_saved"), icon=":material/check_circle:")
    skipped_rows = st.session_state.pop("data_skipped", None)
    if skipped_rows:
        st.markdown(f"**Skipped documents** ({len(skipped_rows)}; also listed in the dataset's `dataset.json`)")
        st.dataframe(pd.DataFrame(skipped_rows, columns=["file", "line", "problem"]), hide_index=True,
                     key="data_skipped_table")

# ---- saved datasets ------------------------------------------------------------------------------------
st.subheader("Datasets")
infos = ws.list_datasets()
st.dataframe(pd.DataFrame([{"dataset": i.name, "bundled": i.readonly, **{f"{k} docs": v for k, v in i.counts.items()},
                            "labels": i.labels, "depth": i.depth} for i in infos]), hide_index=True)
saved = [i.name for i in infos if not i.readonly]
if saved:
    with st.expander("Delete a saved dataset", icon=":material/delete:"):
        doomed = st.selectbox("Dataset", saved, key="delete_name")
        sure = st.checkbox("Yes, delete it (runs trained on it keep their results but cannot be evaluated again)",
                           key="delete_sure")
        if st.button("Delete", disabled=not sure, key="delete_button"):
            try:
                ws.delete_dataset(doomed)
            except (HPTInputError, OSError) as err:
                show_error(err, "Not deleted")
            else:
                if current_dataset() == doomed:
                    select_dataset(DEMO)
                st.session_state.pop("delete_sure", None)
                st.session_state["data_saved"] = f"Deleted **{md(doomed)}**."
                st.rerun()

# ---- preview ---------------------------------------------------------------------------------------------
name = current_dataset()
st.subheader(f"Preview: {md(name)}")
try:
    dataset = load_dataset(name)
except HPTInputError as err:
    show_error(err, "This dataset cannot be read")
    st.stop()
h = dataset.hierarchy
splits = [s for s, docs in dataset.splits.items() if docs]
if not splits:
    st.warning("This dataset has no documents.")
    st.stop()
split = st.segmented_control("Split", splits, default=splits[0], key="data_split") or splits[0]
docs = dataset.splits[split]
counts = label_counts(docs, h)

m = st.columns(5)
m[0].metric("Labels", len(h))
m[1].metric("Depth", h.max_depth)
m[2].metric("Leaves", len(h.leaves()))
m[3].metric(f"{split} documents", len(docs))
m[4].metric("Labels never seen", int((counts == 0).sum()), help=f"labels without a document in {split}")

FOCUS_KEY = "data_focus"
if st.session_state.get(FOCUS_KEY) not in h:
    st.session_state.pop(FOCUS_KEY, None)


def focus_on_click() -> None:
    """A click on the tree focuses the clicked label (the search box follows)."""
    label = viz.clicked_label(h, st.session_state.get("data_tree", {}).get("selection"))
    if label in h:
        st.session_state[FOCUS_KEY] = label
    elif label == h.root:
        st.session_state.pop(FOCUS_KEY, None)


focus = st.selectbox("Find a label", h.labels, index=None, key=FOCUS_KEY, placeholder="type to search the tree…",
                     format_func=lambda x: " › ".join(h.path(x)),
                     help="Focuses the tree on this label: its subtree, or its siblings for a leaf.")
tree_chart(viz.label_tree_figure(h, counts, highlight=[focus] if focus else None, focus=focus,
                                 title=f"Label tree ({split} documents per label)", highlight_name="found label"),
           key="data_tree", on_select=focus_on_click, selection_mode="points")
crowded = viz.crowded_branch(h, focus)
if crowded is not None:  # too many children for names in the tree's boxes: every one of them listed
    kids = h.children(crowded)
    where = "the root" if crowded == h.root else f"**{md(h.display_name(crowded))}**"
    st.caption(f"{where} has {len(kids):,} children, more than the tree can name ({viz.NAMED_ROWS} at most): all of "
               "them are listed here (the table's search finds one; hover a box for its name).")
    index = {label: i for i, label in enumerate(h.labels)}
    st.dataframe(pd.DataFrame({"label": [h.display_name(k) for k in kids],
                               f"{split} documents": [int(counts[index[k]]) for k in kids],
                               "children": [len(h.children(k)) for k in kids]}),
                 hide_index=True, height=min(400, 35 * len(kids) + 38), key="data_crowded")
if len(h) > viz.MAX_NAMED_NODES:
    st.caption(f"{len(h)} labels: depth runs left to right; click a label to open it (the bar on top leads back "
               "up), or find one above. Hover for counts.")
else:
    st.caption("Node size: documents carrying the label (ancestors included). Colour: depth. Hover for counts.")

left, right = st.columns(2)
with left:
    docs_per_depth = {d: sum(1 for doc in docs if any(h.depth(label) == d for label in doc.labels))
                      for d in range(1, h.max_depth + 1)}
    labels_per_depth = {d: len(h.labels_at_depth(d)) for d in docs_per_depth}
    chart(viz.documents_per_depth_figure(docs_per_depth, labels_per_depth), key="data_depth")
    chart(viz.label_frequency_histogram(counts), key="data_hist")
with right:
    chart(viz.documents_per_label_figure(h, counts, top=30, title="Documents per label (top 30)"), key="data_per_label")

st.markdown("**Sample documents**")
sample = pd.DataFrame([{"text": d.text, "labels": " / ".join(d.labels)} for d in docs[:200]])
st.dataframe(sample.sample(min(10, len(sample)), random_state=0) if len(sample) else sample, hide_index=True)
