"""Label: the texts the current run is least sure of, labelled here into the current dataset's training
split (issue 23). Suggestions come from ``hpt_core.suggest``; saving goes through the workspace; the
next run on the Train page trains on them."""

import streamlit as st

from hpt_core.data import Document
from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import LabelHierarchy
from hpt_core.uploads import TEXTS_SUFFIXES, texts_upload, upload_suffix
from hpt_core.replay import TRAINED_ON
from hpt_core.suggest import STRATEGY_NAMES
from hpt_core.warm_start import LEGACY_WARM_START_EPOCHS, WARM_START_REPLAY
from hpt_core import viz
from app_pages._shared import (PAGES, adopt_files_form, chart, md, require_run, select_run, show_error,
                           workspace)
ws = workspace()
st.title("Label")
st.caption("Which unlabelled texts to label next: those the current run's model is least sure of, read on the "
           "tree — the closest call between two sibling labels on each text's best path. Label them here; they "
           "join the training split of the current dataset, and the next run trains on them.")
run_dir = require_run(need_model=False)
from hpt_core import runs  # noqa: E402

if not (run_dir / runs.MODEL_DIR / "model.safetensors").is_file() and not runs.is_zero_shot_run(run_dir):
    st.info(f"Run **{md(run_dir.name)}** has no model yet (state: {md(runs.run_status(run_dir).get('state', 'new'))}). "
            "Pick a finished run — or a zero-shot run — in the sidebar.", icon=":material/info:")
    st.stop()
# Labels go to the dataset the run was trained on: its tree is the model's, so every suggested path
# and every label picked exists there.
dataset = ws.dataset_of_run(run_dir)
if dataset is None:
    st.warning(f"Run **{md(run_dir.name)}** was trained on files outside this workspace, so there is no dataset "
               "to add labels to. Make them a workspace dataset here (the run then reads them from it), or import "
               "them on the Data page.", icon=":material/warning:")
    adopt_files_form(run_dir, "label")
    st.stop()
st.caption(f"Run **{md(run_dir.name)}** suggests; labels go to its dataset **{md(dataset)}**"
           + (" (read-only: into a copy, **demo-labelled**, kept for the next labels)" if dataset == "demo" else "")
           + ". Pick another run in the sidebar.")



def retrain_and_curve() -> None:
    """A fresh run like this one on the dataset with its new labels (queued like any launch), and
    the learning curve of the runs on that dataset so far."""
    target = ws.labelled_dataset(dataset)
    source = target if target in ws.dataset_names() else dataset
    with st.expander("Retrain and learning curve", expanded=bool(st.session_state.get("label_saved"))):
        n_train = ws.dataset_info(source).counts.get("train", 0)
        st.caption(f"A new run like **{md(run_dir.name)}** (same method, recipe and seed; the default HPT after a "
                   f"zero-shot run) on **{md(source)}** as it is now: {n_train:,} training documents.")
        trained = runs.has_trained_model(run_dir)  # what Workspace.retrain_config's warm start needs
        # a quick round needs the run's record of what it learnt from (runs keep it since session 17)
        quick = (run_dir / TRAINED_ON).is_file()
        starts = {"continue from this run's model (a quick round)" if quick else
                  f"continue from this run's model (every document, {LEGACY_WARM_START_EPOCHS} epochs: this run "
                  "predates quick rounds)": True,
                  "train fresh from the pretrained backbone": False}
        start = st.radio("Start", list(starts) if trained else list(starts)[1:], key="label_warm",
                         help=f"A quick round reads the documents this model has not seen and {WARM_START_REPLAY} of "
                              "those it learnt from, once, so that it learns the new labels without forgetting the "
                              "rest (about 2½ minutes for 20 Newsgroups-sized data on a 2-core CPU); fresh trains the "
                              "whole recipe again, as the first run did.")
        has_test = bool(ws.dataset_info(source).counts.get("test"))
        score_test = not starts[start] or st.checkbox(  # a fresh run scores test as the first run did
            "Also score the test split", value=False, key="label_score_test", disabled=not has_test,
            help="The learning curve reads dev. Scoring test adds a pass over every test document (about 1½ "
                 "minutes for 2,000 on a 2-core CPU); a quick round leaves it out unless asked.")
        if st.button("Retrain", icon=":material/model_training:", key="label_retrain"):
            try:
                config = ws.retrain_config(run_dir, source, warm_start=starts[start], score_test=score_test)
                new_dir = ws.new_run(config, f"{source}-{config.model.method}")
                runs.launch(new_dir)
            except Exception as err:  # shown, never raised into the page
                show_error(err, "Not launched")
            else:
                select_run(new_dir.name)
                st.session_state["train_note"] = f"Launched {md(new_dir.name)} from the Label page."
                st.switch_page(PAGES["train"])
        exported = ws.labelled_in_app(source)
        if exported:
            st.download_button(f"Download the {exported.count(chr(10)):,} documents labelled or corrected here "
                               "(JSON Lines)", exported.encode("utf-8"), file_name=f"{source}-labelled-in-app.jsonl",
                               mime="application/jsonl", key="label_export", icon=":material/download:",
                               on_click="ignore", help="In the corpus format ({\"text\", \"labels\"}), labels as "
                                                       "they are now: to keep, share or import elsewhere.")
        points = ws.learning_curve(source)
        if len(points) >= 2:
            chart(viz.learning_curve_figure(points), key="label_curve")
        else:
            st.caption("The learning curve appears once two runs on this dataset have finished.")


retrain_and_curve()

with st.form("label_pool"):
    pasted = st.text_area("Unlabelled texts, one a line", height=120, key="label_pasted",
                          placeholder="Paste texts here, or upload a file below")
    upload = st.file_uploader("…or a file of texts", type=[s.lstrip(".") for s in TEXTS_SUFFIXES],
                              key="label_upload", help=".txt one text a line; .csv/.tsv with a 'text' column; "
                                                       ".jsonl with a 'text' field")
    c1, c2 = st.columns(2)
    strategy = c1.selectbox("Strategy", list(STRATEGY_NAMES), format_func=STRATEGY_NAMES.get, key="label_strategy")
    n = c2.number_input("How many", 1, 500, 20, key="label_n")
    go = st.form_submit_button("Suggest", type="primary", icon=":material/lightbulb:")

if go:
    try:
        if upload is not None:
            pool = texts_upload(upload.getvalue(), upload_suffix(upload.name, TEXTS_SUFFIXES), upload.name,
                                ws.max_upload_bytes).texts
        else:
            pool = [line.strip() for line in pasted.split("\n") if line.strip()]
        if not pool:
            raise HPTInputError("paste some texts or upload a file first")
        from hpt_core.suggest import suggest_for_run

        with st.spinner(f"Scoring {len(pool):,} texts…"):
            found = suggest_for_run(run_dir, pool, n=int(n), strategy=strategy)
    except Exception as err:  # shown, never raised into the page
        show_error(err, "No suggestions")
    else:
        st.session_state["label_queue"] = {"run": run_dir.name, "items": [s.to_dict() for s in found], "at": 0}

queue = st.session_state.get("label_queue")
if not queue or queue["run"] != run_dir.name:
    st.stop()
items, at = queue["items"], queue["at"]
saved = st.session_state.get("label_saved", 0)
st.progress(min(at, len(items)) / max(len(items), 1),
            text=f"{min(at, len(items))} of {len(items)} {'documents' if items[0].get('relabel') else 'suggestions'} "
                 f"done · {saved} labelled this session")
if at >= len(items):
    st.success("All suggestions done. Train a new run on the dataset with its new labels, then suggest again.",
               icon=":material/task_alt:")
    st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")
    st.stop()

item = items[at]
hierarchy = LabelHierarchy.read(ws.dataset_dir(dataset) / "taxonomy.tsv")  # the tree alone, not every document
relabel = item.get("relabel")  # a document of the error browser, whose gold labels may be wrong
st.markdown(f"**Text {at + 1} of {len(items)}**"
            + (f" · document #{relabel['document']} of the {md(relabel['split'])} split, sent from the error browser"
               if relabel else ""))
st.text(item["text"])  # shown as plain text: never interpreted as Markdown or HTML


def path_name(label: str) -> str:
    return " › ".join(hierarchy.path(label))


def path_ends(labels: list[str]) -> list[str]:
    """The deepest of ``labels`` on each path (the picker adds the ancestors back)."""
    known = [label for label in labels if label in hierarchy]
    return [label for label in known if not any(hierarchy.parent(other) == label for other in known)]


if relabel:
    if relabel["split"] != "train":
        st.warning(f"This corrects the **{md(relabel['split'])}** split. These documents were picked from the model's "
                   "errors, so correcting only them makes that split's figures look better than they would on new "
                   "documents; compare runs on a split no one relabelled.", icon=":material/warning:")
    st.caption(f"Gold now: {md(', '.join(path_name(l) for l in path_ends(item['gold'])) or '—')}. "
               f"The model predicted: {md(', '.join(path_name(l) for l in path_ends(item['predicted'])) or '(nothing)')}. "
               "Correct the gold labels if they are wrong; keep them if the model is.")
    default = path_ends(item["gold"])
else:
    call = (f"hesitated at depth {item['depth']} between **{md(item['chosen'])}** and **{md(item['runner_up'])}** "
            f"(margin {item['margin']:.3f})" if item["runner_up"] else "had no choice to make on its path")
    decided = item.get("decided", item["path"])  # queues saved before session 13 lack "decided"
    answer = ", ".join(path_name(label) for label in path_ends(decided)) or "nothing (no label above its threshold)"
    st.caption(f"The model answers: {md(answer)}. On its best path ({md(' › '.join(item['path']) or '—')}) it {call}. "
               "The picker starts from the model's answer; Skip a text that belongs nowhere in the tree.")
    default = path_ends(decided)
chosen = st.multiselect("Labels (type to search; several paths allowed; ancestors are added)", hierarchy.labels,
                        default=default, format_func=path_name, key=f"label_pick_{at}")
c1, c2 = st.columns(2)
if c1.button("Save correction and next" if relabel else "Save and next", type="primary", icon=":material/save:",
             key=f"label_save_{at}"):
    try:
        if relabel:
            target = ws.relabel(relabel["dataset"], relabel["split"], relabel["document"], item["text"], list(chosen))
            note = f"Corrected in {target}'s {relabel['split']} split."
        else:
            target, n_train = ws.add_labelled(dataset, [Document(item["text"], list(chosen))])
            note = f"Saved into {target}: {n_train:,} training documents now."
    except HPTInputError as err:
        show_error(err, "Not saved")
    else:
        st.session_state["label_saved"] = saved + 1
        queue["at"] = at + 1
        st.toast(note, icon=":material/save:")
        st.rerun()
if c2.button("Keep as it is" if relabel else "Skip", icon=":material/skip_next:", key=f"label_skip_{at}"):
    queue["at"] = at + 1
    st.rerun()
