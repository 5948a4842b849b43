"""What to label next (hpt_core/suggest.py, ``python -m hpt_core suggest``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import LabelHierarchy
from hpt_core.suggest import closest_calls, suggest

H = LabelHierarchy([("Root", "A"), ("Root", "B"), ("A", "A1"), ("A", "A2"), ("B", "B1")])


def _scores(**by_label):
    row = np.full(len(H.labels), -5.0)
    for label, value in by_label.items():
        row[H.label_to_index[label]] = value
    return row


def test_the_closest_call_is_between_siblings_on_the_best_path():
    scores = np.stack([
        _scores(A=3.0, B=-3.0, A1=2.0, A2=1.9),  # sure of the branch, torn between A1 and A2
        _scores(A=0.1, B=0.0, A1=1.0, B1=4.0),   # torn between the branches; B1 (the other branch) does not count
        _scores(A=3.0, B=-3.0, A1=4.0, A2=-4.0),  # sure all the way down
    ])
    calls = closest_calls(scores, H)
    assert calls[0][0] == ["A", "A1"] and calls[0][2:] == (2, "A1", "A2")
    assert calls[0][1] == pytest.approx(0.1)
    assert calls[1][2:] == (1, "A", "B") and calls[1][1] == pytest.approx(0.1)
    # a flat margin over all labels would call text 1 sure (B1 at 4.0 far above all); on the tree it is not
    ranked = suggest(scores, ["x", "y", "z"], H, n=3)
    assert [s.index for s in ranked][-1] == 2 and {s.index for s in ranked[:2]} == {0, 1}


def test_each_suggestion_carries_the_models_answer_not_only_its_best_path():
    """The Label page pre-fills the model's answer: under the threshold rule a text whose children
    all score below 0 is answered with the parent alone, though its best path goes one deeper."""
    scores = np.stack([_scores(A=2.0, B=-3.0, A1=-0.2, A2=-0.3), _scores(A=-1.0, B=-2.0, A1=-3.0, A2=-4.0)])
    ranked = {s.index: s for s in suggest(scores, ["x", "y"], H, n=2, decision="threshold")}
    assert ranked[0].path == ["A", "A1"] and ranked[0].decided == ["A"]
    assert ranked[1].decided == []  # nothing above its threshold: the annotator starts from an empty picker
    assert ranked[0].to_dict()["decided"] == ["A"]
    assert suggest(scores, ["x", "y"], H, n=2)[0].to_dict()["decided"] == suggest(scores, ["x", "y"], H, n=2)[0].path


def test_diverse_suggestions_do_not_repeat_one_confusion():
    texts = ["the striker scored a goal"] * 6 + ["a lens and a laser beam", "a bronze sculpture on show"]
    scores = np.stack([_scores(A=3.0, B=-3.0, A1=1.0, A2=0.99)] * 6 + [_scores(A=3.0, B=-3.0, A1=1.0, A2=0.9)] * 2)
    plain = suggest(scores, texts, H, n=2, strategy="margin")
    diverse = suggest(scores, texts, H, n=2, strategy="margin+diverse")
    assert {texts[s.index] for s in plain} == {"the striker scored a goal"}
    assert len({texts[s.index] for s in diverse}) == 2
    random = suggest(scores, texts, H, n=3, strategy="random", seed=1)
    assert random == suggest(scores, texts, H, n=3, strategy="random", seed=1) and len({s.index for s in random}) == 3


def test_bad_requests_are_one_clear_error():
    scores = np.zeros((2, len(H.labels)))
    with pytest.raises(HPTInputError, match="unknown strategy"):
        suggest(scores, ["a", "b"], H, strategy="entropy")
    with pytest.raises(HPTInputError, match="at least one"):
        suggest(scores, ["a", "b"], H, n=0)


def test_cli_suggests_from_a_pool_file_with_its_line_numbers(trained_run, tmp_path, capsys):
    from hpt_core.cli import main

    pool = tmp_path / "pool.txt"
    pool.write_text("we saw a penalty goal today\n\na bronze sculpture\nthe striker and the painter\n", encoding="utf-8")
    assert main(["suggest", "--run-dir", str(trained_run), "--pool", str(pool), "--n", "2", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer) == 2 and {a["line"] for a in answer} <= {1, 3, 4}
    assert all(a["path"] and a["margin"] >= 0 for a in answer)
    assert answer[0]["margin"] <= answer[1]["margin"]
    assert main(["suggest", "--run-dir", str(trained_run), "--pool", str(pool), "--n", "2"]) == 0
    assert "to label next" in capsys.readouterr().out
    assert main(["suggest", "--run-dir", str(trained_run), "--pool", str(tmp_path / "none.txt")]) != 0


def test_plain_uncertainty_ignores_the_tree():
    """flat-margin (small-text's BreakingTies over the leaves): the two best leaves anywhere compete —
    text 1's branches are nearly tied (A 0.1, B 0.0) but its leaf B1 is far above every other leaf,
    so the flat margin calls it sure while the tree's margin calls it the closest call."""
    scores = np.stack([_scores(A=3.0, B=-3.0, A1=2.0, A2=1.5), _scores(A=0.1, B=0.0, A1=1.0, B1=4.0)])
    flat = suggest(scores, ["x", "y"], H, n=2, strategy="flat-margin")
    assert [s.index for s in flat] == [0, 1]
    # each reports the call it was ranked by: its two best leaves (never a label and its own parent)
    assert (flat[0].chosen, flat[0].runner_up, flat[0].depth) == ("A1", "A2", 2)
    assert flat[0].margin == pytest.approx(0.5) and flat[1].margin == pytest.approx(3.0)
    assert [s.index for s in suggest(scores, ["x", "y"], H, n=1, strategy="margin")] == [1]
