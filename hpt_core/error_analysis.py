"""Where a model fails: every document's gold and predicted paths, its errors by kind and depth,
and per parent a confusion matrix between its children.

An error is a label on which gold and prediction disagree. Errors are paired and named so a reader
sees what went wrong, not only that something did:

* **right parent wrong child** — a wrong child of a parent that is both gold and predicted (the
  model found the branch and took the wrong turn below it); the gold child it missed is paired with it;
* **wrong sibling** — a wrong label whose gold sibling was missed, where the parent is the root or
  was not itself got right (a wrong branch);
* **missed** — a gold label with no wrong sibling predicted in its place (the path stops short, or
  nothing was predicted there);
* **spurious** — a predicted label with no missed gold sibling (predicted beyond the gold path, or
  under a wrong parent).

Each error sits at the depth of its label. Predictions are the hierarchy-consistent decision by
default (the paths users see); ``decision="independent"`` uses the model's own decision rule
(``rule``: the paper's ``score > 0``, or one best path) without the parent check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hpt_core.decoding import consistent_decode, decide, predicted_paths
from hpt_core.errors import HPTInputError

MISSED, SPURIOUS, WRONG_SIBLING, WRONG_CHILD = "missed", "spurious", "wrong sibling", "right parent wrong child"
ERROR_KINDS = (WRONG_CHILD, WRONG_SIBLING, MISSED, SPURIOUS)
NONE = "(none)"
#: File types ``write_table`` (and ``evaluate --errors``) can write.
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")


def document_errors(gold_row, pred_row, hierarchy) -> list[dict]:
    """The errors of one document: dicts with ``depth``, ``kind``, ``gold`` and ``predicted`` label
    (``None`` where the error has no counterpart), ordered by depth.

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    >>> gold, pred = h.multi_hot([["A1"]])[0], h.multi_hot([["A2"]])[0]
    >>> document_errors(gold, pred, h)
    [{'depth': 2, 'kind': 'right parent wrong child', 'gold': 'A1', 'predicted': 'A2'}]
    >>> document_errors(gold, h.multi_hot([["B"]])[0], h)[0]["kind"], document_errors(gold, h.multi_hot([["A"]])[0], h)
    ('wrong sibling', [{'depth': 2, 'kind': 'missed', 'gold': 'A1', 'predicted': None}])
    """
    gold = np.asarray(gold_row) != 0
    pred = np.asarray(pred_row) != 0
    parent = hierarchy.parent_index
    missed = [int(i) for i in np.flatnonzero(gold & ~pred)]
    wrong = [int(i) for i in np.flatnonzero(pred & ~gold)]
    events = []
    for p in list(wrong):
        sibling = next((g for g in missed if parent[g] == parent[p]), None)
        if sibling is None:
            continue
        up = parent[p]
        kind = WRONG_CHILD if up >= 0 and gold[up] and pred[up] else WRONG_SIBLING
        events.append((hierarchy.depths[p], kind, sibling, p))
        missed.remove(sibling)
        wrong.remove(p)
    events += [(hierarchy.depths[g], MISSED, g, None) for g in missed]
    events += [(hierarchy.depths[p], SPURIOUS, None, p) for p in wrong]
    events.sort(key=lambda e: (e[0], ERROR_KINDS.index(e[1])))
    labels = hierarchy.labels
    return [{"depth": int(d), "kind": k, "gold": None if g is None else labels[g],
             "predicted": None if p is None else labels[p]} for d, k, g, p in events]


def _paths(row, hierarchy) -> str:
    return " | ".join(" > ".join(path) for path in predicted_paths(row, hierarchy))


def _scored(indices, scores_row, labels) -> str:
    return "; ".join(f"{labels[i]} ({scores_row[i]:+.3f})" for i in indices)


@dataclass
class ErrorAnalysis:
    """Everything the error browser shows.

    ``documents``: one row per document (``doc`` = its position in the file, ``text``, ``gold``,
    ``predicted`` — paths as ``A > B | C`` —, ``correct``, ``n_errors``, ``kinds``, ``error_depths``,
    ``error_labels`` (";"-joined), ``gold_scores`` and ``predicted_scores`` — labels with their model
    scores). ``errors``: one row per error (``doc``, ``depth``, ``kind``, ``gold``, ``predicted`` and
    their scores). ``y_true``/``y_pred`` (N, C) multi-hot, ``scores`` (N, C).
    """

    documents: pd.DataFrame
    errors: pd.DataFrame
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray
    decision: str = "consistent"


def analyse(texts: list[str], y_true, scores, hierarchy, decision: str = "consistent",
            rule: str = "threshold") -> ErrorAnalysis:
    """Errors of every document from gold multi-hot labels (N, C) and model scores (N, C).

    ``rule`` is the model's decision rule (``PipelineConfig.decision``: scores > 0, or one best path);
    ``decision="consistent"`` then keeps a label only with its parent."""
    if decision not in ("consistent", "independent"):
        raise HPTInputError(f"decision must be consistent or independent; got {decision!r}")
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    y_pred = decide(scores, hierarchy, rule)
    if decision == "consistent":
        y_pred = consistent_decode(y_pred, hierarchy)
    labels = hierarchy.labels
    doc_rows, error_rows = [], []
    for n, text in enumerate(texts):
        events = document_errors(y_true[n], y_pred[n], hierarchy)
        for e in events:
            error_rows.append({"doc": n, **e,
                               "gold_score": None if e["gold"] is None else scores[n, hierarchy.label_to_index[e["gold"]]],
                               "predicted_score": None if e["predicted"] is None
                               else scores[n, hierarchy.label_to_index[e["predicted"]]]})
        doc_rows.append({
            "doc": n, "text": text, "gold": _paths(y_true[n], hierarchy), "predicted": _paths(y_pred[n], hierarchy),
            "correct": not events, "n_errors": len(events),
            "kinds": ";".join(dict.fromkeys(e["kind"] for e in events)),
            "error_depths": ";".join(dict.fromkeys(str(e["depth"]) for e in events)),
            "error_labels": ";".join(dict.fromkeys(x for e in events for x in (e["gold"], e["predicted"]) if x)),
            "gold_scores": _scored(np.flatnonzero(y_true[n]), scores[n], labels),
            "predicted_scores": _scored(np.flatnonzero(y_pred[n]), scores[n], labels),
        })
    errors = pd.DataFrame(error_rows, columns=["doc", "depth", "kind", "gold", "predicted", "gold_score",
                                               "predicted_score"])
    return ErrorAnalysis(pd.DataFrame(doc_rows), errors, y_true, y_pred, scores, decision)


def filter_documents(analysis: ErrorAnalysis, label: str | None = None, depth: int | None = None,
                     kind: str | None = None, include_correct: bool = False) -> pd.DataFrame:
    """The documents with an error matching every given filter (one error must match them all).

    ``label`` matches an error's gold or predicted label. With no filter and ``include_correct``,
    every document; a ``label`` filter then also keeps correct documents that hold the label.
    """
    if kind is not None and kind not in ERROR_KINDS:
        raise HPTInputError(f"unknown error kind {kind!r}; choose one of {', '.join(ERROR_KINDS)}")
    e = analysis.errors
    keep = pd.Series(True, index=e.index)
    if label is not None:
        keep &= (e["gold"] == label) | (e["predicted"] == label)
    if depth is not None:
        keep &= e["depth"] == depth
    if kind is not None:
        keep &= e["kind"] == kind
    docs = set(e.loc[keep, "doc"])
    table = analysis.documents
    if include_correct and kind is None and depth is None:
        correct = table["correct"]
        if label is not None:
            correct &= table["gold"].str.split(r" \| | > ").apply(lambda parts: label in parts)
        docs |= set(table.loc[correct, "doc"])
    return table[table["doc"].isin(docs)]


def sibling_confusion(y_true, y_pred, hierarchy, parent: str | None = None) -> pd.DataFrame:
    """Confusion between the children of ``parent`` (``None`` or the root: the depth-1 labels).

    Over the documents whose gold includes ``parent``: rows are the gold children (and ``(none)``
    when the gold path stops at the parent), columns the predicted children (and ``(none)``); a
    document with several gold or predicted children counts once per pair.
    """
    root = hierarchy.root
    parent = root if parent in (None, root) else parent
    children = hierarchy.children(parent)
    if not children:
        raise HPTInputError(f"label {parent!r} has no children")
    idx = [hierarchy.label_to_index[c] for c in children]
    t = np.asarray(y_true) != 0
    p = np.asarray(y_pred) != 0
    rows = np.ones(t.shape[0], dtype=bool) if parent == root else t[:, hierarchy.label_to_index[parent]]
    names = [*children, NONE]
    matrix = pd.DataFrame(0, index=pd.Index(names, name="gold"), columns=pd.Index(names, name="predicted"))
    for n in np.flatnonzero(rows):
        gold = [children[k] for k, i in enumerate(idx) if t[n, i]] or [NONE]
        pred = [children[k] for k, i in enumerate(idx) if p[n, i]] or [NONE]
        for g in gold:
            for q in pred:
                matrix.loc[g, q] += 1
    return matrix


def parents_with_children(hierarchy) -> list[str]:
    """The root and every label with at least two children (where a confusion matrix says something)."""
    return [hierarchy.root, *[label for label in hierarchy.labels if len(hierarchy.children(label)) > 1]]


def analyse_run(run_dir: str | Path, data: str | Path, decision: str = "consistent", batch_size: int = 64,
                progress: bool = False):
    """``(analysis, evaluation report)`` of a run's best model on a corpus file (scored once)."""
    from hpt_core.data import read_corpus
    from hpt_core.evaluation import run_scorer, train_counts_of
    from hpt_core.metrics import evaluation_report

    h, scores_of, rule = run_scorer(run_dir)
    documents = read_corpus(data, h)
    texts = [d.text for d in documents]
    scores = scores_of(texts, batch_size=batch_size, progress=progress)
    y_true = h.multi_hot([d.labels for d in documents])
    report = evaluation_report(y_true, scores, h, train_counts_of(run_dir, len(h.labels)), rule)
    return analyse(texts, y_true, scores, h, decision, rule), report


def check_table_path(path: str | Path) -> Path:
    """``path`` when its suffix is one :func:`write_table` knows (checked before any work is done)."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise HPTInputError(f"the error table is written as {', '.join(TABLE_SUFFIXES)}; got {path.suffix or 'no suffix'}",
                            path)
    if path.is_dir():
        raise HPTInputError("is a folder, expected a file name", path)
    return path


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the documents table as CSV, TSV or JSON Lines (by suffix), atomically."""
    from hpt_core.hierarchy import atomic_write_text

    path = check_table_path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        text = table.to_json(orient="records", lines=True, force_ascii=False)
    else:
        text = table.to_csv(index=False, sep="\t" if suffix == ".tsv" else ",")
    return atomic_write_text(path, text)
