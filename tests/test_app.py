"""The Streamlit app, page by page, with ``streamlit.testing.v1.AppTest`` (no browser).

The app reads its workspace from ``HPT_WORKSPACE``: every test gets a temp workspace holding a
copy of the session's tiny trained run, so Results, Predict and Label words have a real model.
"""

from __future__ import annotations

import ast
import json
import shutil
import time
from pathlib import Path

import pytest

from hpt_core import runs
from hpt_core.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES = {
    "home": ("app_pages/home.py", "HPT — hierarchical text classification"),
    "data": ("app_pages/data.py", "Data"),
    "train": ("app_pages/train.py", "Train"),
    "results": ("app_pages/results.py", "Results"),
    "predict": ("app_pages/predict.py", "Predict"),
    "label_words": ("app_pages/label_words.py", "Label words"),
    "label": ("app_pages/label.py", "Label"),
}


@pytest.fixture
def workspace(tmp_path, monkeypatch, trained_run):
    root = tmp_path / "workspace"
    shutil.copytree(trained_run, root / "runs" / "tiny-hpt")
    monkeypatch.setenv("HPT_WORKSPACE", str(root))
    return root


@pytest.fixture
def empty_workspace(tmp_path, monkeypatch):
    root = tmp_path / "empty-workspace"
    monkeypatch.setenv("HPT_WORKSPACE", str(root))
    return root


def open_page(name: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if name != "home":
        at.switch_page(PAGES[name][0]).run()
    return at


def ok(at, page: str) -> None:
    """The page rendered completely: its title, the shared sidebar, and no exception."""
    assert not at.exception, [e.value for e in at.exception]
    assert PAGES[page][1] in [t.value for t in at.title]
    assert [s.label for s in at.sidebar.selectbox][:1] == ["Current dataset"]


def by_label(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r}; have {[w.label for w in widgets]}"
    return found[0]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# ---- every page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_with_a_trained_run(workspace, page):
    at = open_page(page)
    ok(at, page)
    assert not at.error, texts(at.error)
    assert by_label(at.sidebar.selectbox, "Current run").value == "tiny-hpt"


@pytest.mark.parametrize("page", ["home", "train", "results", "predict", "label_words", "label"])
def test_page_without_runs_says_what_to_do(empty_workspace, page):
    at = open_page(page)
    ok(at, page)
    assert not at.error
    if page in ("results", "predict", "label_words", "label"):
        assert "Train" in texts(at.info)


def test_home_shows_device_runs_and_three_sentences(workspace):
    at = open_page("home")
    assert by_label(at.metric, "Training will run on").value.startswith(("CPU", "GPU"))
    assert "tiny-hpt" in at.dataframe[-1].value["run"].tolist()
    intro = at.markdown[0].value
    assert intro.count(". ") + 1 == 3 and "HPT" in intro


def test_url_chooses_the_run_and_follows_the_choice(workspace, trained_run):
    from streamlit.testing.v1 import AppTest

    shutil.copytree(trained_run, workspace / "runs" / "other")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["run"] = "tiny-hpt"
    at.run()
    assert by_label(at.sidebar.selectbox, "Current run").value == "tiny-hpt"
    at.sidebar.selectbox(key="current_run").set_value("other").run()
    assert at.query_params["run"] == "other" and at.query_params["dataset"] == "demo"


# ---- Data --------------------------------------------------------------------------------------------------


def upload(at, name: str, corpus: tuple[str, bytes], taxonomy: tuple[str, bytes] | None = None, skip: bool = False):
    by_label(at.text_input, "Dataset name").input(name)
    at.file_uploader(key="upload_corpus").set_value((corpus[0], corpus[1], "application/octet-stream"))
    at.file_uploader(key="upload_taxonomy").set_value(
        (taxonomy[0], taxonomy[1], "text/plain") if taxonomy else None)
    skip_box = [c for c in at.checkbox if c.label.startswith("Skip documents whose labels")]
    skip_box[0].set_value(skip)
    by_label(at.button, "Check and save").click()
    return at.run()


def test_data_demo_preview(workspace):
    at = open_page("data")
    assert "demo" in at.dataframe[0].value["dataset"].tolist()
    assert by_label(at.metric, "Labels").value == "39"
    assert len(at.get("plotly_chart")) >= 4  # tree, per depth, histogram, per label
    at.button_group(key="data_split").set_value("dev").run()
    assert by_label(at.metric, "dev documents").value == "108"


def test_data_upload_saves_selects_and_deletes(workspace, task_files):
    at = open_page("data")
    taxonomy = ("my taxonomy.tsv", task_files["taxonomy"].read_bytes())
    at = upload(at, "tiny", ("corpus.jsonl", task_files["train"].read_bytes()), taxonomy)
    assert not at.error, texts(at.error)
    assert "Saved" in texts(at.success)
    assert (workspace / "datasets" / "tiny" / "train.jsonl").is_file()
    assert by_label(at.sidebar.selectbox, "Current dataset").value == "tiny"
    assert by_label(at.metric, "Labels").value == "9"

    at.checkbox(key="delete_sure").check().run()
    at.button(key="delete_button").click().run()
    assert not (workspace / "datasets" / "tiny").exists()
    assert by_label(at.sidebar.selectbox, "Current dataset").value == "demo"


def test_data_bad_uploads_are_shown_inline_and_save_nothing(workspace, task_files, monkeypatch):
    taxonomy = ("tax.tsv", task_files["taxonomy"].read_bytes())
    good_line = task_files["train"].read_text().splitlines()[0]
    cases = [
        # (corpus, taxonomy, what the error says)
        (("c.jsonl", (good_line + "\n" + json.dumps({"text": "x", "labels": ["cooking"]}) + "\n").encode()),
         taxonomy, ["c.jsonl", "line 2", "cooking", "not in the taxonomy"]),
        (("c.jsonl", b""), taxonomy, ["c.jsonl", "empty"]),
        (("c.jsonl", good_line.encode() + b"\n{oops\n"), taxonomy, ["line 2", "invalid JSON"]),
        (("c.jsonl", ('{"text": "caf\xe9", "labels": ["arts"]}\n').encode("latin-1")), taxonomy, ["line 1", "UTF"]),
        (("c.jsonl", task_files["train"].read_bytes()), ("tax.tsv", b"Root\n"), ["tax.tsv", "line 1", "no children"]),
        (("c.jsonl", task_files["train"].read_bytes()), None, ["taxonomy file is needed"]),
        (("c.exe", b"MZ"), taxonomy, ["unsupported file type"]),
        (("<b>bold</b>.jsonl", b"{oops\n"), taxonomy, ["\\<b\\>bold\\</b\\>"]),  # shown escaped
    ]
    at = open_page("data")
    for corpus, tax, expected in cases:
        at = upload(at, "bad", corpus, tax)
        assert not at.exception, [e.value for e in at.exception]
        message = texts(at.error)
        for part in expected:
            assert part.replace(" ", "").lower() in message.replace("\\", "").replace(" ", "").lower() or part in message, \
                (corpus[0], part, message)
        assert not (workspace / "datasets" / "bad").exists()

    monkeypatch.setenv("HPT_MAX_UPLOAD_MB", "0.001")  # about 1 kB
    at = upload(at, "bad", ("c.jsonl", task_files["train"].read_bytes()), taxonomy)
    assert "the limit is" in texts(at.error)
    assert not (workspace / "datasets").exists() or not any((workspace / "datasets").iterdir())

    # A corpus with a label outside the tree can still be saved when the user asks to skip such documents.
    monkeypatch.delenv("HPT_MAX_UPLOAD_MB")
    extra = (task_files["train"].read_text() + json.dumps({"text": "x", "labels": ["cooking"]}) + "\n").encode()
    at = upload(at, "skipped", ("c.jsonl", extra), taxonomy, skip=True)
    assert "1 documents skipped" in texts(at.success)


# ---- Train -------------------------------------------------------------------------------------------------


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_train_launches_two_seeds_that_queue_then_cancel(workspace, tiny_backbone):
    at = open_page("train")
    by_label(at.radio, "Backbone").set_value("other")
    at.text_input(key="train_backbone").input(tiny_backbone)
    by_label(at.number_input, "Max length (tokens)").set_value(32)
    by_label(at.number_input, "Epochs (max)").set_value(50)
    by_label(at.number_input, "Batch size").set_value(8)
    by_label(at.number_input, "Log every (steps)").set_value(1)
    by_label(at.text_input, "Seeds").input("1,2")
    by_label(at.text_input, "Run name (optional)").input("queue test")
    by_label(at.button, "Launch").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    launched = [workspace / "runs" / "queue-test-seed1", workspace / "runs" / "queue-test-seed2"]
    try:
        assert all((p / "run.json").is_file() for p in launched)
        # the app's default recipe is small-data; the paper's is one click away
        saved = RunConfig.from_json(launched[0] / "run.json")
        assert (saved.train.lr, saved.train.new_params_lr, saved.train.warmup_ratio) == (1e-4, 1e-3, 0.05)
        assert (saved.model.label_word_encoding, saved.model.text_residual_gate) == ("encoder", 3.0)
        assert (saved.pipeline.lexical_channel, saved.model.max_windows) == ("tfidf", 1)  # the recipe's channel
        assert "Launched" in texts(at.success)
        assert by_label(at.sidebar.selectbox, "Current run").value == "queue-test-seed1"

        # One job per device: one runs, the other waits in the queue, and the page shows both.
        deadline = time.time() + 90
        while time.time() < deadline:
            states = sorted(runs.run_status(p).get("state") for p in launched)
            progress = [runs.run_progress(p) for p in launched]
            if states == ["queued", "running"] and any(pr.get("step") for pr in progress):
                break
            time.sleep(0.5)
        assert states == ["queued", "running"], states
        running = next(p for p in launched if runs.run_status(p)["state"] == "running")
        at.sidebar.selectbox(key="current_run").set_value(running.name)
        at.run()
        assert not at.exception
        queue = at.dataframe[0].value
        assert sorted(s.split(" ")[0] for s in queue["state"]) == ["queued", "running"]
        assert set(queue["run"]) == {p.name for p in launched}
        # One wording: the queued job says what it waits for, never "starting"; both name the device alike.
        assert "queued · next in line for the device" in list(queue["state"])  # FIFO: its place in the line
        assert len(set(queue["device"])) == 1 and queue["device"].iloc[0].startswith(("CPU", "GPU"))
        assert at.get("progress"), "no progress bar for the running job"
        assert by_label(at.metric, "State").value == "running"
        assert len(at.get("plotly_chart")) == 2  # the loss curve and the dev F1 curves

        # A second session (a reload, another tab) finds the running job by itself.
        again = open_page("train")
        assert by_label(again.sidebar.selectbox, "Current run").value in {p.name for p in launched}

        at.button(key=f"cancel_{running.name}").click()
        at.run(timeout=30)
        assert runs.run_status(running)["state"] == "cancelled"
    finally:
        for p in launched:
            runs.cancel(p, grace_s=10)
    assert not any(runs.run_status(p).get("state") in runs.ACTIVE_STATES for p in launched)


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_train_lexical_channel_and_windows_reach_the_run(workspace, tiny_backbone):
    """More options: the lexical channel and the classical blend are on under small-data and can be
    switched off; whole documents as windows; all land in the saved run.json."""
    at = open_page("train")
    assert by_label(at.selectbox, "Lexical channel").value == "TF-IDF"  # the recipe's default
    by_label(at.radio, "Backbone").set_value("other")
    at.text_input(key="train_backbone").input(tiny_backbone)
    by_label(at.number_input, "Max length (tokens)").set_value(32)
    by_label(at.selectbox, "Lexical channel").set_value("none")
    assert by_label(at.selectbox, "Lexical channel fitted by").value == "logistic (L-BFGS per fold)"  # the default
    by_label(at.selectbox, "Lexical channel fitted by").set_value("ridge regression (exact folds)")
    by_label(at.selectbox, "Precision").set_value("fp32")
    assert by_label(at.selectbox, "Decision rule").value == "chosen on dev"  # the recipe's
    by_label(at.selectbox, "Decision rule").set_value("one best path")
    assert by_label(at.selectbox, "Blend").value == "with the classical classifier"  # the recipe's
    by_label(at.selectbox, "Blend").set_value("none")
    by_label(at.number_input, "Windows per document (max)").set_value(3)
    by_label(at.number_input, "Max steps (0 = no limit)").set_value(1)
    by_label(at.selectbox, "Also track in").set_value("TensorBoard")
    by_label(at.text_input, "Run name (optional)").input("options test")
    by_label(at.button, "Launch").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    run_dir = workspace / "runs" / "options-test"
    try:
        saved = RunConfig.from_json(run_dir / "run.json")
        assert (saved.pipeline.lexical_channel, saved.model.max_windows, saved.train.precision) == (None, 3, "fp32")
        assert saved.pipeline.decision == "path" and saved.pipeline.blend is None
        assert saved.pipeline.lexical_fit == "ridge"
        assert saved.train.report_to == "tensorboard"
        assert "tensorboard --logdir" in texts(at.caption).replace("\\", "")  # the run page says where the records go
    finally:
        runs.cancel(run_dir, grace_s=10)


def test_train_refuses_bad_settings_with_a_reason(workspace):
    at = open_page("train")
    by_label(at.text_input, "Seeds").input("one, two")
    by_label(at.button, "Launch").click()
    at.run()
    assert "seeds must be whole numbers" in texts(at.error).replace("\\", "")
    by_label(at.text_input, "Seeds").input("1")
    by_label(at.radio, "Backbone").set_value("other")
    at.text_input(key="train_backbone").input("/no/such/folder")
    by_label(at.button, "Launch").click()
    at.run()
    assert "folder not found" in texts(at.error).replace("\\", "")
    assert [p.name for p in runs.list_runs(workspace / "runs")] == ["tiny-hpt"]  # nothing launched


# ---- Results, Predict, Label words -----------------------------------------------------------------------


def test_results_one_run_and_comparison(workspace, trained_run):
    at = open_page("results")
    ok(at, "results")
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert by_label(at.metric, "Micro-F1").value == f"{100 * metrics['test']['micro_f1']:.2f}"
    labels = {m.label for m in at.metric}
    assert {"Macro-F1", "Macro-F1, all labels", "Hierarchical F1", "Path consistency"} <= labels
    per_label = next(d.value for d in at.dataframe if "f1" in d.value.columns and "train_count" in d.value.columns)
    assert len(per_label) == 9
    downloads = [b.label for b in at.get("download_button")]
    assert "Download per-label table (CSV)" in downloads and "Download comparison (CSV)" in downloads
    comparison = next(d.value for d in at.dataframe if "Δ macro" in d.value.columns)
    assert comparison["Δ macro"].tolist() == ["+0.00"]
    at.button_group(key="results_split").set_value("dev").run()
    assert by_label(at.metric, "Micro-F1").value == f"{100 * metrics['dev']['micro_f1']:.2f}"


def test_results_show_the_multi_path_documents_alone_where_there_are_some(workspace):
    path = workspace / "runs" / "tiny-hpt" / "metrics.json"
    original = path.read_text()
    at = open_page("results")
    assert not [c for c in at.caption if "documents with several paths" in c.value]  # single-path data: no line
    metrics = json.loads(original)
    metrics["test"]["multi_path"] = {"micro_f1": 0.8312, "macro_f1": 0.6827, "hierarchical_f1": 0.8329, "n_documents": 129}
    try:
        path.write_text(json.dumps(metrics))
        at = open_page("results")
        ok(at, "results")
        line = next(c.value for c in at.caption if "documents with several paths" in c.value)
        assert "129 test documents" in line and "83.12" in line and "68.27" in line
    finally:
        path.write_text(original)


def test_results_say_what_a_quick_round_read_and_that_test_was_not_scored(workspace):
    """Issue 23: a quick round's Results say which documents its epoch read and, when it scored
    dev only, how to score test — not a silent missing split."""
    path = workspace / "runs" / "tiny-hpt" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.pop("test")
    metrics["replay"] = {"new_documents": 50, "replayed_documents": 500, "epoch_documents": 550}
    path.write_text(json.dumps(metrics))
    at = open_page("results")
    ok(at, "results")
    line = next(c.value for c in at.caption if "A quick round" in c.value)
    assert "the 50 documents new to the model" in line and "500 of the others" in line
    assert "Scored on dev only" in line and "hpt_core evaluate" in line


def test_predict_text_and_file(workspace):
    at = open_page("predict")
    at.text_area(key="predict_text").input("the striker scored a penalty goal on the pitch")
    by_label(at.button, "Predict").click()
    at.run()
    assert not at.exception and not at.error
    assert by_label(at.metric, "Latency").value.endswith("ms")
    table = next(d.value for d in at.dataframe if "hierarchy-consistent" in d.value.columns)
    assert table["depth"].tolist() == [1, 2, 3]
    charts = [c.key for c in at.get("plotly_chart")]
    assert {"predict_tree", "predict_scores", "predict_abstention"} == set(charts)  # path, scores, dev's coverage
    sure = next(d.value for d in at.dataframe if "margin over the best sibling" in d.value.columns)
    assert sure["depth"].tolist() == list(range(1, len(sure) + 1)) and sure["sigmoid of the score"].str.endswith(" %").all()
    assert sure["confidence (calibrated)"].str.endswith(" %").all()
    shown = float(by_label(at.metric, "Confidence").value.rstrip(" %"))
    least = min(float(x.rstrip(" %")) for x in sure["confidence (calibrated)"])
    assert shown == pytest.approx(least, abs=0.51)  # the least sure label's (shown to 0 and 1 decimals)
    at.slider(key="predict_abstain").set_value(0.95).run()
    if shown < 95:
        assert "flagged for a person to check" in texts(at.info)

    at.text_area(key="predict_text").input("😀😀 🎉")  # no words: the page says the answer means little
    by_label(at.button, "Predict").click()
    at.run()
    assert "no words" in texts(at.warning)

    at.file_uploader(key="predict_file").set_value(("texts.txt", b"goal striker pitch\nlaser lens photon\n", "text/plain"))
    at.run()
    assert "2 texts classified" in texts(at.success)
    table = next(d.value for d in at.dataframe if "abstained" in d.value.columns)
    assert table["abstained"].tolist() == (table["predicted confidence"] < 0.95).tolist()
    at.file_uploader(key="predict_file").set_value(("more.txt", "goal striker\n😀 🎉\n".encode(), "text/plain"))
    at.run()
    table = next(d.value for d in at.dataframe if "predicted warnings" in d.value.columns)
    flagged = table["predicted warnings"].fillna("").astype(bool)
    # the emoji text has no words; whether "goal striker" reads as unlike the training texts is the
    # tiny random encoder's to say (the familiarity check): the count shown is the table's
    assert flagged.iloc[1] and "no words" in table["predicted warnings"].iloc[1]
    assert f"{int(flagged.sum())} text(s) look unusual" in texts(at.warning)
    assert any(b.label == "Download predictions (CSV)" for b in at.get("download_button"))

    at.file_uploader(key="predict_file").set_value(("texts.csv", b"body\nhello\n", "text/csv"))
    at.run()
    assert "no 'text' column" in texts(at.error).replace("\\", "")
    assert not at.exception


def test_label_words_pick_and_compare(workspace, trained_run):
    shutil.copytree(trained_run, workspace / "runs" / "tiny-copy")
    at = open_page("label_words")
    at.sidebar.selectbox(key="current_run").set_value("tiny-hpt")
    at.run()
    ok(at, "label_words")
    assert at.selectbox(key="lw_label").value == "quantum"  # the first label of the deepest level
    at.selectbox(key="lw_label").set_value("optics").run()
    at.slider(key="lw_k").set_value(5).run()
    assert not at.exception
    shown = texts(at.markdown)
    assert "**optics** (depth 3)" in shown and "Parent: physics" in shown
    words = at.dataframe[0].value
    assert len(words) == 5 and list(words.columns) == ["rank", "token", "similarity"]
    assert at.selectbox(key="lw_other").value == "tiny-copy"
    assert "tiny\\-copy" in shown  # the second run's column, escaped
    assert any(b.label.startswith("Download all labels") for b in at.get("download_button"))


def test_a_run_deleted_while_open_is_reported(workspace, trained_run):
    shutil.copytree(trained_run, workspace / "runs" / "doomed")
    at = open_page("predict")
    at.sidebar.selectbox(key="current_run").set_value("doomed")
    at.run()
    assert not at.exception
    shutil.rmtree(workspace / "runs" / "doomed")
    for page in ("predict", "label_words", "results"):
        at.switch_page(PAGES[page][0]).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    # The sidebar moved on to a run that exists.
    assert by_label(at.sidebar.selectbox, "Current run").value == "tiny-hpt"


# ---- large trees (issue 10, point 1) -----------------------------------------------------------------------


def figure(at, index: int = 0) -> dict:
    """The Plotly figure of the page's ``index``-th chart, as the browser receives it."""
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def tree_of(at) -> dict:
    return next(f for f in (figure(at, i) for i in range(len(at.get("plotly_chart"))))
                if f["data"] and f["data"][0].get("type") in ("icicle", "scatter") and
                (f["data"][0].get("type") == "icicle" or any(t.get("name") == "edges" for t in f["data"])))


@pytest.fixture
def big_workspace(workspace, big_trained_run, big_task_files):
    """The tiny run, a run on a generated 5,000-label depth-4 tree, and that tree saved as a dataset."""
    from hpt_core.workspace import Workspace

    shutil.copytree(big_trained_run, workspace / "runs" / "big-hpt")
    Workspace(workspace).save_uploaded_dataset(
        "big", big_task_files["taxonomy"].read_bytes(), ".tsv", big_task_files["train"].read_bytes(), ".jsonl",
        given={"dev": (big_task_files["dev"].read_bytes(), ".jsonl", "dev.jsonl"),
               "test": (big_task_files["test"].read_bytes(), ".jsonl", "test.jsonl")})
    return workspace


def open_data_page(dataset: str):
    """The Data page of workspace dataset ``dataset``, rendered whole and without an error."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["dataset"] = dataset
    at.run()
    at.switch_page(PAGES["data"][0]).run()
    ok(at, "data")
    assert not at.error, texts(at.error)
    return at


def test_every_child_of_a_branch_too_wide_for_the_tree_is_listed(workspace):
    """Issue 21: a branch of 300 children cannot name its boxes at the figure's height cap; opening
    it (a search or a click) lists every child, with its documents, beside the tree."""
    from hpt_core.workspace import Workspace

    taxonomy = "Root\tWide\tNarrow\n" + "Wide\t" + "\t".join(f"kind {k}" for k in range(300)) + "\nNarrow\tn1\tn2\n"
    docs = "".join(json.dumps({"text": f"about kind {k}", "labels": ["Wide", f"kind {k}"]}) + "\n" for k in range(0, 300, 30))
    Workspace(workspace).save_uploaded_dataset("wide", taxonomy.encode(), ".tsv", docs.encode(), ".jsonl",
                                               given={"dev": (docs.encode(), ".jsonl", "dev.jsonl")})
    at = open_data_page("wide")
    # at the root, Narrow's box is 2 leaves of 302: too thin for its name, so the two are listed
    assert list(next(d.value for d in at.dataframe if "children" in d.value.columns)["label"]) == ["Wide", "Narrow"]
    at.selectbox(key="data_focus").set_value("Wide").run()
    listed = next(d.value for d in at.dataframe if "children" in d.value.columns)
    assert list(listed["label"]) == [f"kind {k}" for k in range(300)]
    assert int(listed.loc[listed["label"] == "kind 30", "train documents"].iloc[0]) == 1
    assert any("has 300 children, more than the tree can name" in c.value for c in at.caption)
    at.selectbox(key="data_focus").set_value("Narrow").run()
    assert not [d for d in at.dataframe if "children" in d.value.columns]


def test_a_5000_label_tree_is_an_icicle_with_names_and_search(big_workspace):
    at = open_data_page("big")
    assert by_label(at.metric, "Labels").value == "5000"
    tree = tree_of(at)["data"][0]
    assert tree["type"] == "icicle" and len(tree["ids"]) == 5001
    # Names are written in the boxes, and the first view shows few enough boxes for them to fit.
    assert tree["texttemplate"] == "%{label}" and tree["maxdepth"] == 2
    # Search focuses a label: the view starts at it (its subtree), the label is marked red.
    at.selectbox(key="data_focus").set_value("t3.2").run()
    tree = tree_of(at)["data"][0]
    assert tree["level"] == "t3.2"
    assert tree["marker"]["colors"][tree["ids"].index("t3.2")] == "#d62728"
    # A leaf is shown among its siblings.
    leaf = "t3.2.1.1"
    at.selectbox(key="data_focus").set_value(leaf).run()
    assert tree_of(at)["data"][0]["level"] == "t3.2.1"


def test_a_5000_label_run_predicts_and_shows_label_words(big_workspace):
    at = open_page("predict")
    at.sidebar.selectbox(key="current_run").set_value("big-hpt").run()
    at.text_area(key="predict_text").input("goal striker pitch")
    by_label(at.button, "Predict").click()
    started = time.time()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    tree = tree_of(at)["data"][0]
    assert tree["type"] == "icicle" and tree["maxdepth"] == -1  # every depth, the path drawn wide
    red = {label for label, colour in zip(tree["ids"], tree["marker"]["colors"]) if colour == "#d62728"}
    assert red, "the predicted path is not marked"
    values, parent_of = dict(zip(tree["ids"], tree["values"])), dict(zip(tree["ids"], tree["parents"]))
    siblings_marked = {}
    for label in red:
        siblings_marked[parent_of[label]] = siblings_marked.get(parent_of[label], 0) + 1
    for label in red:  # the predicted labels of a parent share at least 60 % of its box, whatever the tree's size
        parent = parent_of[label]
        assert values[label] * siblings_marked[parent] >= 0.6 * values[parent] - 1e-9
    assert time.time() - started < 60

    at.switch_page(PAGES["label_words"][0]).run()
    ok(at, "label_words")
    at.selectbox(key="lw_label").set_value("t3.2.1.1").run()
    tree = tree_of(at)["data"][0]
    assert tree["level"] == "t3.2.1"  # the selected label among its siblings
    assert tree["marker"]["colors"][tree["ids"].index("t3.2.1.1")] == "#d62728"
    # The tiny run has another taxonomy: it is not offered for comparison.
    assert not [s for s in at.selectbox if s.key == "lw_other"]
    assert "No other run with learned label words on this taxonomy" in texts(at.caption)


# ---- comparisons never mix datasets (point 2), Table 3 (point 5) -------------------------------------------


def clone_run(workspace: Path, source: Path, name: str, method: str | None = None, taxonomy: Path | None = None,
              state: str | None = None) -> Path:
    target = workspace / "runs" / name
    shutil.copytree(source, target)
    config = json.loads((target / "run.json").read_text())
    if method:
        config["model"]["method"] = method
        metrics = json.loads((target / "metrics.json").read_text())
        metrics["method"] = method
        for split in ("dev", "test"):
            metrics[split]["macro_f1"] -= 0.1
        (target / "metrics.json").write_text(json.dumps(metrics))
    if taxonomy:
        shutil.copy(config["data"]["taxonomy"], taxonomy)
        config["data"]["taxonomy"] = str(taxonomy)
    (target / "run.json").write_text(json.dumps(config))
    status = json.loads((target / "status.json").read_text())
    status["launched"] = time.time()
    if state:
        status.update(state=state, error="out of memory" if state == "failed" else None)
    (target / "status.json").write_text(json.dumps(status))
    return target


def test_comparison_groups_by_dataset_with_the_hpt_row_first(workspace, trained_run, tmp_path):
    clone_run(workspace, trained_run, "ablation", method="rm-mlm")  # newest: listed first
    (tmp_path / "elsewhere").mkdir()
    clone_run(workspace, trained_run, "other-data", taxonomy=tmp_path / "elsewhere" / "taxonomy.tsv")
    at = open_page("results")
    at.sidebar.selectbox(key="current_run").set_value("tiny-hpt").run()  # the comparison opens on its dataset
    datasets = at.selectbox(key="cmp_dataset")
    assert len(datasets.options) == 2 and "elsewhere" in datasets.options and datasets.value != "elsewhere"
    table = next(d.value for d in at.dataframe if "Δ macro" in d.value.columns)
    assert set(table["dataset"]) == {datasets.value} and "other-data" not in set(table["run"])
    assert table["method"].tolist()[0] == "hpt"  # the reference row first, though launched earlier
    columns = list(table.columns)
    assert columns.index("Δ micro") == columns.index("micro-F1") + 1
    assert columns.index("Δ macro") == columns.index("macro-F1") + 1
    assert table["Δ macro"].tolist() == ["+0.00", "-10.00"]
    assert not table.isin(["None", "nan", "NaN"]).any().any()
    datasets.set_value("elsewhere").run()
    table = next(d.value for d in at.dataframe if "Δ macro" in d.value.columns)
    assert table["run"].tolist() == ["other-data"]


def test_low_resource_summary_never_averages_two_datasets(workspace, trained_run, tmp_path):
    from hpt_core.experiments import comparison_table, low_resource_summary

    (tmp_path / "elsewhere").mkdir()
    a = clone_run(workspace, trained_run, "seed-a")
    b = clone_run(workspace, trained_run, "seed-b", taxonomy=tmp_path / "elsewhere" / "taxonomy.tsv")
    summary = low_resource_summary([a, b])
    assert len(summary) == 2 and summary["micro_f1_count"].tolist() == [1, 1]
    assert set(summary["dataset"]) == {comparison_table([a])["dataset"][0], "elsewhere"}


def test_label_words_offers_only_runs_on_the_same_taxonomy(workspace, trained_run):
    shutil.copytree(trained_run, workspace / "runs" / "same-tree")
    other = clone_run(workspace, trained_run, "other-tree")
    tree = json.loads((other / "model" / "hierarchy.json").read_text())
    tree["edges"].append(["arts", "sculpture"])
    (other / "model" / "hierarchy.json").write_text(json.dumps(tree))
    at = open_page("label_words")
    at.sidebar.selectbox(key="current_run").set_value("tiny-hpt").run()
    assert [o.split(" · ")[0] for o in at.selectbox(key="lw_other").options] == ["same-tree"]
    assert not at.error


# ---- nothing dropped silently (point 3), given splits (point 4) --------------------------------------------


def test_predict_states_the_text_limit_and_never_keeps_a_stale_result(workspace):
    at = open_page("predict")
    box = at.text_area(key="predict_text")
    assert "20,000 characters" in box.label
    box.input("goal striker pitch " * 1200)  # 22,800 characters
    by_label(at.button, "Predict").click()
    at.run()
    assert "22,800 characters; only the first 20,000" in texts(at.warning)
    assert by_label(at.metric, "Latency").value.endswith("ms")
    at.text_area(key="predict_text").input("   ")
    by_label(at.button, "Predict").click()
    at.run()
    assert "Type or paste some text first" in texts(at.warning)
    assert not [m for m in at.metric if m.label == "Latency"]  # the old result is gone


def test_batch_prediction_keeps_columns_order_and_reports_skipped_lines(workspace):
    at = open_page("predict")
    data = b"id,text,source\n7,goal striker pitch,a\n8,,b\n\n9,laser lens photon,c\n"
    at.file_uploader(key="predict_file").set_value(("texts.csv", data, "text/csv"))
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert "2 texts classified" in texts(at.success)
    skipped = texts(at.warning)
    assert "2 row(s) skipped" in skipped and "3 (blank text)" in skipped and "4 (blank line)" in skipped
    table = next(d.value for d in at.dataframe if "predicted labels" in d.value.columns)
    assert list(table.columns[:4]) == ["line", "id", "text", "source"]
    assert table["id"].tolist() == ["7", "9"] and table["line"].tolist() == [2, 5]


def test_batch_prediction_at_bf16_classifies_the_same_file(workspace, monkeypatch):
    """The "faster arithmetic" toggle classifies the file again (not the float32 result from the
    cache) in bf16 with the same cached model, where this CPU computes bf16 natively."""
    from hpt_core.classifier import HTCClassifier

    precisions = []
    real_model_scores = HTCClassifier.model_scores

    def recording(self, *args, precision="fp32", **kwargs):
        precisions.append(precision)
        return real_model_scores(self, *args, precision=precision, **kwargs)

    monkeypatch.setattr(HTCClassifier, "model_scores", recording)
    from hpt_core.backbone import native_bf16

    at = open_page("predict")
    data = b"text\ngoal striker pitch\nlaser lens photon\ncanvas painting gallery\n"
    at.file_uploader(key="predict_file").set_value(("texts.csv", data, "text/csv"))
    at.run()
    assert precisions == ["fp32"]
    at.toggle(key="predict_bf16").set_value(True)
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    # where this CPU has no native bf16, the toggle changes nothing: the float32 result, not a new job
    assert precisions == (["fp32", "bf16"] if native_bf16("cpu") else ["fp32"])
    assert "3 texts classified" in texts(at.success)


def test_batch_prediction_names_texts_that_run_over_several_lines(workspace):
    """A stray quote closed by a later one merges rows into one text: the page names every text that
    runs over several lines, with its lines, so that a merge is never silent."""
    at = open_page("predict")
    data = b'id,text\n1,"goal striker\n2,pitch"\n3,laser lens photon\n'
    at.file_uploader(key="predict_file").set_value(("texts.csv", data, "text/csv"))
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert "2 texts classified" in texts(at.success)
    note = texts(at.info)
    assert "1 text(s) run over several lines inside quotes — lines 2–3" in note and "stray quote" in note


def test_upload_names_every_unknown_label_and_lists_what_was_skipped(workspace, task_files):
    taxonomy = ("tax.tsv", task_files["taxonomy"].read_bytes())
    lines = task_files["train"].read_text()
    extra = "".join(json.dumps({"text": f"x {i}", "labels": [label]}) + "\n"
                    for i, label in enumerate(["cooking", "cooking", "gardening"]))
    corpus = ("c.jsonl", (lines + extra).encode())
    n = len(lines.splitlines())
    at = open_page("data")
    at = upload(at, "bad", corpus, taxonomy)
    message = texts(at.error).replace("\\", "")
    assert "3 document(s)" in message and "cooking" in message and "gardening" in message
    assert "(2 documents; first: c.jsonl line " + str(n + 1) in message
    at = upload(at, "skipping", corpus, taxonomy, skip=True)
    assert "3 documents skipped" in texts(at.success)
    listed = next(d.value for d in at.dataframe if "problem" in d.value.columns)
    assert listed["line"].tolist() == [n + 1, n + 2, n + 3]
    assert "gardening" in listed["problem"].iloc[2]


def test_upload_with_given_dev_and_test_files(workspace, task_files):
    at = open_page("data")
    at.file_uploader(key="upload_dev").set_value(("dev.jsonl", task_files["dev"].read_bytes(), "text/plain"))
    at.file_uploader(key="upload_test").set_value(("test.jsonl", task_files["test"].read_bytes(), "text/plain"))
    at = upload(at, "given", ("train.jsonl", task_files["train"].read_bytes()),
                ("tax.tsv", task_files["taxonomy"].read_bytes()))
    assert not at.error, texts(at.error)
    assert "dev, test as given" in texts(at.success)
    saved = workspace / "datasets" / "given"
    for split in ("train", "dev", "test"):
        assert (saved / f"{split}.jsonl").read_text().count("\n") == task_files[split].read_text().count("\n")


# ---- runs as things one owns (point 6), status wording (point 7) ------------------------------------------


def test_stopped_runs_are_filed_apart_and_can_be_deleted(workspace, trained_run):
    clone_run(workspace, trained_run, "broken", state="failed")
    clone_run(workspace, trained_run, "stopped", state="cancelled")
    at = open_page("home")
    main, stopped = at.dataframe[-2].value, at.dataframe[-1].value
    assert main["run"].tolist() == ["tiny-hpt"]
    assert sorted(stopped["run"]) == ["broken", "stopped"]

    at.sidebar.selectbox(key="current_run").set_value("broken").run()
    at.switch_page(PAGES["train"][0]).run()
    assert "out of memory" in texts(at.error)
    assert by_label(at.metric, "ETA").value == "—"
    assert any(b.label.startswith("Retry") for b in at.button)
    at.button(key="delete_broken").click().run()
    assert not (workspace / "runs" / "broken").exists()
    assert "Deleted broken" in texts(at.success).replace("\\", "")


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_retry_relaunches_a_cancelled_run(workspace, trained_run):
    run = clone_run(workspace, trained_run, "stopped", state="cancelled")
    at = open_page("train")
    at.sidebar.selectbox(key="current_run").set_value("stopped").run()
    at.button(key="retry_stopped").click()
    try:
        at.run()
        assert "Relaunched stopped" in texts(at.success).replace("\\", "")
        assert runs.run_status(run)["state"] in ("queued", "running", "completed")
    finally:
        runs.cancel(run, grace_s=10)


def test_results_offers_the_model_folder_and_predictions(workspace):
    import io
    import zipfile

    from app_pages._shared import run_archive, split_predictions

    at = open_page("results")
    labels = [b.label for b in at.get("download_button")]
    assert "Model folder and figures (zip)" in labels and "Predictions on test (CSV)" in labels
    run = workspace / "runs" / "tiny-hpt"
    names = zipfile.ZipFile(io.BytesIO(run_archive(run))).namelist()
    assert "tiny-hpt/model/model.safetensors" in names and "tiny-hpt/metrics.json" in names
    assert not any("/checkpoint/" in n for n in names)
    config = json.loads((run / "run.json").read_text())
    csv_text = split_predictions(run, config["data"]["test"]).decode()
    assert csv_text.splitlines()[0].startswith("text,gold_labels,labels")
    assert len(csv_text.splitlines()) == 1 + len(Path(config["data"]["test"]).read_text().splitlines())


def test_state_wording_agrees_with_the_files():
    from app_pages._shared import running_phase, state_text

    assert state_text({"state": "queued"}, {}) == "queued (waiting for the device)"
    assert state_text({"state": "queued", "queue_position": 3}, {}) == "queued · number 3 in line for the device"
    assert state_text({"state": "running"}, {}) == "starting (loading the data and the backbone)"
    training = {"kind": "step", "step": 5, "total_steps": 10, "eta_s": 65}
    assert state_text({"state": "running"}, training) == "running · ETA 1m 05s"
    assert running_phase({**training, "step": 10, "eta_s": 0}) == "evaluating"
    assert state_text({"state": "running"}, {**training, "eta_s": 0.2}) == "running · evaluating on dev/test"
    assert state_text({"state": "cancelled"}, training) == "cancelled"  # no ETA once it is over
    # the long phases around training say what they do, how far, and when they end (issue 25)
    fitting = {**training, "kind": "phase", "phase": "lexical channel", "done": 3, "total": 8,
               "detail": "fit 3 of 8: C = 1000", "eta_s": 50}
    assert running_phase(fitting) == "phase"
    assert state_text({"state": "running"}, fitting) == "running · lexical channel: fit 3 of 8: C = 1000 (3/8) · ETA 0m 50s"


def test_home_draws_the_page_before_the_device(workspace):
    at = open_page("home")
    assert by_label(at.metric, "Training will run on").value.startswith(("CPU", "GPU"))
    assert not [c for c in at.caption if "Checking which device" in c.value]  # the slot was filled


# ---- quality bar -----------------------------------------------------------------------------------------


def _app_files() -> list[Path]:
    pages = sorted((ROOT / "app_pages").glob("*.py"))
    assert len(pages) >= len(PAGES), "the app's pages are not where the tests look"  # never a vacuous pass
    return [APP, *pages]


def test_pages_never_import_torch_nor_allow_unsafe_html():
    for path in _app_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "torch" for a in node.names), path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "torch", path
            if isinstance(node, ast.keyword):
                assert node.arg != "unsafe_allow_html", path


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_drawing_a_page_loads_no_torch_until_a_model_is_needed():
    """Issue 20: a page's own imports — direct or through ``hpt_core`` and ``app_pages._shared`` — load
    neither torch nor transformers (the app draws before any model loads; a page importing
    ``hpt_core.model`` at the top would fail here). Checked in a fresh interpreter per page."""
    import subprocess
    import sys

    for path in _app_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = [ast.unparse(n) for n in tree.body
                   if isinstance(n, (ast.Import, ast.ImportFrom)) and getattr(n, "module", None) != "__future__"]
        code = "import sys\n" + "\n".join(imports) + "\nprint(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, (path, done.stderr[-500:])
        assert done.stdout.strip() == "[]", f"{path.name} loads {done.stdout.strip()} before it needs a model"


def test_the_app_uses_streamlits_public_navigation_only():
    """Issue 20: no folder named ``pages/`` beside app.py (Streamlit would serve its files as a
    legacy multipage app, each page alone without app.py's navigation, until ``st.navigation`` first
    runs), so no page needs to patch Streamlit's private ``PagesManager``; no page imports
    Streamlit's internals."""
    assert not (ROOT / "pages").exists()
    for path in _app_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith(("streamlit.runtime", "streamlit.web")) for n in names), path


def test_markdown_escaping():
    from app_pages._shared import md

    assert md("<b>x</b>") == "\\<b\\>x\\</b\\>"
    assert md("**a** [l](u) :red[x] $x$") == "\\*\\*a\\*\\* \\[l\\]\\(u\\) \\:red\\[x\\] \\$x\\$"


def test_streamlit_config_binds_to_localhost():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["headless"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 1024


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_a_finished_job_is_reaped_and_logs_each_line_once(workspace, task_files, tiny_backbone):
    """The app launches jobs as its children: one that ends must not stay a zombie under the app."""
    from hpt_core.config import DataSpec, TrainConfig
    from hpt_core.methods import resolve_method

    data = DataSpec(taxonomy=str(task_files["taxonomy"]), train=str(task_files["train"]),
                    dev=str(workspace / "missing-dev.jsonl"))  # rejected when the job reads it: it ends at once
    config = RunConfig(data=data, model=resolve_method("hpt", backbone=tiny_backbone, max_length=32),
                       train=TrainConfig(epochs=1), name="doomed")
    run = workspace / "runs" / "doomed"
    run.mkdir(parents=True)
    config.to_json(run / "run.json")
    pid = runs.launch(run)
    deadline = time.time() + 120
    while time.time() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists(), "the finished job is still in the process table (a zombie)"
    assert runs.run_status(run)["state"] == "failed"
    log = [line for line in runs.log_tail(run, 200).splitlines() if line.strip()]
    assert log and len(log) == len(set(log)), log
