"""Evaluating a model on documents: scores from the model, figures from ``hpt_core.metrics``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpt_core.data import Document, read_corpus
from hpt_core.metrics import evaluation_report, per_label_table


def train_counts_of(run_dir: str | Path, n_labels: int) -> np.ndarray:
    """Training documents per label, as saved by the run (zeros when unknown)."""
    from hpt_core.runs import METRICS, read_json

    counts = (read_json(Path(run_dir) / METRICS, {}) or {}).get("train_counts")
    return np.asarray(counts, dtype=np.int64) if counts and len(counts) == n_labels else np.zeros(n_labels, dtype=np.int64)


def _gold_and_scores(model, documents: list[Document], batch_size: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gold multi-hot labels (N, C) and model scores (N, C) of ``documents``."""
    scores = model.predict_scores([d.text for d in documents], batch_size=batch_size, progress=progress).numpy()
    return model.hierarchy.multi_hot([d.labels for d in documents]), scores


def evaluate_model(model, documents: list[Document], train_counts, batch_size: int = 64, progress: bool = False) -> dict:
    """The full evaluation report (see ``metrics.evaluation_report``) of ``model`` on ``documents``."""
    y_true, scores = _gold_and_scores(model, documents, batch_size, progress)
    return evaluation_report(y_true, scores, model.hierarchy, train_counts)


def evaluate_run(run_dir: str | Path, data: str | Path, batch_size: int = 64, with_table: bool = False,
                 progress: bool = False):
    """Evaluate a run's best model on a corpus file; optionally also the per-label table."""
    from hpt_core.predict import load_run_model

    model = load_run_model(run_dir)
    documents = read_corpus(data, model.hierarchy)
    counts = train_counts_of(run_dir, len(model.hierarchy.labels))
    y_true, scores = _gold_and_scores(model, documents, batch_size, progress)
    report = evaluation_report(y_true, scores, model.hierarchy, counts)
    if not with_table:
        return report
    return report, per_label_table(y_true, (scores > 0).astype(np.int8), model.hierarchy, counts)
