import json

import numpy as np
import pytest

from hpt_core.calibration import (CALIBRATION_FILE, CLIP, Calibration, decided_label_features, evaluate_calibration,
                                  expected_calibration_error, fit_calibration)
from hpt_core.decoding import consistent_decode, decide
from hpt_core.hierarchy import LabelHierarchy
from hpt_core.predict import path_confidence


@pytest.fixture(scope="module")
def tree():
    return LabelHierarchy([("Root", "A"), ("Root", "B"), ("Root", "C"), ("A", "A1"), ("A", "A2"), ("B", "B1"),
                           ("B", "B2"), ("C", "C1")])


def overconfident_task(tree, n: int, seed: int):
    """Gold (N, C) one path each, and scores far more confident than they are right: large scores
    whose sign is wrong often — what a sigmoid of the raw score would promise, and not keep."""
    rng = np.random.default_rng(seed)
    leaves = [l for l in tree.labels if tree.depth(l) == 2]
    y = np.zeros((n, len(tree.labels)), dtype=np.int8)
    for i, leaf in enumerate(rng.choice(leaves, n)):
        y[i, tree.labels.index(leaf)] = 1
        y[i, tree.labels.index(tree.parent(leaf))] = 1
    scores = 6.0 * (np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.3, y.shape))
    return y, scores


def test_calibrated_confidence_keeps_its_promise_on_new_documents_where_the_raw_sigmoid_does_not(tree):
    dev_y, dev_scores = overconfident_task(tree, 600, seed=0)
    test_y, test_scores = overconfident_task(tree, 600, seed=1)
    calibration = fit_calibration(dev_y, dev_scores, tree, "path")
    held = evaluate_calibration(calibration, test_y, test_scores, tree, "path")
    decided = consistent_decode(decide(test_scores, tree, "path"), tree).astype(bool)
    rows, cols, *_ = decided_label_features(test_scores, decided, tree)
    raw = 1.0 / (1.0 + np.exp(-test_scores[rows, cols]))
    raw_ece = expected_calibration_error(raw, test_y.astype(bool)[rows, cols])
    assert held["ece"] < 0.06 and raw_ece > 2 * held["ece"]
    assert set(held["by_depth"]) == {"1", "2"}
    for part in held["by_depth"].values():  # said and right agree depth by depth
        assert abs(part["mean_confidence"] - part["share_right"]) < 0.06


def test_the_margin_is_the_one_the_predict_page_shows(tree):
    y, scores = overconfident_task(tree, 20, seed=2)
    decided = consistent_decode(decide(scores, tree, "path"), tree)
    rows, cols, depth, score, margin = decided_label_features(scores, decided, tree)
    for r, c, d, m in zip(rows, cols, depth, margin):
        label = tree.labels[c]
        [shown] = [x for x in path_confidence(dict(zip(tree.labels, scores[r])), [[label]], tree)]
        assert d == tree.depth(label)
        expected = 10.0 if shown["margin"] is None else np.clip(shown["margin"], -10, 10)  # C1 is a lone child
        assert m == pytest.approx(expected)


def test_a_document_is_as_sure_as_its_least_sure_label_and_unsure_when_nothing_is_decided(tree):
    dev_y, dev_scores = overconfident_task(tree, 300, seed=3)
    calibration = fit_calibration(dev_y, dev_scores, tree, "threshold")
    scores = np.full((2, len(tree.labels)), -5.0)
    scores[0, tree.labels.index("A")], scores[0, tree.labels.index("A1")] = 8.0, 0.5
    decided = consistent_decode(decide(scores, tree, "threshold"), tree)
    per_label = calibration.label_confidence(scores, decided, tree)
    documents = calibration.document_confidence(scores, decided, tree)
    assert documents[0] == pytest.approx(per_label[0][decided[0].astype(bool)].min())
    assert per_label[0, tree.labels.index("A1")] < per_label[0, tree.labels.index("A")]  # the close call is less sure
    assert documents[1] == 0.0 and not decided[1].any()


def test_abstaining_keeps_fewer_texts_that_are_more_often_right(tree):
    y, scores = overconfident_task(tree, 600, seed=4)
    curve = fit_calibration(y, scores, tree, "path").dev["curve"]
    coverage = [p["coverage"] for p in curve]
    assert coverage[0] == 1.0 and coverage == sorted(coverage, reverse=True)
    kept = [p for p in curve if p["precision"] is not None]
    assert kept[-1]["precision"] > kept[0]["precision"]


def test_saved_with_the_model_and_restored_and_a_broken_file_is_ignored(tree, tmp_path):
    y, scores = overconfident_task(tree, 200, seed=5)
    calibration = fit_calibration(y, scores, tree, "path")
    calibration.save(tmp_path)
    loaded = Calibration.load(tmp_path)
    decided = consistent_decode(decide(scores, tree, "path"), tree)
    assert np.allclose(loaded.label_confidence(scores, decided, tree), calibration.label_confidence(scores, decided, tree))
    assert loaded.dev["ece"] == calibration.dev["ece"]
    (tmp_path / CALIBRATION_FILE).write_text('{"by_depth": {"1": {"coef": [1]}}}')
    assert Calibration.load(tmp_path) is None
    assert Calibration.load(tmp_path / "nowhere") is None


def test_a_depth_always_right_on_dev_gets_a_smoothed_rate_not_certainty(tree):
    y, scores = overconfident_task(tree, 50, seed=6)
    scores = np.where(y[:, :3] == 1, 20.0, -20.0)  # depth 1: always right
    scores = np.concatenate([scores, np.where(y[:, 3:] == 1, 1.0, -1.0) + np.random.default_rng(0).normal(0, 2, y[:, 3:].shape)], axis=1)
    calibration = fit_calibration(y, scores, tree, "path")
    assert calibration.by_depth[1] == {"rate": pytest.approx(51 / 52), "n": 50}
    assert json.loads(json.dumps(calibration.to_dict()))  # JSON all the way down


def test_a_lower_score_never_reads_as_more_confident(tree):
    """On a small dev set noise can make a lower score look *more* often right (a negative Platt
    coefficient); then a text far from every label — all its scores low — was shown more confident
    than a real one (issue 21). The fitted confidence must not fall as a score or a margin rises."""
    rng = np.random.default_rng(3)
    y, scores = overconfident_task(tree, 120, seed=7)
    # depth 1 on dev: the right labels scored a little *lower* than the wrong ones
    decided_depth1 = scores[:, :3].argmax(1)
    right = y[np.arange(len(y)), decided_depth1] == 1
    scores[np.arange(len(y)), decided_depth1] = np.where(right, 1.0, 3.0) + rng.normal(0, 0.5, len(y))
    from sklearn.linear_model import LogisticRegression

    rows, cols, depth, score, margin = decided_label_features(scores, consistent_decode(decide(scores, tree, "path"), tree), tree)
    at_depth1 = depth == 1
    unconstrained = LogisticRegression(C=1.0).fit(np.stack([score, margin], 1)[at_depth1],
                                                  y[rows, cols][at_depth1])
    assert (unconstrained.coef_[0] < 0).any()  # the noise this test is about

    calibration = fit_calibration(y, scores, tree, "path")
    for part in calibration.by_depth.values():
        assert "rate" in part or min(part["coef"]) >= 0
    grid = np.linspace(-CLIP, CLIP, 21)
    for d in (1, 2):
        by_score = calibration.probability(np.full(21, d), grid, np.full(21, 1.0))
        by_margin = calibration.probability(np.full(21, d), np.full(21, 1.0), grid)
        assert (np.diff(by_score) >= 0).all() and (np.diff(by_margin) >= 0).all()

