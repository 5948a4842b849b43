"""The app's "see why" features with ``AppTest``: zero-shot predictions, explanations, the error browser
and one-click experiments (app_pages/_zero_shot_ui.py, _explain_ui.py, _errors_ui.py, _experiment_ui.py)."""

from __future__ import annotations

from pathlib import Path

from test_app import PAGES, by_label, empty_workspace, ok, open_page, texts, workspace  # noqa: F401  (fixtures)


def test_predict_zero_shot_right_after_a_taxonomy_without_any_run(empty_workspace):  # noqa: F811
    at = open_page("predict")
    ok(at, "predict")
    at.toggle(key="zs_on").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "chosen on 108 dev documents" in texts(at.caption)
    at.text_area(key="zs_text").input("My card was declined when I tried to pay the bill")
    by_label(at.button, "Predict (zero-shot)").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    table = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert table["predicted"].any() and table["depth"].min() == 1
    assert "Paths" in texts(at.markdown)


def test_predict_explains_the_path_and_any_label_with_escaped_text(workspace):  # noqa: F811
    at = open_page("predict")
    at.text_area(key="predict_text").input("we saw a <b>penalty</b> goal today")
    by_label(at.button, "Predict").click()
    at.run()
    by_label(at.button, "Explain").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    shown = at.get("html")
    assert shown, "no highlighted text"
    body = shown[0].proto.body
    assert "<b>" not in body and "&lt;" in body and "penalty" in body
    table = next(d.value for d in at.dataframe if "word" in d.value.columns)
    assert table["word"].tolist()[:3] == ["we", "saw", "a"] and any(c.startswith("depth 1: ") for c in table.columns)
    assert "convergence delta" in texts(at.markdown) and "integrated gradients" in texts(at.caption)
    assert "of the score − baseline" in texts(at.markdown)  # what the delta misses, as a share
    refine = [b for b in at.button if b.label.startswith("More steps")]
    if refine:  # rough attributions: more steps on request, and the caption says how many were used
        assert "read them as rough" in texts(at.caption)
        steps = int(refine[0].label.split("(")[1].rstrip(")"))
        refine[0].click()
        at.run()
        assert not at.exception and f"{steps} steps" in texts(at.caption)

    at.button_group(key="predict_explain_mode").set_value("any label").run()
    at.selectbox(key="predict_explain_label").set_value("optics")
    by_label(at.button, "Explain").click()
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "word" in d.value.columns)
    assert list(table.columns) == ["position", "word", "depth 3: optics"]


def test_results_error_browser_filters_opens_and_downloads(workspace):  # noqa: F811
    at = open_page("results")
    at.toggle(key="err_on").set_value(True).run()
    assert not at.exception and not at.error, texts(at.error)
    everything = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    assert len(everything) and (everything["kinds"] != "").all()  # by default: the documents with an error
    at.selectbox(key="err_kind").set_value("all documents").run()
    every = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    assert len(every) == 24 > len(everything)  # every test document
    at.selectbox(key="err_depth").set_value(1).run()
    assert not at.exception
    at.selectbox(key="err_kind").set_value("missed").run()
    missed = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    assert missed["kinds"].str.contains("missed").all() and missed["error_depths"].str.contains("1").all()
    downloads = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download these") for label in downloads)
    assert "Download this matrix (CSV)" in downloads
    matrix = next(d.value for d in at.dataframe if d.value.index.name == "gold")
    assert list(matrix.columns) == ["sports", "science", "arts", "(none)"]
    at.selectbox(key="err_parent").set_value("physics").run()
    matrix = next(d.value for d in at.dataframe if d.value.index.name == "gold")
    assert list(matrix.index) == ["quantum", "optics", "(none)"]

    at.selectbox(key="err_kind").set_value("any").run()
    at.selectbox(key="err_depth").set_value("any").run()
    opened = at.selectbox(key="err_doc").value
    assert f"Document #{opened}" in texts(at.markdown)
    by_label(at.button, "Explain").click()
    at.run()
    assert not at.exception and at.get("html")


def test_train_launches_cancels_and_resumes_an_experiment(workspace, tiny_backbone):  # noqa: F811
    from hpt_core import runs
    from hpt_core.experiments import cancel_experiment, experiment_runs

    at = open_page("train")
    at.text_input(key="exp_name").input("exp1")
    at.multiselect(key="exp_methods").set_value(["zero-shot", "hpt", "rm-mlm"])
    at.text_input(key="exp_seeds").input("1,2")
    at.text_input(key="exp_fractions").input("0.5,1")
    at.text_input(key="exp_backbone").input(tiny_backbone)
    at.number_input(key="exp_epochs").set_value(1)
    at.number_input(key="exp_max_length").set_value(32)
    by_label(at.button, "Launch experiment").click()
    at.run()
    exp_dir = workspace / "experiments" / "exp1"
    try:
        assert not at.exception and not at.error, texts(at.error)
        assert "9 runs queued" in texts(at.success)
        members = experiment_runs(exp_dir)
        assert {p.name for p in members} >= {"exp1-zero-shot", "exp1-hpt-0.5-seed1", "exp1-rm-mlm-seed2"}
        at.run()
        queue = at.dataframe[0].value
        assert len(queue) >= 8 and set(queue["run"]) <= {p.name for p in members}
        by_label(at.button, "Cancel experiment").click()
        at.run(timeout=60)
        assert not any(runs.run_status(p).get("state") in runs.ACTIVE_STATES for p in members)
        assert "exp1** · cancelled" in texts(at.markdown)
        by_label(at.button, "Resume experiment").click()
        at.run()
        assert any(runs.run_status(p).get("state") in runs.ACTIVE_STATES for p in members)
    finally:
        cancel_experiment(exp_dir, grace_s=20)
    # a second experiment of the same name is refused, inline
    by_label(at.button, "Launch experiment").click()
    at.run()
    assert "exists" in texts(at.error)


def test_the_experiment_form_shows_its_run_count_and_time_and_asks_before_hours_of_work(workspace):  # noqa: F811
    """Issue 21: the default experiment (every method × 3 seeds × 2 fractions) names its cost before
    launch, and above an hour it launches only once confirmed."""
    at = open_page("train")
    assert not at.exception
    shown = texts(at.markdown)
    from hpt_core.experiments import DEFAULT_METHODS

    expected = (len(DEFAULT_METHODS) - 1) * 3 * 2 + 1  # every trained method × 3 seeds × 2 fractions, zero-shot once
    assert f"**{expected} runs**" in shown and " one after the other on " in shown
    assert "Estimated from the training tokens" in texts(at.caption)
    at.text_input(key="exp_name").input("too-big")
    by_label(at.button, "Launch experiment").click()
    at.run()
    assert "Not launched: tick the box" in texts(at.warning)
    assert not (workspace / "experiments" / "too-big").exists()
    at.checkbox(key="exp_confirm")  # offered
    # a small experiment needs no confirmation and says so in its figures
    at.multiselect(key="exp_methods").set_value(["zero-shot"]).run()
    assert "1 run**" in texts(at.markdown) and not [c for c in at.checkbox if c.key == "exp_confirm"]


def test_label_suggests_the_closest_calls_and_saves_labels_into_the_dataset(workspace, monkeypatch):  # noqa: F811
    """Issue 23: paste a pool, get the texts the run is least sure of with its path and the two
    labels it hesitated between, correct the label, save: the text joins the training split of the
    run's dataset with its ancestors; skip moves on; Retrain queues a run like this one on the
    dataset as it is now."""
    import json

    from hpt_core.data import load_dataset, save_dataset
    from test_app import clone_run

    # a workspace dataset of the synthetic task, and the tiny run as if trained on it
    task = load_dataset(Path(json.loads((workspace / "runs" / "tiny-hpt" / "run.json").read_text())["data"]["taxonomy"]).parent)
    save_dataset(workspace / "datasets" / "task", task)
    clone_run(workspace, workspace / "runs" / "tiny-hpt", "on-task", taxonomy=workspace / "datasets" / "task" / "taxonomy.tsv")
    before = len((workspace / "datasets" / "task" / "train.jsonl").read_text(encoding="utf-8").splitlines())
    at = open_page("label")
    at.sidebar.selectbox(key="current_run").set_value("tiny-hpt").run()
    assert "trained on files outside this workspace" in texts(at.warning)  # tiny-hpt's files are elsewhere
    # ... which the page offers to make a workspace dataset: then it suggests for that run
    at.text_input(key="label_adopt_name").input("tiny-files")
    at.button[[b.label for b in at.button].index("Make them a workspace dataset")].click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert "tiny-files" in {p.name for p in (workspace / "datasets").iterdir()}
    assert "trained on files outside this workspace" not in texts(at.warning) and "Suggest" in [b.label for b in at.button]
    at.sidebar.selectbox(key="current_run").set_value("on-task").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_area(key="label_pasted").input("we saw a penalty goal today\na bronze sculpture on show\nlens and laser")
    at.number_input(key="label_n").set_value(2)
    by_label(at.button, "Suggest").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert "Text 1 of 2" in texts(at.markdown) and "The model answers:" in texts(at.caption)
    first = at.session_state["label_queue"]["items"][0]
    decided = set(first["decided"])  # the picker starts from the model's answer (its path ends)
    assert set(at.multiselect(key="label_pick_0").value) == {l for l in decided if not any(
        task.hierarchy.parent(other) == l for other in decided)}
    shown = at.get("text")[0].value
    assert shown in {"we saw a penalty goal today", "a bronze sculpture on show", "lens and laser"}
    at.multiselect(key="label_pick_0").set_value(["optics"])
    by_label(at.button, "Save and next").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert "Text 2 of 2" in texts(at.markdown)
    saved = [json.loads(line) for line in
             (workspace / "datasets" / "task" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(saved) == before + 1
    assert saved[-1]["text"] == shown and set(saved[-1]["labels"]) == {"science", "physics", "optics"}
    by_label(at.button, "Skip").click()
    at.run()
    assert "All suggestions done" in texts(at.success)

    from hpt_core import runs

    launched = []
    monkeypatch.setattr(runs, "launch", lambda run_dir, python=None: launched.append(Path(run_dir)) or 0)
    by_label(at.button, "Retrain").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert len(launched) == 1
    config = json.loads((launched[0] / "run.json").read_text())
    assert config["data"]["train"] == str(workspace / "datasets" / "task" / "train.jsonl")
    original = json.loads((workspace / "runs" / "on-task" / "run.json").read_text())
    assert config["model"] == original["model"] and config["train"]["seed"] == original["train"]["seed"]
    # the default: a quick round from this run's model (a warm start: one replay epoch, dev only)
    assert config["train"]["init_from"] == str((workspace / "runs" / "on-task" / "model").resolve())
    assert config["train"]["epochs"] == 1 and config["train"]["replay_documents"] == 500
    assert (config["train"]["schedule"], config["train"]["warmup_ratio"]) == ("linear", 0.1)
    assert config["data"]["test"] is None  # test is scored on request only
    at = open_page("label")  # Retrain moved to the Train page: back to label, choosing a fresh start
    at.sidebar.selectbox(key="current_run").set_value("on-task").run()
    at.radio(key="label_warm").set_value("train fresh from the pretrained backbone").run()
    by_label(at.button, "Retrain").click()
    at.run()
    fresh = json.loads((launched[-1] / "run.json").read_text())
    assert len(launched) == 2 and fresh["train"]["init_from"] is None
    assert fresh["train"]["epochs"] == original["train"]["epochs"] and fresh["train"]["replay_documents"] is None
    dataset_test = str(workspace / "datasets" / "task" / "test.jsonl")
    assert fresh["data"]["test"] == dataset_test  # a fresh run scores test as the first did
    # a quick round that is asked to score test names the dataset's test split
    at = open_page("label")
    at.sidebar.selectbox(key="current_run").set_value("on-task").run()
    at.checkbox(key="label_score_test").check().run()
    by_label(at.button, "Retrain").click()
    at.run()
    asked = json.loads((launched[-1] / "run.json").read_text())
    assert len(launched) == 3 and asked["train"]["init_from"] and asked["data"]["test"] == dataset_test
    # a run from before runs recorded what they learnt from: the old warm start, every document
    (workspace / "runs" / "on-task" / "trained_on.json").unlink()
    from hpt_core.workspace import Workspace

    legacy = Workspace(workspace).retrain_config(workspace / "runs" / "on-task", "task", warm_start=True)
    assert legacy.train.init_from and legacy.train.replay_documents is None
    assert legacy.train.epochs == min(original["train"]["epochs"], 3)
    # "train fresh" after a quick round trains as the first run of the chain did, not one decayed epoch
    quick = workspace / "runs" / "quick-round"
    quick.mkdir()
    from hpt_core.config import RunConfig

    RunConfig.from_json(launched[0] / "run.json").to_json(quick / "run.json")  # the quick round launched above
    fresh = Workspace(workspace).retrain_config(quick, "task").train
    assert (fresh.epochs, fresh.schedule, fresh.warmup_ratio) == (original["train"]["epochs"],
                                                                  original["train"]["schedule"],
                                                                  original["train"]["warmup_ratio"])
    assert fresh.init_from is None and fresh.replay_documents is None


def test_results_of_a_zero_shot_run_evaluate_and_download(workspace, task_files, tiny_backbone):  # noqa: F811
    """Issue 21: a zero-shot run is first-class on Results: figures, the per-label table and the
    predictions CSV (built on click), no red error; the error browser says why it does not apply."""
    from hpt_core.config import DataSpec
    from hpt_core.zero_shot import ZeroShotConfig, evaluate_into

    data = DataSpec(**{k: str(v) for k, v in task_files.items()})
    evaluate_into(data, workspace / "runs" / "zs", ZeroShotConfig(backbone=tiny_backbone, max_length=32))
    at = open_page("results")
    at.sidebar.selectbox(key="current_run").set_value("zs").run()
    assert not at.exception and not at.error, texts(at.error)
    assert any("precision" in d.value.columns for d in at.dataframe)  # the per-label table
    assert "needs a trained model" in texts(at.caption)
    from app_pages._shared import split_predictions

    csv = split_predictions(workspace / "runs" / "zs", str(task_files["test"])).decode()
    assert csv.splitlines()[0].startswith("text,gold_labels,labels,consistent_labels,paths")


def test_results_shows_an_experiment_as_table_3_and_figure_4(workspace):  # noqa: F811
    import json
    import shutil

    from hpt_core import runs
    from hpt_core.config import DataSpec
    from hpt_core.experiments import EXPERIMENT_FILE, Experiment

    source = workspace / "runs" / "tiny-hpt"
    config = json.loads((source / "run.json").read_text())
    spec = Experiment("exp2", DataSpec(**config["data"]), ["hpt", "rm-mlm"], seeds=[1, 2], fractions=[0.5, 1.0])
    members = []
    for name, method, seed, fraction in spec.plan():
        target = workspace / "runs" / f"exp2-{name}"
        shutil.copytree(source, target)
        config["model"]["method"], config["train"]["seed"] = method, seed
        config["train"]["low_resource"] = None if fraction == 1.0 else fraction
        (target / "run.json").write_text(json.dumps(config))
        metrics = json.loads((target / "metrics.json").read_text())
        metrics["method"] = method
        metrics["test"]["macro_f1"] = fraction * 0.5 + seed * 0.01 + (0.1 if method == "hpt" else 0.0)
        (target / "metrics.json").write_text(json.dumps(metrics))
        members.append(str(target))
    runs.atomic_write_json(workspace / "experiments" / "exp2" / EXPERIMENT_FILE,
                           {"spec": spec.to_dict(), "runs": members, "launched": 1.0})
    at = open_page("results")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Δ macro-F1" in d.value.columns)
    assert table["method"].tolist() == ["hpt", "rm-mlm", "hpt", "rm-mlm"]
    hpt_half = table[(table["method"] == "hpt") & (table["fraction"] == 0.5)].iloc[0]
    assert hpt_half["macro-F1"] == "36.50 ± 0.71" and hpt_half["seeds"] == 2, table.to_string()
    assert table[(table["method"] == "rm-mlm") & (table["fraction"] == 1.0)]["Δ macro-F1"].tolist() == ["-10.00"]
    figure = [c for c in at.get("plotly_chart") if "share of training data" in c.proto.spec]
    assert figure, "no Figure 4"
    spec_json = json.loads(figure[0].proto.spec)
    assert [t.get("name") for t in spec_json["data"]] == ["hpt", "rm-mlm"], spec_json["data"]
    assert spec_json["data"][0]["error_y"]["visible"]
    assert any(b.label == "Download the experiment table (CSV)" for b in at.get("download_button"))


def test_misclassified_documents_go_from_the_error_browser_to_the_label_page_and_are_corrected(workspace):  # noqa: F811
    """Issue 23: the error browser sends the documents it shows to the Label page, each with its gold
    and predicted paths; "Save correction" replaces that document's labels in its own split (the
    rest of the file unchanged), "Keep as it is" moves on."""
    import json

    from hpt_core.data import load_dataset, save_dataset
    from test_app import clone_run

    task = load_dataset(Path(json.loads((workspace / "runs" / "tiny-hpt" / "run.json").read_text())["data"]["taxonomy"]).parent)
    save_dataset(workspace / "datasets" / "task", task)
    run = clone_run(workspace, workspace / "runs" / "tiny-hpt", "on-task",
                    taxonomy=workspace / "datasets" / "task" / "taxonomy.tsv")
    config = json.loads((run / "run.json").read_text())
    for split in ("train", "dev", "test"):  # the run's files are the dataset's
        config["data"][split] = str(workspace / "datasets" / "task" / f"{split}.jsonl")
    (run / "run.json").write_text(json.dumps(config))
    test_file = workspace / "datasets" / "task" / "test.jsonl"
    before = [json.loads(line) for line in test_file.read_text(encoding="utf-8").splitlines()]

    at = open_page("results")
    at.sidebar.selectbox(key="current_run").set_value("on-task").run()
    assert at.sidebar.selectbox(key="current_dataset").value == "task"  # the run's dataset becomes current
    at.toggle(key="err_on").set_value(True).run()
    assert not at.exception and not at.error, texts(at.error)
    shown = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    by_label(at.button, f"Relabel these {len(shown)} documents on the Label page").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert [t.value for t in at.title] == ["Label"]
    at.switch_page(PAGES["label"][0]).run()  # AppTest's next runs stay on the page switched to
    first = int(shown["doc"].iloc[0])
    assert f"Text 1 of {len(shown)}" in texts(at.markdown) and f"document #{first} of the test split" in texts(at.markdown)
    assert "Gold now:" in texts(at.caption) and "The model predicted:" in texts(at.caption)
    assert "picked from the model's errors" in texts(at.warning)  # relabelling test documents biases test figures
    assert at.get("text")[0].value == before[first]["text"]
    at.multiselect(key="label_pick_0").set_value(["tennis"])
    by_label(at.button, "Save correction and next").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    after = [json.loads(line) for line in test_file.read_text(encoding="utf-8").splitlines()]
    assert set(after[first]["labels"]) == {"sports", "tennis"} and after[first]["text"] == before[first]["text"]
    assert [d for i, d in enumerate(after) if i != first] == [d for i, d in enumerate(before) if i != first]
    if len(shown) > 1:
        by_label(at.button, "Keep as it is").click()
        at.run()
        assert f"Text 3 of {len(shown)}" in texts(at.markdown) or "All suggestions done" in texts(at.success)
    info = json.loads((workspace / "datasets" / "task" / "dataset.json").read_text())
    assert [(c["split"], c["document"]) for c in info["corrections"]] == [("test", first)]
    # back on Results, the error browser is still open where the user left it
    at.switch_page(PAGES["results"][0]).run()
    assert at.toggle(key="err_on").value and any("kinds" in d.value.columns for d in at.dataframe)


def test_a_link_naming_a_dataset_keeps_it_and_choosing_a_run_brings_its_own(workspace):  # noqa: F811
    """A fresh session opened by a link (?dataset=demo) keeps that dataset even when the newest run —
    the default — was trained on another; choosing a run afterwards makes its dataset current."""
    import json

    from streamlit.testing.v1 import AppTest

    from hpt_core.data import load_dataset, save_dataset
    from test_app import APP, clone_run

    task = load_dataset(Path(json.loads((workspace / "runs" / "tiny-hpt" / "run.json").read_text())["data"]["taxonomy"]).parent)
    save_dataset(workspace / "datasets" / "task", task)
    clone_run(workspace, workspace / "runs" / "tiny-hpt", "on-task", taxonomy=workspace / "datasets" / "task" / "taxonomy.tsv")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["dataset"] = "demo"
    at.run()
    assert at.sidebar.selectbox(key="current_run").value == "on-task"  # the newest run
    assert at.sidebar.selectbox(key="current_dataset").value == "demo"  # the link's dataset stays
    at.sidebar.selectbox(key="current_run").set_value("tiny-hpt").run()
    at.sidebar.selectbox(key="current_run").set_value("on-task").run()
    assert at.sidebar.selectbox(key="current_dataset").value == "task"
