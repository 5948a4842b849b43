"""Evaluation metrics for hierarchical text classification.

Every function is pure and takes multi-hot integer (or boolean) arrays ``y_true`` and
``y_pred`` of shape ``(N, C)``: one row per document, one column per non-root label in
``hierarchy.labels`` order. All F1 arithmetic is sklearn's (:func:`sklearn.metrics.f1_score`,
:func:`sklearn.metrics.precision_recall_fscore_support`) with an explicit
``zero_division=0``; results are plain Python floats in ``[0, 1]``.

Conventions (the benchmark's, see ``shared/data/README.md``):

* micro-F1 pools true positives, false positives and false negatives over all labels;
* macro-F1 is the mean per-label F1 over the labels **present** in the gold labels of the
  evaluated split (at least one gold document). The authors' public code instead averages
  over **all** labels, counting a label that is never gold and never predicted as F1 = 0
  (``labels="all"``), which gives lower figures when some labels are absent from a split;
* per-depth and per-frequency-group macro-F1 apply the "present" rule inside each group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support

from hpt_core.decoding import consistent_decode, decide, decision_rule, paths_per_document

__all__ = [
    "micro_f1",
    "macro_f1",
    "per_depth_macro_f1",
    "frequency_quintile_macro_f1",
    "per_label_table",
    "path_consistency",
    "hierarchical_prf",
    "evaluation_report",
]


# ---------------------------------------------------------------------------- helpers


def _as_multi_hot(y, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D multi-hot array (documents x labels), got shape {arr.shape}")
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a boolean or integer multi-hot array, got dtype {arr.dtype}")
    return (arr != 0).astype(np.int8)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = _as_multi_hot(y_true, "y_true")
    p = _as_multi_hot(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    return t, p


def _check_hierarchy(n_columns: int, hierarchy) -> None:
    if n_columns != len(hierarchy.labels):
        raise ValueError(
            f"the arrays have {n_columns} columns but the hierarchy has {len(hierarchy.labels)} labels"
        )


def _counts(train_counts, n_labels: int) -> np.ndarray:
    counts = np.asarray(train_counts)
    if counts.shape != (n_labels,):
        raise ValueError(f"train_counts must have shape ({n_labels},), got {counts.shape}")
    return counts


def _macro_over(t: np.ndarray, p: np.ndarray, labels: np.ndarray) -> float:
    """Mean per-label F1 over the column indices ``labels`` (sklearn; 0.0 when empty)."""
    if labels.size == 0:
        return 0.0
    return float(f1_score(t, p, labels=labels, average="macro", zero_division=0))


def _present(t: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    support = t.sum(axis=0)
    cols = np.arange(t.shape[1]) if labels is None else np.asarray(labels, dtype=np.int64)
    return cols[support[cols] > 0]


def _ancestor_closure(y: np.ndarray, hierarchy) -> np.ndarray:
    """``y`` with every predicted/gold label's ancestors switched on (root excluded).

    Deepest depth first, each parent takes the OR of its children's columns, so the cost is
    linear in the number of labels (a label-by-label reachability matrix is quadratic: 205 MB
    and minutes of integer matrix product at 5,000 labels).
    """
    closed = _as_multi_hot(y, "y").astype(bool)
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    for depth in range(int(hierarchy.max_depth), 1, -1):
        idx = np.asarray(hierarchy.indices_at_depth(depth), dtype=np.int64)
        if not idx.size:
            continue
        order = np.argsort(parent[idx], kind="stable")
        children, parents = idx[order], parent[idx][order]
        starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
        closed[:, parents[starts]] |= np.logical_or.reduceat(closed[:, children], starts, axis=1)
    return closed.astype(np.int8)


# ---------------------------------------------------------------------------- metrics


def micro_f1(y_true, y_pred) -> float:
    """Micro-averaged F1: true/false positives and false negatives pooled over all labels.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (N, C)
        Multi-hot gold labels and predictions (non-zero = label on).

    Returns
    -------
    float
        In ``[0, 1]``. Zero-support rule: when there is no gold label and no predicted label
        at all (nothing to count), the result is 0.0 (``zero_division=0``).

    Examples
    --------
    >>> micro_f1([[1, 0, 1], [0, 1, 0]], [[1, 0, 0], [0, 1, 1]])   # tp=2 fp=1 fn=1
    0.6666666666666666
    """
    t, p = _pair(y_true, y_pred)
    return float(f1_score(t, p, average="micro", zero_division=0))


def macro_f1(y_true, y_pred, labels="present") -> float:
    """Macro-averaged F1: the unweighted mean of per-label F1 scores.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (N, C)
        Multi-hot gold labels and predictions.
    labels : {"present", "all"} or array_like of int, default "present"
        Which labels (columns) enter the mean.

        * ``"present"`` — labels with at least one gold document in ``y_true`` (the benchmark
          convention). Labels absent from the split's gold are left out, even if predicted.
        * ``"all"`` — every label (the convention of the authors' public code). A label that
          is never gold and never predicted counts as F1 = 0; one that is never gold but
          predicted also has F1 = 0.
        * an array of column indices — exactly those labels, each counted (F1 = 0 when
          undefined).

    Returns
    -------
    float
        In ``[0, 1]``. Zero-support rules: a label's precision is 0 when it is never
        predicted and its recall 0 when it is never gold (``zero_division=0``); when no label
        is selected (no gold label at all under ``"present"``, or an empty index array) the
        result is 0.0.

    Examples
    --------
    >>> y_true = [[1, 0, 0], [0, 1, 0]]          # label 2 never occurs in the gold
    >>> y_pred = [[1, 0, 0], [1, 1, 0]]          # label 0: F1 2/3, label 1: F1 1
    >>> round(macro_f1(y_true, y_pred), 4)       # mean over labels 0 and 1
    0.8333
    >>> round(macro_f1(y_true, y_pred, labels="all"), 4)   # label 2 counts as 0
    0.5556
    >>> macro_f1(y_true, y_pred, labels=[1])
    1.0
    """
    t, p = _pair(y_true, y_pred)
    n_labels = t.shape[1]
    if isinstance(labels, str):
        if labels == "present":
            cols = _present(t)
        elif labels == "all":
            cols = np.arange(n_labels)
        else:
            raise ValueError(f'labels must be "present", "all" or an index array, got {labels!r}')
    else:
        cols = np.asarray(labels, dtype=np.int64).ravel()
        if cols.size and (cols.min() < 0 or cols.max() >= n_labels):
            raise ValueError(f"label indices must lie in [0, {n_labels}), got {cols.tolist()}")
    return _macro_over(t, p, cols)


def per_depth_macro_f1(y_true, y_pred, hierarchy) -> dict[int, float]:
    """Macro-F1 ("present" rule) over the labels of each depth (depth 1 = children of the root).

    Parameters
    ----------
    y_true, y_pred : array_like of shape (N, C)
        Multi-hot gold labels and predictions, columns in ``hierarchy.labels`` order.
    hierarchy : LabelHierarchy

    Returns
    -------
    dict of int to float
        ``{depth: macro-F1}`` in increasing depth. A depth none of whose labels occurs in the
        gold is **omitted** (it has no present label to average over).

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B")])
    >>> t = h.multi_hot([["A1"], ["B"]])
    >>> p = h.multi_hot([["A"], ["B"]])
    >>> per_depth_macro_f1(t, p, h)      # depth 1: A and B right; depth 2: A1 missed
    {1: 1.0, 2: 0.0}
    """
    t, p = _pair(y_true, y_pred)
    _check_hierarchy(t.shape[1], hierarchy)
    out: dict[int, float] = {}
    for depth in range(1, int(hierarchy.max_depth) + 1):
        cols = _present(t, hierarchy.indices_at_depth(depth))
        if cols.size:
            out[depth] = _macro_over(t, p, cols)
    return out


def frequency_quintile_macro_f1(y_true, y_pred, train_counts) -> list[float | None]:
    """Macro-F1 of five label groups of increasing training frequency (Figure 3b of the paper).

    Labels are sorted by their number of training documents, ascending, ties broken by label
    index (stable sort); the sorted list is cut into 5 near-equal consecutive groups with
    :func:`numpy.array_split` (the first ``C % 5`` groups get one label more). Each group's
    macro-F1 uses the "present" rule: only its labels that occur in ``y_true``.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (N, C)
        Multi-hot gold labels and predictions of the evaluated split.
    train_counts : array_like of shape (C,)
        Training-document count per label (e.g. ``y_train.sum(axis=0)`` or
        :func:`hpt_core.data.label_counts`).

    Returns
    -------
    list of 5 (float or None)
        Index 0 = the least frequent 20 % of labels, index 4 = the most frequent 20 %.
        ``None`` for a group with no label present in ``y_true`` (or no label at all, when
        ``C < 5``).

    Examples
    --------
    >>> y = np.eye(5, dtype=int)
    >>> frequency_quintile_macro_f1(y, y, [50, 10, 40, 20, 30])
    [1.0, 1.0, 1.0, 1.0, 1.0]
    >>> frequency_quintile_macro_f1(y[:, :2], y[:, :2], [1, 2])
    [1.0, 1.0, None, None, None]
    """
    t, p = _pair(y_true, y_pred)
    counts = _counts(train_counts, t.shape[1])
    order = np.argsort(counts, kind="stable")
    out: list[float | None] = []
    for group in np.array_split(order, 5):
        cols = _present(t, group)
        out.append(_macro_over(t, p, cols) if cols.size else None)
    return out


def per_label_table(y_true, y_pred, hierarchy, train_counts) -> pd.DataFrame:
    """One row per label with its counts and its precision, recall and F1.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (N, C)
        Multi-hot gold labels and predictions, columns in ``hierarchy.labels`` order.
    hierarchy : LabelHierarchy
    train_counts : array_like of shape (C,)
        Training-document count per label.

    Returns
    -------
    pandas.DataFrame
        Rows in label-index order; columns ``label``, ``depth``, ``parent`` (the parent's
        name, ``hierarchy.root`` — ``"Root"`` when the hierarchy has no ``root`` attribute —
        for depth-1 labels), ``train_count``, ``support`` (gold documents in ``y_true``),
        ``predicted`` (documents predicted), ``precision``, ``recall``, ``f1``.
        Zero-support rule (``zero_division=0``): precision is 0.0 when the label is never
        predicted, recall is 0.0 when it has no support, and F1 is then 0.0; read such rows
        together with ``support`` and ``predicted``.

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B")])
    >>> t = h.multi_hot([["A1"], ["B"]])
    >>> p = h.multi_hot([["A"], ["A"]])
    >>> tab = per_label_table(t, p, h, train_counts=[5, 2, 3])
    >>> list(tab.columns)
    ['label', 'depth', 'parent', 'train_count', 'support', 'predicted', 'precision', 'recall', 'f1']
    >>> cols = ["parent", "support", "predicted", "precision", "recall"]
    >>> tab.loc[tab.label == "A", cols].to_dict("records")
    [{'parent': 'Root', 'support': 1, 'predicted': 2, 'precision': 0.5, 'recall': 1.0}]
    """
    t, p = _pair(y_true, y_pred)
    _check_hierarchy(t.shape[1], hierarchy)
    counts = _counts(train_counts, t.shape[1])
    n_labels = t.shape[1]
    if n_labels:
        precision, recall, f1, support = precision_recall_fscore_support(
            t, p, labels=np.arange(n_labels), average=None, zero_division=0
        )
    else:
        precision = recall = f1 = support = np.zeros(0)
    root = getattr(hierarchy, "root", "Root")
    parents = [root if j < 0 else hierarchy.labels[j] for j in hierarchy.parent_index]
    return pd.DataFrame(
        {
            "label": list(hierarchy.labels),
            "depth": [int(d) for d in hierarchy.depths],
            "parent": parents,
            "train_count": [int(c) for c in counts],
            "support": [int(s) for s in support],
            "predicted": [int(x) for x in p.sum(axis=0)],
            "precision": [float(x) for x in precision],
            "recall": [float(x) for x in recall],
            "f1": [float(x) for x in f1],
        },
        columns=[
            "label", "depth", "parent", "train_count", "support", "predicted", "precision", "recall", "f1",
        ],
    )


def path_consistency(y_pred, hierarchy) -> float:
    """Fraction of documents whose predicted label set is closed under "parent".

    A document is consistent when every predicted label's parent is predicted too, or is the
    root. An empty prediction is consistent. With no documents at all the result is 1.0.

    Parameters
    ----------
    y_pred : array_like of shape (N, C)
        Multi-hot predictions, columns in ``hierarchy.labels`` order.
    hierarchy : LabelHierarchy

    Returns
    -------
    float
        In ``[0, 1]``.

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B")])
    >>> a, a1, b = (h.label_to_index[x] for x in ("A", "A1", "B"))
    >>> y = np.zeros((4, 3), dtype=int)
    >>> y[0, [a, a1]] = 1; y[1, a1] = 1; y[2, b] = 1     # row 1 has A1 without A; row 3 empty
    >>> path_consistency(y, h)
    0.75
    """
    p = _as_multi_hot(y_pred, "y_pred").astype(bool)
    _check_hierarchy(p.shape[1], hierarchy)
    if p.shape[0] == 0:
        return 1.0
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    children = np.flatnonzero(parent >= 0)
    orphan = p[:, children] & ~p[:, parent[children]]
    return float(np.mean(~orphan.any(axis=1)))


def hierarchical_prf(y_true, y_pred, hierarchy) -> dict[str, float]:
    """Hierarchical precision, recall and F1 (Kiritchenko et al., 2005).

    Both the gold and the predicted label sets of each document are augmented with all their
    ancestors (the root excluded); then hP = sum |T' & P'| / sum |P'|, hR = sum |T' & P'| /
    sum |T'| and hF = 2 hP hR / (hP + hR), the sums running over documents — i.e. micro
    precision/recall/F1 on the augmented multi-hot matrices, computed with sklearn.

    Parameters
    ----------
    y_true, y_pred : array_like of shape (N, C)
        Multi-hot gold labels and predictions, columns in ``hierarchy.labels`` order. They
        need not be ancestor-closed; the augmentation is done here.
    hierarchy : LabelHierarchy

    Returns
    -------
    dict
        ``{"precision": hP, "recall": hR, "f1": hF}``. Zero-support rule
        (``zero_division=0``): hP is 0.0 when nothing is predicted, hR is 0.0 when there is
        no gold label, and hF is 0.0 when hP + hR = 0.

    Examples
    --------
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2")])
    >>> t = h.multi_hot([["A1"]])                  # augmented gold {A, A1}
    >>> p = np.zeros_like(t); p[0, h.label_to_index["A2"]] = 1   # augmented {A, A2}
    >>> hierarchical_prf(t, p, h)
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    t, p = _pair(y_true, y_pred)
    _check_hierarchy(t.shape[1], hierarchy)
    t_aug = _ancestor_closure(t, hierarchy)
    p_aug = _ancestor_closure(p, hierarchy)
    precision, recall, f1, _ = precision_recall_fscore_support(
        t_aug, p_aug, average="micro", zero_division=0
    )
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _figures(t: np.ndarray, p: np.ndarray, hierarchy, train_counts) -> dict:
    hprf = hierarchical_prf(t, p, hierarchy)
    return {
        "micro_f1": micro_f1(t, p),
        "macro_f1": macro_f1(t, p, labels="present"),
        "macro_f1_all_labels": macro_f1(t, p, labels="all"),
        "per_depth_macro_f1": {str(d): v for d, v in per_depth_macro_f1(t, p, hierarchy).items()},
        "frequency_quintile_macro_f1": frequency_quintile_macro_f1(t, p, train_counts),
        "path_consistency": path_consistency(p, hierarchy),
        "hierarchical_precision": hprf["precision"],
        "hierarchical_recall": hprf["recall"],
        "hierarchical_f1": hprf["f1"],
        "n_documents": int(t.shape[0]),
        "n_labels_present": int(_present(t).size),
    }


def evaluation_report(y_true, scores, hierarchy, train_counts, decision: str = "threshold") -> dict:
    """All evaluation figures of one split, as the JSON-ready dict the CLI prints.

    Predictions are ``scores > 0``, each label decided on its own (HPT's rule,
    :func:`hpt_core.decoding.independent_decode`), or with ``decision="path"`` the best single
    path (:func:`hpt_core.decoding.decide`; the rule is in the report as ``"decision"``). The same figures are also computed on the
    hierarchy-consistent decoding of the same scores
    (:func:`hpt_core.decoding.consistent_decode`), under the key ``"consistent"``.

    Parameters
    ----------
    y_true : array_like of shape (N, C)
        Multi-hot gold labels (ancestor-closed, as :meth:`LabelHierarchy.multi_hot` gives).
    scores : array_like of shape (N, C)
        Per-label scores (logits); a 0/1 prediction matrix works too.
    hierarchy : LabelHierarchy
    train_counts : array_like of shape (C,)
        Training-document count per label (for the frequency groups).

    Returns
    -------
    dict
        Keys ``micro_f1``, ``macro_f1`` ("present" rule), ``macro_f1_all_labels`` ("all"
        rule), ``per_depth_macro_f1`` (``{"1": f, "2": f, ...}``, depths without a present
        label omitted), ``frequency_quintile_macro_f1`` (5 floats or ``None``),
        ``path_consistency``, ``hierarchical_precision``, ``hierarchical_recall``,
        ``hierarchical_f1``, ``n_documents``, ``n_labels_present`` and ``consistent`` (a dict
        with all the previous keys, for the consistent decoding); where some gold document has
        several paths, ``multi_path``: micro-, macro- and hierarchical F1 on those documents alone
        (and their ``n_documents``). Values are plain Python
        floats and ints; F1 figures are fractions in ``[0, 1]``, not percentages.

    Examples
    --------
    >>> import json
    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B")])
    >>> t = h.multi_hot([["A1"], ["B"]])
    >>> s = np.where(t > 0, 1.0, -1.0)
    >>> rep = evaluation_report(t, s, h, train_counts=[3, 2, 1])
    >>> rep["micro_f1"], rep["consistent"]["macro_f1"], rep["per_depth_macro_f1"]
    (1.0, 1.0, {'1': 1.0, '2': 1.0})
    >>> len(json.dumps(rep)) > 0
    True
    """
    t = _as_multi_hot(y_true, "y_true")
    s = np.asarray(scores)
    if s.shape != t.shape:
        raise ValueError(f"y_true has shape {t.shape} but scores has shape {s.shape}")
    _check_hierarchy(t.shape[1], hierarchy)
    pred = decide(s, hierarchy, decision)
    report = _figures(t, pred, hierarchy, train_counts)
    report["decision"] = decision_rule(decision)
    report["consistent"] = _figures(t, consistent_decode(pred, hierarchy), hierarchy, train_counts)
    multi_path = paths_per_document(t, hierarchy) > 1
    if multi_path.any():  # where one best path can never be right: the documents of several paths alone
        alone = _figures(t[multi_path], pred[multi_path], hierarchy, train_counts)
        report["multi_path"] = {key: alone[key] for key in ("micro_f1", "macro_f1", "hierarchical_f1", "n_documents")}
    return report
