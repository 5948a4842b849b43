"""Evaluating a model on documents: scores from the model, figures from ``hpt_core.metrics``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpt_core.data import Document, read_corpus
from hpt_core.decoding import DECISIONS, SINGLE_PATH_DECISIONS, decide, model_decision, paths_per_document  # noqa: F401  (model_decision: also this module's API)
from hpt_core.metrics import evaluation_report, macro_f1, per_label_table


def candidate_decisions(y_true, hierarchy) -> tuple[str, ...]:
    """The rules ``"auto"`` chooses from on gold labels ``y_true`` (N, C): every rule when some
    document has several paths, else the single-path ones (there a top-down rule that may keep
    several children can only add false paths; leaving it out keeps the choice of single-path
    corpora as before it existed)."""
    multi_path = bool((paths_per_document(y_true, hierarchy) > 1).any())
    return DECISIONS if multi_path else SINGLE_PATH_DECISIONS


def choose_decision(y_true, scores, hierarchy) -> tuple[str, dict[str, float]]:
    """The decision rule with the best macro-F1 on ``scores`` (N, C) against ``y_true`` (N, C)
    (dev) among :func:`candidate_decisions`, ties to ``"threshold"`` (the paper's), then to the
    earlier rule; and every candidate's macro-F1."""
    rules = candidate_decisions(y_true, hierarchy)
    by_rule = {rule: macro_f1(y_true, decide(scores, hierarchy, rule)) for rule in rules}
    best = max(rules, key=lambda rule: (by_rule[rule], rule == "threshold", -rules.index(rule)))
    return best, by_rule


def train_counts_of(run_dir: str | Path, n_labels: int) -> np.ndarray:
    """Training documents per label, as saved by the run (zeros when unknown)."""
    from hpt_core.runs import METRICS, read_json

    counts = (read_json(Path(run_dir) / METRICS, {}) or {}).get("train_counts")
    return np.asarray(counts, dtype=np.int64) if counts and len(counts) == n_labels else np.zeros(n_labels, dtype=np.int64)


def gold_and_scores(model, documents: list[Document], batch_size: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gold multi-hot labels (N, C) and the scores (N, C) of ``documents`` by ``model`` (an
    ``HTCClassifier``; a bare ``HPTModel`` is one without parts)."""
    from hpt_core.classifier import as_classifier

    model = as_classifier(model)
    scores = model.predict_scores([d.text for d in documents], batch_size=batch_size, progress=progress).numpy()
    return model.hierarchy.multi_hot([d.labels for d in documents]), scores


def evaluate_model(model, documents: list[Document], train_counts, batch_size: int = 64, progress: bool = False) -> dict:
    """The full evaluation report (see ``metrics.evaluation_report``) of ``model`` on ``documents``."""
    y_true, scores = gold_and_scores(model, documents, batch_size, progress)
    return evaluation_report(y_true, scores, model.hierarchy, train_counts, model_decision(model))


def run_scorer(run_dir: str | Path, device: str | None = None):
    """``(hierarchy, scores, decision)`` of a run folder: ``scores(texts, batch_size=64,
    progress=False)`` gives (N, C) numpy scores that ``decision`` turns into labels — the best
    model's (with its channel and blend), or for a zero-shot run its classifier's decision scores
    (> 0 where the top-down decision keeps a label, so the rule is ``"threshold"``)."""
    from hpt_core.runs import is_zero_shot_run

    if is_zero_shot_run(run_dir):
        from hpt_core.zero_shot import load_run_classifier

        classifier = load_run_classifier(run_dir, device)
        return classifier.hierarchy, lambda texts, batch_size=64, progress=False: classifier.scores(texts), "threshold"
    from hpt_core.predict import load_run_model

    model = load_run_model(run_dir, device)

    def scores(texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return model.predict_scores(list(texts), batch_size=batch_size, progress=progress).numpy()

    return model.hierarchy, scores, model_decision(model)


def evaluate_run(run_dir: str | Path, data: str | Path, batch_size: int = 64, with_table: bool = False,
                 progress: bool = False):
    """Evaluate a run (its best model, or a zero-shot run's classifier) on a corpus file; optionally
    also the per-label table."""
    hierarchy, scores_of, decision = run_scorer(run_dir)
    documents = read_corpus(data, hierarchy)
    counts = train_counts_of(run_dir, len(hierarchy.labels))
    y_true = hierarchy.multi_hot([d.labels for d in documents])
    scores = scores_of([d.text for d in documents], batch_size=batch_size, progress=progress)
    report = evaluation_report(y_true, scores, hierarchy, counts, decision)
    if not with_table:
        return report
    return report, per_label_table(y_true, decide(scores, hierarchy, decision), hierarchy, counts)
