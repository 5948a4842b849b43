"""What to label next (issue 23): unlabelled texts ranked by what a trained model is least sure of,
read on the tree.

Strategies (``STRATEGIES``; pick with ``strategy=``):

* ``"margin"`` (the default, hierarchy-aware): walk each text's best path from the root; at every
  depth, the margin between the best child's score and the runner-up's *under the same parent*;
  a text's uncertainty is its smallest margin — the closest call on its way down. Flat margin
  sampling (small-text's ``BreakingTies``) compares labels of different branches that never
  compete; here only siblings do, and the answer says at which depth and between which two labels
  the call was close, which is what an annotator needs to look at.
* ``"margin+diverse"``: the ``DIVERSE_POOL`` × n closest calls, then n of them spread out in TF-IDF
  space (greedy k-centre on cosine distance), so a batch is not n near-copies of one confusion.
* ``"flat-margin"``: plain uncertainty, blind to the tree — the best leaf's score minus the
  runner-up leaf's, anywhere in the tree (small-text's ``BreakingTies`` on our scores, as a flat
  classifier over the leaves would rank): the baseline the hierarchy-aware margin is measured
  against (``benchmarks/active_learning.py``). Its suggestions report that call (the two leaves).
* ``"random"``: a seeded random sample — the baseline every strategy must beat.

Scores come from the run's decided scores (``evaluation.run_scorer``: the model with its channel
and blend; a zero-shot run's decision scores), so what is suggested is what the model in use
finds hard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpt_core.decoding import sibling_margins
from hpt_core.errors import HPTInputError

#: The strategies, each with the name the app shows.
STRATEGY_NAMES = {"margin": "closest call between siblings", "margin+diverse": "closest calls, spread out",
                  "flat-margin": "two best leaves anywhere (plain uncertainty)", "random": "random (the baseline)"}
STRATEGIES = tuple(STRATEGY_NAMES)
#: ``margin+diverse`` spreads n suggestions over the DIVERSE_POOL × n closest calls.
DIVERSE_POOL = 4


@dataclass
class Suggestion:
    """One text to label: its position in the pool (0-based), the model's best path, the closest
    call on it (``depth``, the chosen label and the runner-up sibling, their score ``margin``), and
    the labels the run's decision rule keeps (``decided``: what the model would answer — it may stop
    above the best path's end, or keep several paths; the best path when no rule was given)."""

    index: int
    text: str
    path: list[str]
    margin: float
    depth: int
    chosen: str
    runner_up: str | None
    decided: list[str] | None = None

    def to_dict(self) -> dict:
        return {"index": self.index, "text": self.text, "path": self.path, "margin": round(self.margin, 6),
                "depth": self.depth, "chosen": self.chosen, "runner_up": self.runner_up,
                "decided": self.path if self.decided is None else self.decided}


def closest_calls(scores: np.ndarray, hierarchy) -> list[tuple[list[str], float, int, str, str | None]]:
    """For each row of ``scores`` (N, C): its best path from the root (the best child at each depth
    while there are children) and the closest call on it — ``(path, margin, depth, chosen,
    runner_up)`` where margin is the best child's score minus its best sibling's (``inf`` when no
    depth on the path had two children to choose from).

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("Root", "B"), ("A", "A1"), ("A", "A2")])
    >>> closest_calls(np.array([[2.0, -1.0, 0.3, 0.2]]), h)[0]
    (['A', 'A1'], 0.09999999999999998, 2, 'A1', 'A2')
    """
    children = {None: [i for i, p in enumerate(hierarchy.parent_index) if p < 0]}
    for i, p in enumerate(hierarchy.parent_index):
        if p >= 0:
            children.setdefault(p, []).append(i)
    out = []
    scores = np.asarray(scores, dtype=np.float64)
    for row, margins in zip(scores, sibling_margins(scores, hierarchy)):
        node, path, best = None, [], (float("inf"), 0, "", None)
        while children.get(node):
            options = children[node]
            order = sorted(options, key=lambda i: -row[i])
            chosen = order[0]
            if len(order) > 1:
                margin = float(margins[chosen])
                if margin < best[0]:
                    best = (margin, len(path) + 1, hierarchy.labels[chosen], hierarchy.labels[order[1]])
            path.append(hierarchy.labels[chosen])
            node = chosen
        if best[2] == "" and path:
            best = (float("inf"), 1, path[0], None)
        out.append((path, *best))
    return out


def flat_calls(scores: np.ndarray, hierarchy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain uncertainty, as a flat classifier over the tree's leaves would read it: for each row
    of ``scores`` (N, C), the margin between its two best-scoring leaves anywhere in the tree and
    those two leaves' label indices. (Over every label instead, the two best would mostly be a
    label and its own parent: the gap between depths, not a call between labels.)

    Returns margins (N,), best (N,) and runner-up (N,) label indices.
    """
    scores = np.asarray(scores, dtype=np.float64)
    leaves = np.array([i for i, label in enumerate(hierarchy.labels) if hierarchy.is_leaf(label)], dtype=np.int64)
    if len(leaves) < 2:
        return np.full(len(scores), np.inf), np.full(len(scores), leaves[0] if len(leaves) else 0), \
            np.full(len(scores), -1)
    top2 = np.argsort(-scores[:, leaves], axis=1, kind="stable")[:, :2]
    best, second = leaves[top2[:, 0]], leaves[top2[:, 1]]
    rows = np.arange(len(scores))
    return scores[rows, best] - scores[rows, second], best, second


def _spread(candidates: list[int], texts: list[str], n: int) -> list[int]:
    """n of ``candidates`` (indices into ``texts``, most uncertain first) chosen greedily, each the
    farthest in TF-IDF cosine distance from those already chosen; the first is the most uncertain."""
    from hpt_core import tfidf

    if len(candidates) <= n:
        return list(candidates)
    _, rows = tfidf.fit([texts[i] for i in candidates], tfidf.MAX_FEATURES)
    vectors = rows.toarray() if rows.shape[1] else np.zeros((len(candidates), 1))
    chosen = [0]
    distance = 1.0 - vectors @ vectors[0]
    while len(chosen) < n:
        distance[chosen] = -np.inf
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, 1.0 - vectors @ vectors[nxt])
    return [candidates[i] for i in chosen]


def suggest(scores: np.ndarray, texts: list[str], hierarchy, n: int = 50, strategy: str = "margin",
            seed: int = 0, decision: str | None = None) -> list[Suggestion]:
    """The ``n`` texts of the pool to label next, best first (see the module docstring).

    scores (N, C) the run's decided scores of ``texts`` (N,); ``decision``: the run's rule
    (``decoding.decide``), whose labels each suggestion carries as ``decided``."""
    if strategy not in STRATEGIES:
        raise HPTInputError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if n < 1:
        raise HPTInputError(f"ask for at least one suggestion; got n = {n}")
    texts = list(texts)
    if len(texts) != len(scores):
        raise HPTInputError(f"{len(texts)} texts but {len(scores)} rows of scores")
    calls = closest_calls(scores, hierarchy)
    n = min(n, len(texts))
    if strategy == "random":
        order = list(np.random.default_rng(seed).permutation(len(texts))[:n])
    elif strategy == "flat-margin":
        flat, flat_best, flat_second = flat_calls(scores, hierarchy)
        order = np.argsort(flat, kind="stable")[:n].tolist()
        # each suggestion reports the call it was ranked by: the two best leaves and their margin
        labels, depths, picked = hierarchy.labels, hierarchy.depths, set(order)
        calls = [(call[0], float(flat[i]), depths[flat_best[i]], labels[flat_best[i]],
                  labels[flat_second[i]] if flat_second[i] >= 0 else None) if i in picked else call
                 for i, call in enumerate(calls)]
    else:
        by_margin = sorted(range(len(texts)), key=lambda i: (calls[i][1], i))
        order = by_margin[:n] if strategy == "margin" else _spread(by_margin[:DIVERSE_POOL * n], texts, n)
    decided = None
    if decision is not None:
        from hpt_core.decoding import decide_consistently

        picked = np.asarray(order, dtype=np.int64)
        kept = decide_consistently(np.asarray(scores)[picked], hierarchy, decision)
        decided = {int(i): [hierarchy.labels[j] for j in np.flatnonzero(row)] for i, row in zip(picked, kept)}
    return [Suggestion(index=int(i), text=texts[i], path=calls[i][0], margin=calls[i][1], depth=calls[i][2],
                       chosen=calls[i][3], runner_up=calls[i][4], decided=None if decided is None else decided[int(i)])
            for i in order]


def suggest_for_run(run_dir, texts: list[str], n: int = 50, strategy: str = "margin", seed: int = 0,
                    batch_size: int = 64, progress: bool = False) -> list[Suggestion]:
    """:func:`suggest` with the scores of a run folder's model (``evaluation.run_scorer``)."""
    from hpt_core.evaluation import run_scorer

    if not texts:
        raise HPTInputError("the pool has no texts")
    if strategy not in STRATEGIES:  # before the model is loaded
        raise HPTInputError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    hierarchy, scores_of, decision = run_scorer(run_dir)
    return suggest(scores_of(list(texts), batch_size=batch_size, progress=progress), texts, hierarchy, n, strategy, seed,
                   decision=decision)
