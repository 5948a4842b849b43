"""The zero-shot predictor: label names against the text, decided top-down, threshold chosen on dev."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest

from hpt_core import runs
from hpt_core.config import DataSpec
from hpt_core.data import Document
from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import LabelHierarchy
from hpt_core.zero_shot import (ZERO_SHOT, ZeroShotClassifier, ZeroShotConfig, choose_threshold, evaluate_into,
                                prepare_run, subtree_max, top_down_decision)


class BagOfWords:
    """A stand-in sentence encoder: each token's state is its one-hot vector, so the mean-pooled
    cosine of a text and a label name is their word overlap. Makes the expected decisions obvious."""

    def __init__(self, vocab_size: int):
        import torch

        self.config = SimpleNamespace(hidden_size=vocab_size)
        self._eye = torch.eye(vocab_size)
        self._param = torch.nn.Parameter(torch.zeros(1))

    def eval(self):
        return self

    def parameters(self):
        return iter([self._param])

    def __call__(self, input_ids, attention_mask, **_):
        return SimpleNamespace(last_hidden_state=self._eye[input_ids])


@pytest.fixture
def bag_of_words(tiny_backbone, hierarchy):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)

    def build(**options):
        return ZeroShotClassifier(hierarchy, BagOfWords(len(tokenizer)), tokenizer, ZeroShotConfig(**options))

    return build


def test_subtree_routing_reaches_a_leaf_whose_parent_name_is_not_in_the_text(bag_of_words):
    text = "we saw biology today"  # says "biology", never "science"
    by_subtree = bag_of_words(routing="subtree").predict([text])[0]
    assert by_subtree.paths == [["science", "biology"]]
    assert by_subtree.labels == by_subtree.consistent_labels == ["science", "biology"]
    # Routed by its own name only, "science" scores like every top-level label: the tie goes to the first.
    by_label = bag_of_words(routing="label").predict([text])[0]
    assert by_label.paths[0][0] == "sports"


def test_the_threshold_cuts_the_path_where_the_text_stops_matching(bag_of_words):
    # [CLS] and [SEP] are shared by every text: unrelated texts score 0.47 against a one-word name.
    classifier = bag_of_words(threshold=0.6)
    matching, unrelated = classifier.predict(["news about quantum today", "we saw a report"])
    assert matching.paths == [["science", "physics", "quantum"]]
    assert unrelated.labels == [] and unrelated.paths == []
    # Decision scores: > 0 exactly where a label is predicted (what evaluation_report reads).
    scores = classifier.scores(["news about quantum today"])[0]
    assert [classifier.hierarchy.labels[i] for i in np.flatnonzero(scores > 0)] == ["science", "physics", "quantum"]


def test_threshold_is_chosen_on_dev_and_beats_whole_paths_there(bag_of_words):
    classifier = bag_of_words()
    dev = [Document("news about optics", ["science", "physics", "optics"]),
           Document("we saw biology", ["science", "biology"]),
           Document("a report on arts", ["arts"]),
           Document("we saw a report", ["arts"])] * 3
    threshold = classifier.fit_threshold(dev)
    assert classifier.config.threshold == threshold
    gold = classifier.hierarchy.multi_hot([d.labels for d in dev])
    from hpt_core.metrics import macro_f1

    routing = classifier.routing_scores(classifier.similarities([d.text for d in dev]))
    whole_path = macro_f1(gold, top_down_decision(routing, classifier.hierarchy, None))
    assert macro_f1(gold, classifier.decide(classifier.similarities([d.text for d in dev]))) >= whole_path
    assert choose_threshold(routing, gold, classifier.hierarchy)[0] == threshold


def test_subtree_max_and_top_down_decision_on_an_uneven_tree():
    h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A1", "A1x"), ("Root", "B")])
    a, a1, a1x, b = (h.label_to_index[x] for x in ("A", "A1", "A1x", "B"))
    sims = np.zeros((1, 4))
    sims[0, [a, a1, a1x, b]] = [0.1, 0.2, 0.8, 0.5]
    routed = subtree_max(sims, h)
    assert routed[0, a] == pytest.approx(0.8) and routed[0, b] == pytest.approx(0.5)
    assert top_down_decision(routed, h, None)[0].tolist() == top_down_decision(routed, h, 0.7)[0].tolist()
    assert top_down_decision(sims, h, 0.15)[0, [a, b]].tolist() == [0, 1]  # routed by own names: B wins, kept
    assert top_down_decision(sims, h, 0.6)[0].sum() == 0


def test_config_rejects_unknown_options():

    with pytest.raises(HPTInputError, match="routing"):
        ZeroShotConfig(routing="best")


def test_zero_shot_run_folder_reads_like_a_trained_run(task_files, tiny_backbone, tmp_path):
    from hpt_core.experiments import comparison_table

    data = DataSpec(**{k: str(v) for k, v in task_files.items()})
    metrics = evaluate_into(data, tmp_path / "zs", ZeroShotConfig(backbone=tiny_backbone, max_length=32))
    assert metrics["method"] == ZERO_SHOT and metrics["train_documents"] == 0
    assert {"dev", "test", "threshold"} <= set(metrics)
    assert runs.run_status(tmp_path / "zs")["state"] == "completed"
    table = comparison_table([tmp_path / "zs"])
    assert table.loc[0, "method"] == ZERO_SHOT and table.loc[0, "micro_f1"] == pytest.approx(100 * metrics["test"]["micro_f1"])


def test_a_zero_shot_run_evaluates_and_predicts_like_a_trained_one(task_files, tiny_backbone, tmp_path):
    """Issue 21: evaluate (with its per-label table), the error analysis and predictions work on a
    zero-shot run folder, with the threshold its evaluation chose on dev."""
    from hpt_core.error_analysis import analyse_run
    from hpt_core.evaluation import evaluate_run
    from hpt_core.zero_shot import load_run_classifier

    data = DataSpec(**{k: str(v) for k, v in task_files.items()})
    metrics = evaluate_into(data, tmp_path / "zs", ZeroShotConfig(backbone=tiny_backbone, max_length=32))
    report, per_label = evaluate_run(tmp_path / "zs", task_files["test"], with_table=True)
    assert report["micro_f1"] == pytest.approx(metrics["test"]["micro_f1"])
    assert report["macro_f1"] == pytest.approx(metrics["test"]["macro_f1"]) and len(per_label) > 0
    analysis, again = analyse_run(tmp_path / "zs", task_files["test"])
    assert again["micro_f1"] == pytest.approx(metrics["test"]["micro_f1"]) and len(analysis.documents) > 0
    classifier = load_run_classifier(tmp_path / "zs")
    assert classifier.config.threshold == pytest.approx(metrics["threshold"])
    table = classifier.predict_table(["a text about sculpture", "goal"])
    assert list(table.columns[:4]) == ["text", "labels", "consistent_labels", "paths"] and len(table) == 2
    # a trained run's folder is not a zero-shot one
    with pytest.raises(HPTInputError, match="not a zero-shot run"):
        load_run_classifier(tmp_path)


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_zero_shot_background_job(task_files, tiny_backbone, tmp_path):
    """The app queues a zero-shot run like a training run: ``run-job`` evaluates it."""
    data = DataSpec(**{k: str(v) for k, v in task_files.items()})
    run_dir = prepare_run(data, tmp_path / "runs" / "zs", ZeroShotConfig(backbone=tiny_backbone, max_length=32))
    runs.launch(run_dir)
    deadline = time.time() + 120
    while runs.run_status(run_dir).get("state") in runs.ACTIVE_STATES and time.time() < deadline:
        time.sleep(0.5)
    assert runs.run_status(run_dir)["state"] == "completed", runs.log_tail(run_dir)
    assert json.loads((run_dir / runs.METRICS).read_text())["method"] == ZERO_SHOT


def _zero_shot_job_behind_a_training(tmp_path, monkeypatch, then):
    """Run a zero-shot job (its evaluation stubbed) while the test holds the device lock a training
    takes; ``then(run_dir)`` runs while it waits. Returns the job's result and whether it evaluated."""
    import threading

    from hpt_core import zero_shot
    from hpt_core.devices import resolve_device

    run_dir = tmp_path / "runs" / "zs"
    run_dir.mkdir(parents=True)
    evaluated = threading.Event()
    monkeypatch.setattr(zero_shot, "evaluate_run_dir", lambda d: evaluated.set() or {"method": ZERO_SHOT})
    result = {}
    device = resolve_device("auto")
    with runs.device_lock(device, tmp_path / "a-training"):  # a training (of any run folder) holds the device
        job = threading.Thread(target=lambda: result.setdefault("metrics", zero_shot.run_job(run_dir)))
        job.start()
        deadline = time.time() + 30
        while runs.read_json(run_dir / runs.STATUS, {}).get("state") != "queued" and time.time() < deadline:
            time.sleep(0.05)
        assert runs.read_json(run_dir / runs.STATUS, {}).get("queued_for") == device
        then(run_dir)
        assert not evaluated.is_set()  # not while the training holds the device
    job.join(timeout=30)
    assert not job.is_alive()
    return result["metrics"], evaluated.is_set()


def test_a_zero_shot_job_waits_in_the_device_queue_behind_a_training(tmp_path, monkeypatch):
    metrics, evaluated = _zero_shot_job_behind_a_training(tmp_path, monkeypatch, lambda run_dir: time.sleep(1.5))
    assert evaluated and metrics == {"method": ZERO_SHOT}


def test_a_queued_zero_shot_job_can_be_cancelled(tmp_path, monkeypatch):
    def cancel(run_dir):
        (run_dir / runs.CANCEL).touch()
        deadline = time.time() + 30
        while runs.read_json(run_dir / runs.STATUS, {}).get("state") != "cancelled" and time.time() < deadline:
            time.sleep(0.05)

    metrics, evaluated = _zero_shot_job_behind_a_training(tmp_path, monkeypatch, cancel)
    assert not evaluated and metrics == {}
    assert runs.read_json(tmp_path / "runs" / "zs" / runs.STATUS)["state"] == "cancelled"


def test_cli_ablate_with_zero_shot_needs_no_training(task_files, tiny_backbone, tmp_path, capsys):
    from hpt_core.cli import main

    out = tmp_path / "ablation"
    assert main(["ablate", "--taxonomy", str(task_files["taxonomy"]), "--train", str(task_files["train"]),
                 "--dev", str(task_files["dev"]), "--test", str(task_files["test"]), "--backbone", tiny_backbone,
                 "--max-length", "32", "--methods", "zero-shot", "--out", str(out)]) == 0
    assert "zero-shot" in capsys.readouterr().out
    assert not (out / "zero-shot" / "model").exists() and (out / "zero-shot" / "metrics.json").is_file()
    assert main(["ablate", "--taxonomy", str(task_files["taxonomy"]), "--train", str(task_files["train"]),
                 "--dev", str(task_files["dev"]), "--methods", "zero-shot,nope", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_cli_evaluate_adds_the_zero_shot_row(trained_run, task_files, capsys):
    from hpt_core.cli import main

    assert main(["evaluate", "--run-dir", str(trained_run), "--data", str(task_files["test"]), "--zero-shot",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"micro_f1", "macro_f1", "threshold"} <= set(report["zero_shot"])
    assert report["zero_shot"]["n_documents"] == report["n_documents"]
