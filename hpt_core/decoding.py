"""Turning per-label scores into label sets.

HPT (Wang et al., EMNLP 2022) scores every label independently and keeps a label when its
score is positive (:func:`independent_decode`, the paper's decision rule). That rule can
predict a child without its parent; :func:`consistent_decode` repairs this top-down, and
:func:`argmax_path_decode` is an optional single-path decoder for documents on which nothing
passes the threshold. :func:`predicted_paths` lists the root-to-node paths that are shown to
users.

All functions are pure and work on NumPy arrays: ``scores`` is a float array of shape
``(N, C)`` (``C`` = ``len(hierarchy.labels)``, columns in label-index order) and a
prediction is a multi-hot ``int8`` array of the same shape.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "independent_decode",
    "consistent_decode",
    "predicted_paths",
    "argmax_path_decode",
    "top_down_decode",
    "paths_per_document",
]


def _as_2d(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (documents x labels), got shape {arr.shape}")
    return arr


def _check_columns(arr: np.ndarray, hierarchy, name: str) -> None:
    n_labels = len(hierarchy.labels)
    if arr.shape[1] != n_labels:
        raise ValueError(
            f"{name} has {arr.shape[1]} columns but the hierarchy has {n_labels} labels"
        )


def _levels(hierarchy) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(label indices, their parent indices), ...]`` for depths 1..max_depth (parent -1 = root)."""
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    out = []
    for depth in range(1, int(hierarchy.max_depth) + 1):
        idx = np.asarray(hierarchy.indices_at_depth(depth), dtype=np.int64)
        out.append((idx, parent[idx] if idx.size else idx))
    return out


def independent_decode(scores, threshold: float = 0.0) -> np.ndarray:
    """Keep every label whose score is above ``threshold``, each label decided on its own.

    This is HPT's decision rule (a label is predicted when its score is positive); the result
    may contain a label without its parent (see :func:`consistent_decode`).

    Parameters
    ----------
    scores : array_like of shape (N, C)
        Per-label scores (logits); a 0/1 or boolean matrix also works with the default
        threshold.
    threshold : float, default 0.0
        A label is predicted when ``score > threshold`` (strictly).

    Returns
    -------
    numpy.ndarray of shape (N, C), dtype int8
        The multi-hot prediction.

    Examples
    --------
    >>> independent_decode([[0.5, -1.0, 0.0]]).tolist()
    [[1, 0, 0]]
    >>> independent_decode([[0.5, -1.0, 0.0]], threshold=-2).tolist()
    [[1, 1, 1]]
    """
    arr = _as_2d(scores, "scores")
    return (arr > threshold).astype(np.int8)


def consistent_decode(pred_or_scores, hierarchy, threshold: float = 0.0) -> np.ndarray:
    """Hierarchy-consistent decoding: keep a label only if it passes and its parent is kept.

    Works top-down, one depth at a time: a depth-1 label (child of the root, which is always
    kept) is kept when it passes; a deeper label is kept when it passes and its parent was
    kept. A predicted child whose parent is not predicted (an "orphan") is therefore dropped,
    together with its whole subtree. The result is closed under "parent"
    (:func:`hpt_core.metrics.path_consistency` is 1.0 on it).

    Parameters
    ----------
    pred_or_scores : array_like of shape (N, C)
        Either a prediction (boolean or integer dtype: a label passes when its entry is
        non-zero; ``threshold`` is then ignored) or float scores (a label passes when
        ``score > threshold``).
    hierarchy : LabelHierarchy
        Columns follow ``hierarchy.labels``.
    threshold : float, default 0.0
        Decision threshold for float scores.

    Returns
    -------
    numpy.ndarray of shape (N, C), dtype int8

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B"), ("B", "B1")])
    >>> cols = [h.label_to_index[x] for x in ("A", "A1", "B", "B1")]
    >>> s = np.full((1, 4), -1.0)
    >>> s[0, cols] = [2.0, 1.0, -3.0, 5.0]     # B1 passes, but its parent B does not
    >>> kept = consistent_decode(s, h)
    >>> sorted(h.labels[i] for i in np.flatnonzero(kept[0]))
    ['A', 'A1']
    """
    arr = _as_2d(pred_or_scores, "pred_or_scores")
    _check_columns(arr, hierarchy, "pred_or_scores")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        passes = arr != 0
    else:
        passes = arr > threshold
    kept = np.zeros(arr.shape, dtype=bool)
    for idx, parents in _levels(hierarchy):
        if idx.size == 0:
            continue
        at_root = parents < 0
        parent_kept = np.ones((arr.shape[0], idx.size), dtype=bool)
        if not at_root.all():
            parent_kept[:, ~at_root] = kept[:, parents[~at_root]]
        kept[:, idx] = passes[:, idx] & parent_kept
    return kept.astype(np.int8)


def predicted_paths(pred_row, hierarchy) -> list[list[str]]:
    """The root-to-node paths of a document's predicted label set.

    One path per predicted label that has no predicted child (the most specific predictions),
    in label-index order; each path runs from the depth-1 label down to that label, the root
    left out (``hierarchy.path(label)``). Paths are read off the hierarchy, so on an
    inconsistent prediction (a label predicted without its parent) the path still lists the
    unpredicted ancestors; decode with :func:`consistent_decode` first to avoid that.
    An empty prediction gives ``[]``.

    Parameters
    ----------
    pred_row : array_like of shape (C,)
        One document's multi-hot prediction (non-zero = predicted).
    hierarchy : LabelHierarchy

    Returns
    -------
    list of list of str

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    >>> row = np.zeros(len(h.labels), dtype=int)
    >>> row[[h.label_to_index[x] for x in ("A", "A2", "B")]] = 1
    >>> sorted(predicted_paths(row, h))
    [['A', 'A2'], ['B']]
    """
    row = np.asarray(pred_row)
    if row.ndim != 1 or row.shape[0] != len(hierarchy.labels):
        raise ValueError(
            f"pred_row must have shape ({len(hierarchy.labels)},), got {row.shape}"
        )
    predicted = row != 0
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    has_predicted_child = np.zeros(predicted.shape, dtype=bool)
    parents_of_predicted = parent[predicted]
    has_predicted_child[parents_of_predicted[parents_of_predicted >= 0]] = True
    ends = np.flatnonzero(predicted & ~has_predicted_child)
    return [list(hierarchy.path(hierarchy.labels[i])) for i in ends]


def argmax_path_decode(scores, hierarchy) -> np.ndarray:
    """Best single path, chosen greedily: the highest-scoring child at each depth, down to a leaf.

    Starting at the root, take the highest-scoring child (ties: lowest label index), then the
    highest-scoring child of that label, and so on until a label with no children is reached.
    Every document gets exactly one complete root-to-leaf path, whatever the scores' signs.

    This is an option, not HPT's decision rule (that is :func:`independent_decode`): it suits
    single-path data sets, or as a fallback for documents on which no label passes the
    threshold, e.g.
    ``np.where(pred.any(1, keepdims=True), pred, argmax_path_decode(scores, h))``.

    Parameters
    ----------
    scores : array_like of shape (N, C)
        Per-label scores.
    hierarchy : LabelHierarchy

    Returns
    -------
    numpy.ndarray of shape (N, C), dtype int8
        One path per row (closed under "parent").

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    >>> s = np.zeros((1, len(h.labels)))
    >>> s[0, [h.label_to_index[x] for x in ("A", "A1", "A2", "B")]] = [-1.0, -5.0, -2.0, -3.0]
    >>> [h.labels[i] for i in np.flatnonzero(argmax_path_decode(s, h)[0])] == ["A", "A2"]
    True
    """
    arr = _as_2d(scores, "scores").astype(np.float64, copy=False)
    _check_columns(arr, hierarchy, "scores")
    n_docs, n_labels = arr.shape
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    has_child = np.zeros(n_labels + 1, dtype=bool)  # slot n_labels stands for the root
    has_child[np.where(parent < 0, n_labels, parent)] = True
    out = np.zeros(arr.shape, dtype=np.int8)
    current = np.full(n_docs, n_labels, dtype=np.int64)  # every document starts at the root
    rows = np.arange(n_docs)
    for idx, parents in _levels(hierarchy):
        if idx.size == 0:
            continue
        active = has_child[current]
        if not active.any():
            break
        parent_slot = np.where(parents < 0, n_labels, parents)
        candidate = parent_slot[None, :] == current[:, None]  # (N, labels at this depth)
        masked = np.where(candidate, arr[:, idx], -np.inf)
        pos = np.argmax(masked, axis=1)
        # Scores of -inf tie with the mask: fall back to the first candidate child.
        stray = ~candidate[rows, pos]
        pos[stray] = np.argmax(candidate[stray], axis=1)
        best = idx[pos]
        chosen = active & candidate.any(axis=1)
        out[rows[chosen], best[chosen]] = 1
        current = np.where(chosen, best, current)
        # A document whose node has children but none at this depth cannot happen in a tree
        # (children sit exactly one level below their parent).
    return out


def top_down_decode(scores, hierarchy, threshold: float = 0.0) -> np.ndarray:
    """Complete paths, as many as the scores say: from the root down, keep every child of a kept
    node whose score is above ``threshold``; where none is, keep its best child.

    Every document gets at least one complete root-to-leaf path (as with
    :func:`argmax_path_decode`) and several where several children score above the threshold —
    the rule for data sets whose documents may have several paths (RCV1, NYT, Amazon-531), where
    one best path can never be right on a multi-path document and thresholds alone may leave a
    path half-way.

    Parameters
    ----------
    scores : array_like of shape (N, C)
    hierarchy : LabelHierarchy

    Returns
    -------
    numpy.ndarray of shape (N, C), dtype int8, closed under "parent", every kept path complete.

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B"), ("B", "B1")])
    >>> s = np.zeros((1, len(h.labels)))
    >>> s[0, [h.label_to_index[x] for x in ("A", "A1", "A2", "B", "B1")]] = [2.0, -1.0, -0.5, 1.0, -3.0]
    >>> sorted(h.labels[i] for i in np.flatnonzero(top_down_decode(s, h)[0]))
    ['A', 'A2', 'B', 'B1']
    """
    arr = _as_2d(scores, "scores").astype(np.float64, copy=False)
    _check_columns(arr, hierarchy, "scores")
    n_docs = arr.shape[0]
    out = np.zeros(arr.shape, dtype=np.int8)
    for idx, parents in _levels(hierarchy):
        if idx.size == 0:
            continue
        parent_kept = np.ones((n_docs, idx.size), dtype=bool) if (parents < 0).all() else \
            np.where(parents[None, :] < 0, True, out[:, np.maximum(parents, 0)].astype(bool))
        level = arr[:, idx]
        keep = parent_kept & (level > threshold)
        for parent in np.unique(parents):  # a kept node with no child above the threshold: its best child
            children = np.flatnonzero(parents == parent)
            on = parent_kept[:, children[0]] & ~keep[:, children].any(axis=1)
            if on.any():
                best = children[np.argmax(level[np.ix_(on, children)], axis=1)]
                keep[np.flatnonzero(on), best] = True
        out[:, idx] = keep
    return out


def paths_per_document(labels, hierarchy) -> np.ndarray:
    """How many root-to-node paths each row of a multi-hot ``labels`` (N, C) holds: its labels
    none of whose children it also holds. (N,) int.

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    >>> paths_per_document(h.multi_hot([["A", "A1", "A2"], ["A", "A1"], []]), h).tolist()
    [2, 1, 0]
    """
    arr = _as_2d(labels, "labels").astype(bool)
    _check_columns(arr, hierarchy, "labels")
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    has_child_on = np.zeros(arr.shape, dtype=bool)
    with_parent = np.flatnonzero(parent >= 0)
    np.logical_or.at(has_child_on.T, parent[with_parent], arr[:, with_parent].T)
    return (arr & ~has_child_on).sum(axis=1)


#: How a model's label scores become its prediction (``PipelineConfig.decision``): ``"threshold"`` —
#: every label whose score is positive (HPT's rule, :func:`independent_decode`); ``"path"`` —
#: exactly one complete root-to-leaf path per document (:func:`argmax_path_decode`), for data sets
#: where every document has one path; ``"top_down"`` — complete paths, several where several
#: children score above 0 (:func:`top_down_decode`), for multi-path data. ``"auto"`` is resolved
#: to one of them on dev after training (``"top_down"`` is tried only when dev has documents with
#: several paths: on single-path data the choice is the two rules' as before).
DECISIONS = ("threshold", "path", "top_down")
#: The rules ``"auto"`` chooses from on single-path data.
SINGLE_PATH_DECISIONS = ("threshold", "path")


def decision_rule(decision: str) -> str:
    """The rule a model decides with: ``"auto"`` not yet resolved (a model saved before training
    ended) decides as ``"threshold"``, the paper's."""
    if decision not in (*DECISIONS, "auto"):
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, auto; got {decision!r}")
    return "threshold" if decision == "auto" else decision


def decide(scores, hierarchy, decision: str = "threshold") -> np.ndarray:
    """The prediction (N, C) int8 of ``scores`` (N, C) under a decision rule (see ``DECISIONS``).

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B")])
    >>> s = [[-0.5, -2.0, -1.0]]  # A, B, A1 (labels are in depth order)
    >>> h.labels, decide(s, h, "threshold").tolist(), decide(s, h, "path").tolist()
    (['A', 'B', 'A1'], [[0, 0, 0]], [[1, 0, 1]])
    """
    rule = decision_rule(decision)
    if rule == "path":
        return argmax_path_decode(scores, hierarchy).astype(np.int8)
    if rule == "top_down":
        return top_down_decode(scores, hierarchy)
    return independent_decode(scores)


def decide_consistently(scores, hierarchy, decision: str = "threshold") -> np.ndarray:
    """What the model answers: ``decide``'s prediction made hierarchy-consistent (a label kept only
    when its parent is), as a bool array (N, C) — what Predict shows, calibration scores and the
    Label page pre-fills."""
    return consistent_decode(decide(scores, hierarchy, decision), hierarchy).astype(bool)


def decision_name(decision: str) -> str:
    """How tables and pages name a decision rule."""
    return {"path": "best single path", "top_down": "top-down paths (score > 0, else the best child)"}.get(
        decision_rule(decision), "independent (score > 0)")


def model_decision(model) -> str:
    """The decision rule ``model`` predicts with: a classifier's (``PipelineConfig.decision``), or
    "threshold" (the paper's) for a bare model."""
    return getattr(getattr(model, "pipeline", None), "decision", "threshold")


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices (N, min(k, C)) of each row's ``k`` largest ``scores`` (N, C), largest first
    (equal scores: the lower index first) — by a partition, not a sort of every label."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(np.arange(k), (len(scores), 1))
    # stable on (score, index): sort the candidates by index first, then by score
    top = np.sort(top, axis=1)
    return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), axis=1)


def sibling_margins(scores, hierarchy) -> np.ndarray:
    """Each label's score minus its best sibling's (N, C): the call between the labels that compete
    at one depth under one parent (a label without siblings: ``inf``). Calibration's feature, the
    predicted path's margins and the Label page's closest calls all read it.

    scores (N, C) -> (N, C) float64

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("Root", "B"), ("A", "A1")])
    >>> sibling_margins(np.array([[2.0, 0.5, 1.0]]), h).tolist()
    [[1.5, -1.5, inf]]
    """
    scores = _as_2d(scores, "scores").astype(np.float64, copy=False)
    out = np.full(scores.shape, np.inf)
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    order = np.argsort(parent, kind="stable")
    starts = np.flatnonzero(np.r_[True, parent[order][1:] != parent[order][:-1]])
    for children in np.split(order, starts[1:]):  # each parent's children, one group a parent
        if children.size < 2:
            continue
        block = scores[:, children]  # (N, k)
        top_two = -np.partition(-block, 1, axis=1)[:, :2]  # (N, 2): the best and the second best
        best_other = np.where(block >= top_two[:, :1], top_two[:, 1:2], top_two[:, :1])
        out[:, children] = block - best_other
    return out
