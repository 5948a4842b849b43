"""Tests for hpt_core.decoding on tiny uneven trees."""

from __future__ import annotations

import numpy as np
import pytest

from hpt_core.decoding import argmax_path_decode, consistent_decode, independent_decode, predicted_paths
from hpt_core.hierarchy import LabelHierarchy
from hpt_core.metrics import path_consistency

# Root -> A, B ; A -> A1, A2 ; A1 -> A1x, A1y.  B is a leaf at depth 1, A2 at depth 2.
EDGES = [("Root", "A"), ("Root", "B"), ("A", "A1"), ("A", "A2"), ("A1", "A1x"), ("A1", "A1y")]


@pytest.fixture(scope="module")
def tree() -> LabelHierarchy:
    return LabelHierarchy(EDGES)


def scores_of(h: LabelHierarchy, rows: list[dict[str, float]], default: float = -1.0) -> np.ndarray:
    s = np.full((len(rows), len(h.labels)), default)
    for r, values in enumerate(rows):
        for label, v in values.items():
            s[r, h.label_to_index[label]] = v
    return s


def names(h: LabelHierarchy, row) -> set[str]:
    return {h.labels[i] for i in np.flatnonzero(row)}


def test_independent_decode_strict_threshold():
    got = independent_decode([[0.5, -0.1, 0.0], [2.0, 1.0, -3.0]])
    assert got.dtype == np.int8
    assert got.tolist() == [[1, 0, 0], [1, 1, 0]]
    assert independent_decode([[0.5, 1.5]], threshold=1.0).tolist() == [[0, 1]]
    with pytest.raises(ValueError):
        independent_decode([0.5, 1.0])


def test_consistent_decode_drops_orphan_child(tree):
    s = scores_of(tree, [
        {"A": 1.0, "A1": 1.0, "A1x": 1.0},  # a complete path: kept
        {"A1": 2.0, "B": 1.0},  # A1 passes but A does not: dropped
        {"A": 1.0, "A1x": 3.0},  # A1x passes but A1 does not: dropped, A kept
        {"A1x": 1.0, "A1": 1.0},  # whole subtree of a failing A: dropped
    ])
    got = consistent_decode(s, tree)
    assert got.dtype == np.int8
    assert names(tree, got[0]) == {"A", "A1", "A1x"}
    assert names(tree, got[1]) == {"B"}
    assert names(tree, got[2]) == {"A"}
    assert names(tree, got[3]) == set()
    assert path_consistency(got, tree) == 1.0


def test_consistent_decode_accepts_bool_and_int(tree):
    s = scores_of(tree, [{"A1": 2.0, "B": 1.0}, {"A": 1.0, "A2": 0.5}])
    expected = consistent_decode(s, tree)
    pred = s > 0
    assert consistent_decode(pred, tree).tolist() == expected.tolist()
    assert consistent_decode(pred.astype(np.int64), tree).tolist() == expected.tolist()
    # threshold applies to float scores only
    assert names(tree, consistent_decode(s, tree, threshold=0.7)[1]) == {"A"}
    assert consistent_decode(pred.astype(int), tree, threshold=5.0).tolist() == expected.tolist()


def test_consistent_decode_is_identity_on_consistent_and_subset_otherwise(tree):
    rng = np.random.default_rng(0)
    s = rng.normal(size=(200, len(tree.labels)))
    ind = independent_decode(s)
    con = consistent_decode(s, tree)
    assert np.all(con <= ind)
    assert path_consistency(con, tree) == 1.0
    closed = tree.multi_hot([["A1y"], ["B", "A2"], []])
    assert consistent_decode(closed, tree).tolist() == closed.tolist()


def test_consistent_decode_two_level_tree():
    h = LabelHierarchy([("Root", "X"), ("Root", "Y"), ("X", "x1"), ("Y", "y1"), ("Y", "y2")])
    s = scores_of(h, [{"X": 1.0, "x1": 1.0, "y2": 1.0}])
    assert names(h, consistent_decode(s, h)[0]) == {"X", "x1"}
    with pytest.raises(ValueError):
        consistent_decode(s[:, :-1], h)


def test_predicted_paths(tree):
    row = tree.multi_hot([["A1x", "B"]])[0]
    assert predicted_paths(row, tree) == [["B"], ["A", "A1", "A1x"]]  # label-index order
    assert sorted(predicted_paths(tree.multi_hot([["A1x", "A1y", "A2"]])[0], tree)) == [
        ["A", "A1", "A1x"], ["A", "A1", "A1y"], ["A", "A2"],
    ]
    assert predicted_paths(np.zeros(len(tree.labels), dtype=int), tree) == []
    # an orphan: its path still lists the unpredicted ancestors
    orphan = np.zeros(len(tree.labels), dtype=int)
    orphan[tree.label_to_index["A1x"]] = 1
    assert predicted_paths(orphan, tree) == [["A", "A1", "A1x"]]
    with pytest.raises(ValueError):
        predicted_paths(np.zeros((1, len(tree.labels))), tree)


def test_predicted_paths_order_is_label_index(tree):
    row = tree.multi_hot([["A1x", "B"]])[0]
    paths = predicted_paths(row, tree)
    ends = [tree.label_to_index[p[-1]] for p in paths]
    assert ends == sorted(ends)


def test_argmax_path_decode(tree):
    s = scores_of(tree, [
        {"A": -0.5, "B": -0.9, "A1": -3.0, "A2": -2.0},  # all negative: A then A2 (a leaf)
        {"A": -0.5, "B": 0.1},  # B is a leaf at depth 1: stop there
        {"A": 0.3, "A1": 0.2, "A2": 0.1, "A1x": -1.0, "A1y": -0.5},  # down to depth 3
        {"B": 5.0, "A1x": 9.0},  # greedy: B wins at depth 1 although A1x scores higher
    ])
    got = argmax_path_decode(s, tree)
    assert got.dtype == np.int8
    assert names(tree, got[0]) == {"A", "A2"}
    assert names(tree, got[1]) == {"B"}
    assert names(tree, got[2]) == {"A", "A1", "A1y"}
    assert names(tree, got[3]) == {"B"}
    assert path_consistency(got, tree) == 1.0
    # exactly one complete root-to-leaf path per row
    for row in got:
        assert len(predicted_paths(row, tree)) == 1


def test_argmax_path_decode_ties_and_infinities(tree):
    s = np.full((1, len(tree.labels)), -np.inf)
    got = argmax_path_decode(s, tree)
    # every child ties at -inf: the first child (lowest label index) is taken each time
    assert names(tree, got[0]) == {"A", "A1", "A1x"}


def test_decide_threshold_is_hpts_rule_and_path_always_gives_one_full_path(tree):
    from hpt_core.decoding import decide, decision_rule

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, len(tree.labels))) - 1.0  # mostly negative: thresholds predict little
    assert (decide(scores, tree, "threshold") == independent_decode(scores)).all()
    path = decide(scores, tree, "path")
    leaves = [i for i, label in enumerate(tree.labels) if not tree.children(label)]
    assert (path[:, leaves].sum(1) == 1).all()  # exactly one leaf per document
    assert path_consistency(path, tree) == 1.0
    assert decision_rule("auto") == "threshold"  # not yet chosen: the paper's rule


def test_choose_decision_picks_the_better_rule_on_dev_and_ties_to_the_paper(tree):
    from hpt_core.evaluation import choose_decision

    gold = tree.multi_hot([[tree.labels[i]] for i in range(len(tree.labels)) if not tree.children(tree.labels[i])])
    under_confident = np.where(gold > 0, -0.1, -1.0)  # right ranking, nothing above 0
    assert choose_decision(gold, under_confident, tree)[0] == "path"
    exact = np.where(gold > 0, 1.0, -1.0)
    rule, by_rule = choose_decision(gold, exact, tree)
    assert rule == "threshold" and by_rule["threshold"] == by_rule["path"] == 1.0


def test_top_down_keeps_every_child_above_zero_and_else_the_best_one(tree):
    from hpt_core.decoding import decide, top_down_decode

    rows = [
        {"A": 1.0, "B": 2.0, "A1": -0.5, "A2": -0.2},  # two paths; under A nothing passes: its best child
        {"A": 0.5, "A1": 0.3, "A2": 0.4, "A1x": 0.1, "A1y": 0.2},  # several children above 0 at each depth
        {},  # nothing passes anywhere: still one complete path (the best child at each depth)
    ]
    got = top_down_decode(scores_of(tree, rows), tree)
    assert names(tree, got[0]) == {"A", "A2", "B"}
    assert names(tree, got[1]) == {"A", "A1", "A2", "A1x", "A1y"}
    assert len(names(tree, got[2])) >= 1 and path_consistency(got, tree) == 1.0
    leaves = {label for label in tree.labels if not tree.children(label)}
    # every kept path is complete: a kept label without a kept child is a leaf
    for row in got:
        kept = names(tree, row)
        assert all(label in leaves or set(tree.children(label)) & kept for label in kept)
    assert (decide(scores_of(tree, rows), tree, "top_down") == got).all()


def test_auto_tries_the_top_down_rule_only_on_multi_path_dev(tree):
    from hpt_core.evaluation import choose_decision

    single = tree.multi_hot([["A", "A2"], ["B"], ["A", "A1", "A1x"]])
    multi = tree.multi_hot([["A", "A2", "B"], ["B"], ["A", "A1", "A1x", "A1y"]])
    exact_but_low = lambda gold: np.where(gold > 0, -0.1, -1.0)  # noqa: E731  right ranking, nothing above 0
    rule, by_rule = choose_decision(single, exact_but_low(single), tree)
    assert set(by_rule) == {"threshold", "path"} and rule == "path"
    sure = np.where(multi > 0, 1.0, -1.0)
    rule, by_rule = choose_decision(multi, sure, tree)
    assert set(by_rule) == {"threshold", "path", "top_down"}
    assert by_rule["top_down"] == 1.0 > by_rule["path"]  # one path cannot be right on a two-path document
    assert rule == "threshold"  # a tie with the paper's rule goes to the paper's


def test_paths_per_document_counts_path_ends(tree):
    from hpt_core.decoding import paths_per_document

    gold = tree.multi_hot([["A", "A2", "B"], ["B"], ["A", "A1", "A1x", "A1y"], []])
    assert paths_per_document(gold, tree).tolist() == [2, 1, 2, 0]


def test_docstring_examples_hold():
    import doctest

    from hpt_core import decoding

    assert doctest.testmod(decoding).failed == 0


def test_top_indices_are_the_k_best_best_first_without_sorting_every_label():
    """What /predict and the CSV of large trees list: each row's k best labels, best first; equal
    scores in index order; k larger than the tree gives every label."""
    from hpt_core.decoding import top_indices

    scores = np.array([[0.1, 0.5, 0.5, -1.0, 2.0], [-3.0, 1.0, 0.0, 4.0, 2.0]])
    np.testing.assert_array_equal(top_indices(scores, 3), [[4, 1, 2], [3, 4, 1]])
    np.testing.assert_array_equal(top_indices(scores, 9), np.argsort(-scores, axis=1, kind="stable"))
    assert top_indices(scores, 0).shape == (2, 0)


def test_sibling_margins_are_each_labels_score_against_its_best_sibling_on_any_tree():
    """The one margin calibration, the predicted path and the Label page's suggestions read: checked
    against a plain loop over siblings on a random tree, ties included."""
    import numpy as np

    from hpt_core.decoding import sibling_margins
    from hpt_core.hierarchy import LabelHierarchy

    rng = np.random.default_rng(0)
    edges = [("Root", "a"), ("Root", "b"), ("Root", "c"), ("a", "a1"), ("a", "a2"), ("b", "b1"),
             ("a1", "x"), ("a1", "y"), ("a1", "z")]
    h = LabelHierarchy(edges)
    scores = rng.integers(-3, 4, size=(50, len(h.labels))).astype(float)  # small integers: many ties
    margins = sibling_margins(scores, h)
    for n in range(scores.shape[0]):
        for j, label in enumerate(h.labels):
            others = [scores[n, h.label_to_index[s]] for s in h.children(h.parent(label) or h.root) if s != label]
            expected = scores[n, j] - max(others) if others else np.inf
            assert margins[n, j] == expected, (label, n)
