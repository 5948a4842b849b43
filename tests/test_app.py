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
    "home": ("pages/home.py", "HPT — hierarchical text classification"),
    "data": ("pages/data.py", "Data"),
    "train": ("pages/train.py", "Train"),
    "results": ("pages/results.py", "Results"),
    "predict": ("pages/predict.py", "Predict"),
    "label_words": ("pages/label_words.py", "Label words"),
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


@pytest.mark.parametrize("page", ["home", "train", "results", "predict", "label_words"])
def test_page_without_runs_says_what_to_do(empty_workspace, page):
    at = open_page(page)
    ok(at, page)
    assert not at.error
    if page in ("results", "predict", "label_words"):
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
        assert sorted(queue["state"]) == ["queued", "running"] and set(queue["run"]) == {p.name for p in launched}
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
    comparison = next(d.value for d in at.dataframe if "delta_macro_f1" in d.value.columns)
    assert comparison["delta_macro_f1"].tolist() == [0.0]
    at.button_group(key="results_split").set_value("dev").run()
    assert by_label(at.metric, "Micro-F1").value == f"{100 * metrics['dev']['micro_f1']:.2f}"


def test_predict_text_and_file(workspace):
    at = open_page("predict")
    at.text_area(key="predict_text").input("the striker scored a penalty goal on the pitch")
    by_label(at.button, "Predict").click()
    at.run()
    assert not at.exception and not at.error
    assert by_label(at.metric, "Latency").value.endswith("ms")
    table = next(d.value for d in at.dataframe if "hierarchy-consistent" in d.value.columns)
    assert table["depth"].tolist() == [1, 2, 3]
    assert len(at.get("plotly_chart")) == 2  # the tree with the path, the scores

    at.file_uploader(key="predict_file").set_value(("texts.txt", b"goal striker pitch\nlaser lens photon\n", "text/plain"))
    at.run()
    assert "2 texts classified" in texts(at.success)
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


# ---- quality bar -----------------------------------------------------------------------------------------


def test_pages_never_import_torch_nor_allow_unsafe_html():
    for path in [APP, *sorted((ROOT / "pages").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "torch" for a in node.names), path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "torch", path
            if isinstance(node, ast.keyword):
                assert node.arg != "unsafe_allow_html", path


def test_markdown_escaping():
    from pages._shared import md

    assert md("<b>x</b>") == "\\<b\\>x\\</b\\>"
    assert md("**a** [l](u) :red[x] $x$") == "\\*\\*a\\*\\* \\[l\\]\\(u\\) \\:red\\[x\\] \\$x\\$"


def test_streamlit_config_binds_to_localhost():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["headless"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 1024
