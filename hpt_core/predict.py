"""Using a trained run: load once, predict many texts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpt_core.decoding import consistent_decode, decide, decision_rule, model_decision, predicted_paths
from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_text
from hpt_core.model import HPTModel

#: Above this many labels a prediction table holds the best ``TOP_SCORES`` scores of each text in
#: one column instead of one column per label (5,000 labels × 10,000 texts would be 50 M cells).
MAX_SCORE_COLUMNS = 200
TOP_SCORES = 10


def model_dir_of(run_dir: str | Path) -> Path:
    """A run folder's best model folder (or the folder itself when it is a model folder)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise HPTInputError("is a file, expected a run folder", run_dir)
    if (run_dir / "config.json").is_file() and (run_dir / "model.safetensors").is_file():
        return run_dir
    candidate = run_dir / "model"
    if not candidate.is_dir():
        if not run_dir.exists():
            raise HPTInputError("run folder not found", run_dir)
        raise HPTInputError("this run has no trained model yet (no model/ folder)", run_dir)
    return candidate


def load_run_model(run_dir: str | Path, device: str | None = None) -> HPTModel:
    return HPTModel.from_pretrained(model_dir_of(run_dir), device=device)


@dataclass
class Prediction:
    """One text's prediction.

    ``labels`` is the model's decision (``HPTConfig.decision``): the paper's independent per-label
    decision (score > 0), or one best path; ``consistent_labels`` keeps a label only when its parent is kept; ``paths`` are the root-to-node paths of the
    consistent prediction. ``tokens_total`` is the text's length in word pieces, ``tokens_read``
    how many of them the model read, in ``windows`` windows (``HPTConfig.max_windows``).
    """

    text: str
    scores: dict[str, float]
    labels: list[str]
    consistent_labels: list[str]
    paths: list[list[str]] = field(default_factory=list)
    tokens_total: int = 0
    tokens_read: int = 0
    windows: int = 1

    def by_depth(self, hierarchy) -> dict[int, list[tuple[str, float]]]:
        """Every label of each depth with its score, best first."""
        out: dict[int, list[tuple[str, float]]] = {}
        for label, score in self.scores.items():
            out.setdefault(hierarchy.depth(label), []).append((label, score))
        return {d: sorted(v, key=lambda item: -item[1]) for d, v in sorted(out.items())}


class Predictor:
    """A loaded model ready to predict; load it once and call ``predict`` as often as needed.

    >>> predictor = Predictor.from_run("runs/demo")            # doctest: +SKIP
    >>> predictor.predict(["The invoice was charged twice"])[0].paths  # doctest: +SKIP
    """

    def __init__(self, model: HPTModel, precision: str = "fp32"):
        """``precision`` of the model's own scores (``HPTModel.model_scores``): ``"fp32"`` (the
        scores ``evaluate`` reports), ``"bf16"`` or ``"auto"`` (bf16 where the device computes it
        natively: about a third faster on such a CPU, more on a GPU)."""
        from hpt_core.config import check_precision

        self.precision = check_precision(precision)  # a bad value is an error now, not at the first prediction
        self.model = model.eval()
        self.hierarchy = model.hierarchy
        self.last_latency_s: float | None = None

    @property
    def decision(self) -> str:
        """The rule scores become labels by: ``"threshold"`` (score > 0), ``"path"`` (one best path) or
        ``"top_down"`` (complete paths, several where the scores say so)."""
        return decision_rule(model_decision(self.model))

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | None = None, precision: str = "fp32") -> "Predictor":
        return cls(load_run_model(run_dir, device), precision)

    def scores(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Label scores (N, C) in label-index order."""
        started = time.perf_counter()
        scores = self.model.predict_scores(list(texts), batch_size=batch_size, progress=progress,
                                           precision=self.precision).numpy()
        self.last_latency_s = time.perf_counter() - started
        return scores

    def predict(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> list[Prediction]:
        """One :class:`Prediction` per text; an empty or invisible text, or one with lone
        surrogates, is an :class:`HPTInputError` naming its position (1-based)."""
        texts = list(texts)
        if not texts:
            return []
        scores, reading, independent, consistent = self._decided(texts, batch_size, progress)
        labels = self.hierarchy.labels
        return [Prediction(text=text,
                           scores={label: float(s) for label, s in zip(labels, scores[i])},
                           labels=[labels[j] for j in np.flatnonzero(independent[i])],
                           consistent_labels=[labels[j] for j in np.flatnonzero(consistent[i])],
                           paths=predicted_paths(consistent[i], self.hierarchy),
                           **reading[i])
                for i, text in enumerate(texts)]

    def _decided(self, texts: list[str], batch_size: int, progress: bool):
        """Checked texts → scores (N, C), what each text's windows read, and the decided (N, C)
        independent and hierarchy-consistent multi-hot labels."""
        for i, text in enumerate(texts, start=1):
            if not isinstance(text, str):
                raise HPTInputError(f"text {i} is not a string")
            try:
                check_text(text, None)
            except HPTInputError as err:
                raise HPTInputError(f"text {i}: {err.problem}") from None
        started = time.perf_counter()
        scores, reading = self.model.predict_scores(texts, batch_size=batch_size, progress=progress, return_reading=True,
                                                    precision=self.precision)
        scores = scores.numpy()
        self.last_latency_s = time.perf_counter() - started
        independent = decide(scores, self.hierarchy, self.decision)
        return scores, reading, independent, consistent_decode(independent, self.hierarchy)

    def predict_table(self, texts: list[str], batch_size: int = 32):
        """Predictions as a table (one row per text), ready for CSV download: the labels, consistent
        labels and paths, then a ``score:<label>`` column per label — or, for trees of more than
        ``MAX_SCORE_COLUMNS`` labels, one ``top_scores`` column with the ``TOP_SCORES`` best
        (``label (+1.234); …``), picked from the score matrix (no per-label dict per text)."""
        import pandas as pd

        texts = list(texts)
        if not texts:
            return pd.DataFrame(columns=["text", "labels", "consistent_labels", "paths"])
        scores, _, independent, consistent = self._decided(texts, batch_size, False)
        labels = self.hierarchy.labels
        table = pd.DataFrame({
            "text": texts,
            "labels": [";".join(labels[j] for j in np.flatnonzero(row)) for row in independent],
            "consistent_labels": [";".join(labels[j] for j in np.flatnonzero(row)) for row in consistent],
            "paths": [" | ".join("/".join(path) for path in predicted_paths(row, self.hierarchy)) for row in consistent],
        })
        if len(labels) <= MAX_SCORE_COLUMNS:
            wide = pd.DataFrame(np.round(scores.astype(np.float64), 4), columns=[f"score:{label}" for label in labels])
            return pd.concat([table, wide], axis=1)
        k = min(TOP_SCORES, len(labels))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), axis=1)
        table["top_scores"] = ["; ".join(f"{labels[j]} ({scores[i, j]:+.3f})" for j in row) for i, row in enumerate(order)]
        return table
