"""The error browser's library: error kinds, filters, sibling confusion, the table file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hpt_core.error_analysis import (MISSED, SPURIOUS, WRONG_CHILD, WRONG_SIBLING, analyse, document_errors,
                                     filter_documents, parents_with_children, sibling_confusion)
from hpt_core.errors import HPTInputError


def kinds(hierarchy, gold, pred):
    return [(e["depth"], e["kind"], e["gold"], e["predicted"])
            for e in document_errors(hierarchy.multi_hot([gold])[0], hierarchy.multi_hot([pred])[0], hierarchy)]


def test_error_kinds(hierarchy):
    assert kinds(hierarchy, ["quantum"], ["quantum"]) == []
    # the branch is right, the turn below it is not
    assert kinds(hierarchy, ["quantum"], ["optics"]) == [(3, WRONG_CHILD, "quantum", "optics")]
    # a wrong branch from the top: one wrong sibling, and everything below it spurious / missed
    assert kinds(hierarchy, ["football"], ["biology"]) == [
        (1, WRONG_SIBLING, "sports", "science"), (2, MISSED, "football", None), (2, SPURIOUS, None, "biology")]
    # the path stops short, or runs on
    assert kinds(hierarchy, ["quantum"], ["physics"]) == [(3, MISSED, "quantum", None)]
    assert kinds(hierarchy, ["physics"], ["quantum"]) == [(3, SPURIOUS, None, "quantum")]
    assert kinds(hierarchy, ["arts"], []) == [(1, MISSED, "arts", None)]


def test_a_wrong_child_under_an_unpredicted_parent_is_a_wrong_sibling(hierarchy):
    gold = hierarchy.multi_hot([["quantum"]])[0]
    pred = gold.copy()
    pred[hierarchy.label_to_index["physics"]] = 0  # the independent decision can do this
    pred[hierarchy.label_to_index["quantum"]] = 0
    pred[hierarchy.label_to_index["optics"]] = 1
    events = document_errors(gold, pred, hierarchy)
    assert [(e["kind"], e["gold"], e["predicted"]) for e in events] == [
        (MISSED, "physics", None), (WRONG_SIBLING, "quantum", "optics")]


@pytest.fixture
def analysis(hierarchy):
    gold = [["quantum"], ["football"], ["arts"], ["tennis"]]
    predicted = [["optics"], ["biology"], ["arts"], ["tennis"]]
    y_true = hierarchy.multi_hot(gold)
    scores = np.where(hierarchy.multi_hot(predicted) > 0, 1.5, -1.5)
    return analyse(["about <quantum>", "a football match", "a gallery", "a tennis court"], y_true, scores, hierarchy)


def test_documents_table_and_filters(analysis):
    docs = analysis.documents
    assert docs["correct"].tolist() == [False, False, True, True]
    assert docs.loc[0, "gold"] == "science > physics > quantum" and docs.loc[0, "predicted"] == "science > physics > optics"
    assert docs.loc[0, "kinds"] == WRONG_CHILD and docs.loc[1, "error_depths"] == "1;2"
    assert "optics (+1.500)" in docs.loc[0, "predicted_scores"] and "quantum (-1.500)" in docs.loc[0, "gold_scores"]
    assert filter_documents(analysis)["doc"].tolist() == [0, 1]
    assert filter_documents(analysis, kind=WRONG_CHILD)["doc"].tolist() == [0]
    assert filter_documents(analysis, depth=1)["doc"].tolist() == [1]
    assert filter_documents(analysis, label="biology")["doc"].tolist() == [1]
    # every filter must hold for the same error
    assert filter_documents(analysis, label="biology", kind=MISSED).empty
    assert filter_documents(analysis, include_correct=True)["doc"].tolist() == [0, 1, 2, 3]
    assert filter_documents(analysis, label="tennis", include_correct=True)["doc"].tolist() == [3]
    with pytest.raises(HPTInputError, match="unknown error kind"):
        filter_documents(analysis, kind="typo")
    assert set(analysis.errors["kind"]) == {WRONG_CHILD, WRONG_SIBLING, MISSED, SPURIOUS}


def test_sibling_confusion(analysis, hierarchy):
    top = sibling_confusion(analysis.y_true, analysis.y_pred, hierarchy)
    assert top.loc["sports", "science"] == 1 and top.loc["arts", "arts"] == 1 and top.loc["sports", "sports"] == 1
    assert int(top.values.sum()) == 4
    physics = sibling_confusion(analysis.y_true, analysis.y_pred, hierarchy, "physics")
    assert list(physics.index) == ["quantum", "optics", "(none)"]
    assert physics.loc["quantum", "optics"] == 1 and int(physics.values.sum()) == 1  # only documents under physics
    assert parents_with_children(hierarchy) == ["Root", "sports", "science", "physics"]
    with pytest.raises(HPTInputError, match="no children"):
        sibling_confusion(analysis.y_true, analysis.y_pred, hierarchy, "arts")


def test_cli_evaluate_errors_writes_the_table(trained_run, task_files, tmp_path, capsys):
    from hpt_core.cli import main

    out = tmp_path / "errors.csv"
    assert main(["evaluate", "--run-dir", str(trained_run), "--data", str(task_files["test"]), "--errors", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out)
    assert len(table) == report["n_documents"]
    assert {"text", "gold", "predicted", "correct", "kinds", "error_depths", "gold_scores"} <= set(table.columns)
    # a document is correct exactly when its predicted paths are its gold paths
    assert (table["correct"] == (table["gold"] == table["predicted"].fillna(""))).all()
    assert (table.loc[~table["correct"], "n_errors"] > 0).all()
    assert main(["evaluate", "--run-dir", str(trained_run), "--data", str(task_files["test"]),
                 "--errors", str(tmp_path / "errors.xlsx")]) == 2
    assert not (tmp_path / "errors.xlsx").exists()
    assert main(["evaluate", "--run-dir", str(trained_run), "--data", str(task_files["test"]),
                 "--errors", str(tmp_path / "errors.jsonl")]) == 0
    assert len((tmp_path / "errors.jsonl").read_text().splitlines()) == report["n_documents"]
