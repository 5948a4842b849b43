"""Tests for hpt_core.metrics, against values computed by hand on tiny trees."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hpt_core.hierarchy import LabelHierarchy
from hpt_core.metrics import (
    evaluation_report,
    frequency_quintile_macro_f1,
    hierarchical_prf,
    macro_f1,
    micro_f1,
    path_consistency,
    per_depth_macro_f1,
    per_label_table,
)

# Root -> A, B, C ; A -> A1, A2 ; A1 -> A1x.  B and C are leaves at depth 1, A2 at depth 2,
# A1x at depth 3.  C never occurs in the gold labels below.
EDGES = [("Root", "A"), ("Root", "B"), ("Root", "C"), ("A", "A1"), ("A", "A2"), ("A1", "A1x")]


@pytest.fixture(scope="module")
def tree() -> LabelHierarchy:
    return LabelHierarchy(EDGES)


def rows(h: LabelHierarchy, label_sets) -> np.ndarray:
    """Multi-hot matrix of exactly the given labels (no ancestor closure)."""
    y = np.zeros((len(label_sets), len(h.labels)), dtype=np.int8)
    for r, labels in enumerate(label_sets):
        for label in labels:
            y[r, h.label_to_index[label]] = 1
    return y


# gold: d1 {A, A1, A1x}, d2 {B}, d3 {A, A2}
GOLD = [{"A", "A1", "A1x"}, {"B"}, {"A", "A2"}]
# pred: d1 {A, A1} (misses A1x), d2 {B, A} (A spurious), d3 {A, A2, A1} (A1 spurious)
PRED = [{"A", "A1"}, {"B", "A"}, {"A", "A2", "A1"}]
# Per label: A tp2 fp1 -> F1 4/5; B 1; A1 tp1 fp1 -> 2/3; A2 1; A1x tp0 fn1 -> 0; C absent.
PER_LABEL_F1 = {"A": 0.8, "B": 1.0, "A1": 2 / 3, "A2": 1.0, "A1x": 0.0}


def test_micro_f1_hand_computed(tree):
    # tp = 5, fp = 2, fn = 1 -> 2*5 / (2*5 + 2 + 1)
    assert micro_f1(rows(tree, GOLD), rows(tree, PRED)) == pytest.approx(10 / 13)


def test_micro_f1_nothing_to_count_is_zero():
    assert micro_f1(np.zeros((2, 3), int), np.zeros((2, 3), int)) == 0.0


def test_macro_present_vs_all_differ_when_a_label_is_absent_from_gold(tree):
    t, p = rows(tree, GOLD), rows(tree, PRED)
    total = sum(PER_LABEL_F1.values())
    assert macro_f1(t, p) == pytest.approx(total / 5)  # C left out
    assert macro_f1(t, p, labels="present") == pytest.approx(total / 5)
    assert macro_f1(t, p, labels="all") == pytest.approx(total / 6)  # C counts as 0
    assert macro_f1(t, p) != pytest.approx(macro_f1(t, p, labels="all"))


def test_macro_present_ignores_predicted_label_absent_from_gold(tree):
    t = rows(tree, GOLD)
    p = rows(tree, [s | {"C"} for s in PRED])  # C predicted everywhere, never gold
    assert macro_f1(t, p) == pytest.approx(sum(PER_LABEL_F1.values()) / 5)
    assert macro_f1(t, p, labels="all") == pytest.approx(sum(PER_LABEL_F1.values()) / 6)


def test_macro_index_array_and_errors(tree):
    t, p = rows(tree, GOLD), rows(tree, PRED)
    idx = [tree.label_to_index["A"], tree.label_to_index["B"]]
    assert macro_f1(t, p, labels=idx) == pytest.approx(0.9)
    assert macro_f1(t, p, labels=np.array([], dtype=int)) == 0.0
    with pytest.raises(ValueError):
        macro_f1(t, p, labels="some")
    with pytest.raises(ValueError):
        macro_f1(t, p, labels=[len(tree.labels)])
    with pytest.raises(ValueError):
        macro_f1(t, p[:, :-1])
    with pytest.raises(ValueError):
        macro_f1(t, p.astype(float))


def test_macro_with_no_gold_label_is_zero():
    assert macro_f1(np.zeros((2, 3), int), np.ones((2, 3), int)) == 0.0


def test_per_depth_macro_f1(tree):
    got = per_depth_macro_f1(rows(tree, GOLD), rows(tree, PRED), tree)
    assert list(got) == [1, 2, 3]
    assert got[1] == pytest.approx((0.8 + 1.0) / 2)  # A, B (C absent)
    assert got[2] == pytest.approx((2 / 3 + 1.0) / 2)  # A1, A2
    assert got[3] == pytest.approx(0.0)  # A1x


def test_per_depth_omits_depth_without_present_label(tree):
    got = per_depth_macro_f1(rows(tree, [{"A", "A2"}, {"B"}]), rows(tree, [{"A", "A1", "A1x"}, {"B"}]), tree)
    assert set(got) == {1, 2}
    assert got == {1: 1.0, 2: 0.0}


def test_per_depth_two_level_tree():
    h = LabelHierarchy([("Root", "X"), ("Root", "Y"), ("X", "x1"), ("X", "x2"), ("Y", "y1")])
    t = h.multi_hot([["x1"], ["x2"], ["y1"]])
    p = h.multi_hot([["x1"], ["x1"], ["y1"]])
    got = per_depth_macro_f1(t, p, h)
    # depth 1: X and Y right -> 1; depth 2: x1 tp1 fp1 -> 2/3, x2 0, y1 1
    assert got[1] == pytest.approx(1.0)
    assert got[2] == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_frequency_quintiles_ten_labels():
    counts = [5, 1, 9, 3, 3, 7, 0, 2, 8, 6]
    # Ascending, ties by index: 6(0) 1(1) | 7(2) 3(3) | 4(3) 0(5) | 9(6) 5(7) | 8(8) 2(9)
    y_true = np.zeros((10, 10), dtype=int)
    for j in range(10):
        if j not in (8, 2):  # labels 8 and 2 (the top group) never occur in the gold
            y_true[j, j] = 1
    y_pred = np.zeros_like(y_true)
    for j in (3, 7, 0):
        y_pred[j, j] = 1  # right
    y_pred[5, 5] = y_pred[6, 5] = 1  # label 5: tp 1, fp 1 -> F1 2/3
    y_pred[8, 8] = 1  # label 8 predicted but absent from the gold: not counted
    got = frequency_quintile_macro_f1(y_true, y_pred, counts)
    assert len(got) == 5
    assert got[0] == pytest.approx(0.0)  # labels 6, 1 missed
    assert got[1] == pytest.approx(1.0)  # labels 7, 3 (the tie 3/4 goes by index)
    assert got[2] == pytest.approx(0.5)  # label 4 missed, label 0 right
    assert got[3] == pytest.approx(1 / 3)  # label 9 missed, label 5 2/3
    assert got[4] is None  # no present label


def test_frequency_quintiles_uneven_split():
    # 7 labels -> groups of 2, 2, 1, 1, 1 (np.array_split); counts ascending = index order.
    y = np.eye(7, dtype=int)
    p = y.copy()
    p[:, 4] = 0  # label 4 (the third group) missed
    assert frequency_quintile_macro_f1(y, p, np.arange(7)) == [1.0, 1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        frequency_quintile_macro_f1(y, p, np.arange(6))


def test_hierarchical_prf_hand_computed(tree):
    # d1: gold A1x -> {A, A1, A1x}; pred A2 -> {A, A2}; overlap {A}
    # d2: gold B -> {B};  pred A1x -> {A, A1, A1x}; overlap {}
    # hP = 1/5, hR = 1/4, hF = 2 * (1/20) / (9/20) = 2/9
    t = rows(tree, [{"A1x"}, {"B"}])
    p = rows(tree, [{"A2"}, {"A1x"}])
    got = hierarchical_prf(t, p, tree)
    assert got["precision"] == pytest.approx(1 / 5)
    assert got["recall"] == pytest.approx(1 / 4)
    assert got["f1"] == pytest.approx(2 / 9)
    # Already-closed inputs give the same figures.
    closed = hierarchical_prf(tree.multi_hot([["A1x"], ["B"]]), tree.multi_hot([["A2"], ["A1x"]]), tree)
    assert closed == pytest.approx(got)


def test_hierarchical_prf_zero_rules(tree):
    t = rows(tree, [{"B"}])
    nothing = np.zeros_like(t)
    assert hierarchical_prf(t, nothing, tree) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_path_consistency(tree):
    p = rows(tree, [{"A", "A1"}, {"A1", "A1x"}, set(), {"B", "A2"}])
    # row 1: A1 without A; row 3: A2 without A; the empty row is consistent
    assert path_consistency(p, tree) == pytest.approx(0.5)
    assert path_consistency(tree.multi_hot([["A1x"], ["B"]]), tree) == 1.0
    assert path_consistency(np.zeros((0, len(tree.labels)), int), tree) == 1.0


def test_per_label_table(tree):
    counts = np.arange(len(tree.labels)) + 10
    tab = per_label_table(rows(tree, GOLD), rows(tree, PRED), tree, counts)
    assert isinstance(tab, pd.DataFrame)
    assert list(tab.columns) == [
        "label", "depth", "parent", "train_count", "support", "predicted", "precision", "recall", "f1",
    ]
    assert tab["label"].tolist() == tree.labels
    by = tab.set_index("label")
    assert by.loc["A1x", "parent"] == "A1" and by.loc["A", "parent"] == "Root"
    assert by.loc["A1x", "depth"] == 3
    assert by.loc["A", "train_count"] == 10 + tree.label_to_index["A"]
    assert (by.loc["A", "support"], by.loc["A", "predicted"]) == (2, 3)
    assert by.loc["A", "precision"] == pytest.approx(2 / 3)
    assert by.loc["A", "recall"] == pytest.approx(1.0)
    for label, f1 in PER_LABEL_F1.items():
        assert by.loc[label, "f1"] == pytest.approx(f1)
    # C: no support, never predicted -> all zero by the zero_division rule
    assert by.loc["C", ["support", "predicted", "precision", "recall", "f1"]].tolist() == [0, 0, 0, 0, 0]


def test_evaluation_report_keys_json_and_consistent_part(tree):
    t = tree.multi_hot([["A1"], ["B"]])  # d1 {A, A1}, d2 {B}
    scores = np.full(t.shape, -1.0)
    scores[0, tree.label_to_index["A1"]] = 2.0  # orphan: A1 passes, its parent A does not
    scores[1, tree.label_to_index["B"]] = 0.5
    rep = evaluation_report(t, scores, tree, train_counts=np.ones(len(tree.labels)))
    keys = {
        "micro_f1", "macro_f1", "macro_f1_all_labels", "per_depth_macro_f1", "frequency_quintile_macro_f1",
        "path_consistency", "hierarchical_precision", "hierarchical_recall", "hierarchical_f1",
        "n_documents", "n_labels_present",
    }
    assert set(rep) == keys | {"consistent", "decision"}
    assert set(rep["consistent"]) == keys
    assert rep["decision"] == "threshold"  # HPT's rule unless asked otherwise
    json.loads(json.dumps(rep))
    # independent: pred {A1}, {B} -> tp 2, fn 1 (A) -> micro 4/5
    assert rep["micro_f1"] == pytest.approx(4 / 5)
    assert rep["path_consistency"] == pytest.approx(0.5)
    # consistent: A1 dropped -> pred {}, {B} -> tp 1, fn 2 -> micro 1/2
    assert rep["consistent"]["micro_f1"] == pytest.approx(1 / 2)
    assert rep["consistent"]["path_consistency"] == 1.0
    assert rep["n_documents"] == 2 and rep["n_labels_present"] == 3
    assert rep["per_depth_macro_f1"] == {"1": pytest.approx(0.5), "2": pytest.approx(1.0)}
    # hierarchical: pred augmented {A, A1}, {B} == gold
    assert rep["hierarchical_f1"] == pytest.approx(1.0)
    assert len(rep["frequency_quintile_macro_f1"]) == 5
    for value in rep.values():
        assert not isinstance(value, np.generic)


def test_ancestor_closure_switches_on_exactly_the_ancestors_in_an_uneven_tree(hierarchy):
    from hpt_core.metrics import _ancestor_closure

    rng = np.random.default_rng(0)
    y = (rng.random((40, len(hierarchy.labels))) < 0.2).astype(np.int8)
    expected = y.copy()
    for i, j in zip(*np.nonzero(y)):
        for ancestor in hierarchy.ancestors(hierarchy.labels[j]):
            expected[i, hierarchy.label_to_index[ancestor]] = 1
    assert np.array_equal(_ancestor_closure(y, hierarchy), expected)
