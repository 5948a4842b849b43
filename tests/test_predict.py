import numpy as np
import pytest

from hpt_core.errors import HPTInputError
from hpt_core.neighbours import label_word_neighbours, neighbours_table
from hpt_core.predict import Predictor, load_run_model


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_run(trained_run)


def test_predictions_have_scores_sets_and_consistent_paths(predictor):
    hierarchy = predictor.hierarchy
    [p] = predictor.predict(["goal striker penalty"])
    assert set(p.scores) == set(hierarchy.labels)
    assert p.labels == [l for l in hierarchy.labels if p.scores[l] > 0]
    for label in p.consistent_labels:
        parent = hierarchy.parent(label)
        assert parent is None or parent in p.consistent_labels
    assert ["sports", "football"] in p.paths
    assert predictor.last_latency_s is not None and predictor.last_latency_s > 0


def test_by_depth_lists_each_depth_best_first(predictor):
    [p] = predictor.predict(["lens laser photon"])
    by_depth = p.by_depth(predictor.hierarchy)
    assert sorted(by_depth) == [1, 2, 3]
    scores = [s for _, s in by_depth[3]]
    assert scores == sorted(scores, reverse=True)


def test_batch_predictions_equal_one_by_one(predictor):
    texts = ["goal striker", "cell gene protein", "canvas painting gallery"]
    together = predictor.scores(texts)
    alone = np.concatenate([predictor.scores([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_prediction_table_for_csv_download(predictor, monkeypatch):
    from hpt_core import predict

    table = predictor.predict_table(["goal striker", "cell gene"])
    assert list(table.columns[:4]) == ["text", "labels", "consistent_labels", "paths"]
    assert len(table) == 2
    n_labels = len(predictor.hierarchy.labels)
    assert [c for c in table.columns if c.startswith("score:")] == [f"score:{lab}" for lab in predictor.hierarchy.labels]
    # A big tree: one column with the best scores, not thousands of columns.
    monkeypatch.setattr(predict, "MAX_SCORE_COLUMNS", n_labels - 1)
    monkeypatch.setattr(predict, "TOP_SCORES", 3)
    table = predictor.predict_table(["goal striker", "cell gene"])
    assert not any(c.startswith("score:") for c in table.columns) and "top_scores" in table.columns
    best = table["top_scores"][0].split("; ")
    scores = predictor.predict(["goal striker"])[0].scores
    assert best == [f"{lab} ({s:+.3f})" for lab, s in sorted(scores.items(), key=lambda item: -item[1])[:3]]


def test_a_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(HPTInputError, match="run folder not found"):
        Predictor.from_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HPTInputError, match="no trained model"):
        Predictor.from_run(tmp_path / "empty")


def test_label_word_neighbours_exclude_special_tokens(trained_run):
    model = load_run_model(trained_run).model  # the label words are the paper's model's
    result = label_word_neighbours(model, k=5)
    assert set(result) == set(model.hierarchy.labels)
    special = set(model.tokenizer.all_special_tokens)
    for items in result.values():
        assert len(items) == 5
        assert not special & {token for token, _ in items}
        sims = [s for _, s in items]
        assert sims == sorted(sims, reverse=True)
    table = neighbours_table(model, k=3, labels=["football"])
    assert list(table["rank"]) == [1, 2, 3] and set(table["parent"]) == {"sports"}


def test_neighbours_of_an_untrained_model_start_at_the_label_name(tiny_backbone, hierarchy):
    from hpt_core.methods import resolve_method
    from hpt_core.model import build_model

    model = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy)
    assert label_word_neighbours(model, k=1, labels=["football"])["football"][0][0] == "football"


def test_neighbours_need_label_words(tiny_backbone, hierarchy):
    from hpt_core.methods import resolve_method
    from hpt_core.model import build_model

    model = build_model(resolve_method("vanilla", backbone=tiny_backbone, max_length=32), hierarchy)
    with pytest.raises(HPTInputError, match="no learned label words"):
        label_word_neighbours(model)


def test_a_prediction_says_how_much_of_the_text_was_read(predictor):
    short, long = predictor.predict(["goal striker", "goal striker " * 60])
    assert (short.tokens_total, short.tokens_read, short.windows) == (2, 2, 1)
    # the tiny run reads one window of 32 tokens: 32 - [CLS] [SEP] - 6 template slots - [SEP]
    assert (long.tokens_total, long.tokens_read, long.windows) == (120, 23, 1)


def test_bf16_prediction_is_close_to_float32_and_a_bad_precision_is_refused(trained_run, predictor):
    """``precision="bf16"`` scores under bfloat16 autocast (faster where the hardware has it): the
    scores move a little, the confident decisions do not; float32 stays the default, the scores
    ``evaluate`` reports — also after a bf16 call on the same model (the graph template cached at
    inference is not shared across arithmetics). A precision that does not exist is one clear
    error when the predictor is made, not at its first prediction."""
    texts = ["goal striker penalty", "cell gene protein", "canvas painting gallery", "lens laser photon"]
    fresh = Predictor.from_run(trained_run)
    fast = Predictor(fresh.model, precision="bf16")  # the same model, scored in bf16 first
    in_bf16 = fast.scores(texts)
    in_fp32 = fresh.scores(texts)
    assert fresh.precision == "fp32"
    np.testing.assert_array_equal(in_fp32, predictor.scores(texts))  # as a model never scored in bf16
    assert not np.array_equal(in_bf16, in_fp32)  # autocast did run
    assert np.allclose(in_bf16, in_fp32, rtol=0.05, atol=0.1)
    sure = np.abs(in_fp32) > 0.2
    assert ((in_bf16 > 0) == (in_fp32 > 0))[sure].all()
    with pytest.raises(HPTInputError, match="precision must be one of auto, bf16, fp32; got 'fp16'"):
        Predictor(fresh.model, precision="fp16")


def test_bf16_prediction_of_whole_documents_pools_windows(trained_run):
    """Windows pooled into one document score work under bf16 too (scores close to float32's)."""
    model = load_run_model(trained_run)
    model.config = model.config.replace(max_windows=3, window_overlap=2)
    text = " ".join(["goal striker penalty pitch"] * 40 + ["cell gene protein"] * 40)
    in_fp32 = Predictor(model).scores([text])
    [p] = Predictor(model, precision="bf16").predict([text])
    assert p.windows == 3
    in_bf16 = np.array([[p.scores[label] for label in model.hierarchy.labels]])
    assert np.isfinite(in_bf16).all() and np.allclose(in_bf16, in_fp32, rtol=0.05, atol=0.1)


def test_default_scoring_leaves_a_callers_autocast_in_force(trained_run):
    """Training evaluates dev inside its own autocast (at its training precision): the default
    precision adds none, so it does not switch the caller's off."""
    import torch

    model = load_run_model(trained_run)
    texts = ["goal striker penalty", "cell gene protein"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = model.model_scores(texts)
    assert torch.equal(inside, model.model_scores(texts, precision="bf16"))
    assert not torch.equal(inside, model.model_scores(texts))


def test_confidence_along_the_path_is_probability_and_margin_over_siblings(trained_run):
    """Issue 21/24: each label on the predicted path with its probability (sigmoid of the decided
    score) and its margin over its best sibling — what /predict, predict --json and the Predict page show."""
    import math

    from hpt_core.predict import Predictor, prediction_record

    predictor = Predictor.from_run(trained_run)
    p = predictor.predict(["goal striker penalty"])[0]
    sure = p.confidence(predictor.hierarchy)
    on_paths = list(dict.fromkeys(label for path in p.paths for label in path))
    assert [c["label"] for c in sure] == on_paths and on_paths
    h = predictor.hierarchy
    for c in sure:
        assert c["probability"] == pytest.approx(1 / (1 + math.exp(-p.scores[c["label"]])))
        siblings = [s for s in h.children(h.parent(c["label"]) or h.root) if s != c["label"]]
        expected = p.scores[c["label"]] - max(p.scores[s] for s in siblings) if siblings else None
        assert c["margin"] == (pytest.approx(expected) if siblings else None)
    assert prediction_record(p, 3, h)["confidence"][0]["label"] == on_paths[0]


def test_another_precision_shares_the_loaded_classifier_and_what_was_built_for_it(trained_run):
    """The app's "faster arithmetic" toggle: the same classifier, calibration and known words (none
    rebuilt), another precision; a bad precision is refused at once."""
    predictor = Predictor.from_run(trained_run)
    other = predictor.at_precision("bf16")
    assert other.precision == "bf16" and predictor.precision == "fp32"
    assert other.classifier is predictor.classifier and other.known_words is predictor.known_words
    assert other.calibration is predictor.calibration
    with pytest.raises(HPTInputError):
        predictor.at_precision("fp8")
