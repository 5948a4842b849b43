"""Using a trained run: load once, predict many texts."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpt_core.calibration import Calibration
from hpt_core.decoding import (consistent_decode, decide, decision_rule, model_decision, predicted_paths,
                               sibling_margins, top_indices)
from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_text
from hpt_core.classifier import HTCClassifier, as_classifier

#: Above this many labels a prediction table holds the best ``TOP_SCORES`` scores of each text in
#: one column instead of one column per label (5,000 labels × 10,000 texts would be 50 M cells).
MAX_SCORE_COLUMNS = 200
TOP_SCORES = 10


def model_dir_of(run_dir: str | Path) -> Path:
    """A run folder's best model folder (or the folder itself when it is a model folder), or a
    model folder on the Hugging Face Hub by name (``owner/name``, no such local path: ``hpt_core.hub``)."""
    from hpt_core.hub import hub_model_folder, looks_like_hub_id

    if not Path(run_dir).exists() and looks_like_hub_id(str(run_dir)):
        return model_dir_of(hub_model_folder(str(run_dir)))
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


def load_run_model(run_dir: str | Path, device: str | None = None) -> HTCClassifier:
    """A run's (or model folder's) classifier: the trained model with its lexical channel and blend."""
    return HTCClassifier.from_pretrained(model_dir_of(run_dir), device=device)


@dataclass
class Prediction:
    """One text's prediction.

    ``labels`` is the model's decision (``PipelineConfig.decision``): the paper's independent per-label
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
    #: Calibrated confidence of each label on ``paths`` (``hpt_core.calibration``: how often such a
    #: label was right on dev), and the text's — its least confident label; empty / ``None`` when
    #: the model folder has no calibration (trained before it existed).
    calibrated: dict[str, float] = field(default_factory=dict)
    document_confidence: float | None = None
    #: Why the prediction may not mean much: no known words (``hpt_core.unfamiliar``), or a text
    #: unlike the training texts (``hpt_core.familiarity``).
    warnings: list[str] = field(default_factory=list)
    #: How like the training texts it is: the mean similarity to its nearest training texts
    #: (``hpt_core.familiarity``; ``None`` for a model folder without the check).
    familiarity: float | None = None

    def confidence(self, hierarchy) -> list[dict]:
        """How sure the prediction is, label by label along its paths (:func:`path_confidence`)."""
        return path_confidence(self.scores, self.paths, hierarchy, self.calibrated)

    def by_depth(self, hierarchy) -> dict[int, list[tuple[str, float]]]:
        """Every label of each depth with its score, best first."""
        out: dict[int, list[tuple[str, float]]] = {}
        for label, score in self.scores.items():
            out.setdefault(hierarchy.depth(label), []).append((label, score))
        return {d: sorted(v, key=lambda item: -item[1]) for d, v in sorted(out.items())}


def path_confidence(scores: dict[str, float], paths: list[list[str]], hierarchy,
                    calibrated: dict[str, float] | None = None) -> list[dict]:
    """For each label on the predicted ``paths`` (root first, each label once): its ``depth``, its
    ``score``, ``probability`` = sigmoid(score) — with the classical blend, the blend's mixed
    probability itself; not calibrated on held-out data —, ``margin``: its score minus its best
    sibling's (``None`` without siblings), the call between the labels that competed at that depth
    (small: a close call; the Label page's suggestions rank texts by it), and ``confidence``: the
    calibrated probability that the label is right (``calibrated``, from ``hpt_core.calibration``;
    ``None`` without one).

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("Root", "B"), ("A", "A1")])
    >>> [(c["label"], round(c["margin"], 2) if c["margin"] is not None else None)
    ...  for c in path_confidence({"A": 2.0, "B": 0.5, "A1": 1.0}, [["A", "A1"]], h)]
    [('A', 1.5), ('A1', None)]
    """
    out, seen = [], set()
    row = np.array([[scores.get(label, -np.inf) for label in hierarchy.labels]])  # a label not scored competes with none
    margins = sibling_margins(row, hierarchy)[0]
    for path in paths:
        for label in path:
            if label in seen or label not in scores:
                continue
            seen.add(label)
            score = float(scores[label])
            margin = float(margins[hierarchy.label_to_index[label]])
            out.append({"label": label, "depth": hierarchy.depth(label), "score": score,
                        "probability": float(1.0 / (1.0 + np.exp(-np.clip(score, -60.0, 60.0)))),
                        "margin": margin if np.isfinite(margin) else None,
                        "confidence": (calibrated or {}).get(label)})
    return out


class Predictor:
    """A loaded model ready to predict; load it once and call ``predict`` as often as needed.

    >>> predictor = Predictor.from_run("runs/demo")            # doctest: +SKIP
    >>> predictor.predict(["The invoice was charged twice"])[0].paths  # doctest: +SKIP
    """

    def __init__(self, classifier: HTCClassifier, precision: str = "fp32", calibration: Calibration | None = None):
        """``classifier``: the trained model and its parts (``hpt_core.classifier``; a bare ``HPTModel``
        is taken as a classifier without parts). ``precision`` of the model's own scores
        (``hpt_core.classifier.model_scores``): ``"fp32"`` (the
        scores ``evaluate`` reports), ``"bf16"`` or ``"auto"`` (bf16 where the device computes it
        natively: about a third faster on such a CPU, more on a GPU). ``calibration``: the model
        folder's (``hpt_core.calibration``), which turns scores into confidences that mean what
        they say; ``from_run`` loads it."""
        from hpt_core.config import check_precision
        from hpt_core.unfamiliar import KnownWords

        self.precision = check_precision(precision)  # a bad value is an error now, not at the first prediction
        self.classifier = as_classifier(classifier).eval()
        self.hierarchy = self.classifier.hierarchy
        self.calibration = calibration
        self.known_words = KnownWords.of_model(self.classifier)
        self.last_latency_s: float | None = None

    def at_precision(self, precision: str) -> "Predictor":
        """The same loaded classifier, calibration and known words, scoring at ``precision``
        (nothing is loaded or rebuilt: the app's "faster arithmetic" toggle)."""
        from hpt_core.config import check_precision

        other = copy.copy(self)
        other.precision, other.last_latency_s = check_precision(precision), None
        return other

    @property
    def decision(self) -> str:
        """The rule scores become labels by: ``"threshold"`` (score > 0), ``"path"`` (one best path) or
        ``"top_down"`` (complete paths, several where the scores say so)."""
        return decision_rule(model_decision(self.classifier))

    @property
    def model(self):
        """The trained ``HPTModel`` itself (its label words, its config)."""
        return self.classifier.model

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | None = None, precision: str = "fp32") -> "Predictor":
        model_dir = model_dir_of(run_dir)
        return cls(HTCClassifier.from_pretrained(model_dir, device=device), precision, Calibration.load(model_dir))

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | None = None, precision: str = "fp32") -> "Predictor":
        """A predictor for a model folder, a run folder, or a model folder on the Hugging Face Hub by
        name (``owner/name``: from the local cache, else downloaded)."""
        return cls.from_run(name_or_path, device, precision)

    def scores(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Label scores (N, C) in label-index order."""
        started = time.perf_counter()
        scores = self.classifier.predict_scores(list(texts), batch_size=batch_size, progress=progress,
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
        calibrated, documents = self.confidences(scores, consistent)
        return [Prediction(text=text,
                           scores={label: float(s) for label, s in zip(labels, scores[i])},
                           labels=[labels[j] for j in np.flatnonzero(independent[i])],
                           consistent_labels=[labels[j] for j in np.flatnonzero(consistent[i])],
                           paths=predicted_paths(consistent[i], self.hierarchy),
                           calibrated={} if calibrated is None else
                           {labels[j]: round(float(calibrated[i, j]), 6) for j in np.flatnonzero(consistent[i])},
                           document_confidence=None if documents is None else round(float(documents[i]), 6),
                           warnings=self._warnings(text, reading[i]),
                           **reading[i])
                for i, text in enumerate(texts)]

    def _warnings(self, text: str, reading: dict) -> list[str]:
        """Why a prediction may not mean much: unknown words, then a text unlike the training texts."""
        found = self.known_words.warnings(text)
        familiarity = self.classifier.familiarity
        unlike = None if familiarity is None else familiarity.warning(reading.get("familiarity"))
        return found + ([unlike] if unlike and not found else [])

    def confidences(self, scores: np.ndarray, consistent: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Calibrated confidence (N, C) of each decided label of ``consistent`` (N, C) and each
        text's (N,), or ``(None, None)`` without a calibration."""
        if self.calibration is None:
            return None, None
        return self.calibration.confidences(scores, consistent, self.hierarchy)

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
        scores, reading = self.classifier.predict_scores(texts, batch_size=batch_size, progress=progress,
                                                         return_reading=True, precision=self.precision)
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
        scores, reading, independent, consistent = self._decided(texts, batch_size, False)
        _, confidence = self.confidences(scores, consistent)
        return prediction_table(texts, scores, independent, consistent, self.hierarchy, confidence,
                                ["; ".join(self._warnings(text, reading[i])) for i, text in enumerate(texts)])


def prediction_table(texts: list[str], scores: np.ndarray, independent: np.ndarray, consistent: np.ndarray, hierarchy,
                     confidence: np.ndarray | None = None, warnings: list[str] | None = None):
    """The prediction table of ``texts`` (one row each): the labels decided independently (N, C)
    and consistently (N, C) as ``;``-joined names, the consistent ones' paths, each text's
    calibrated ``confidence`` (N,) and ``warnings`` when given, then a ``score:<label>`` column per
    label of ``scores`` (N, C) — or, for trees of more than ``MAX_SCORE_COLUMNS`` labels, one
    ``top_scores`` column with the ``TOP_SCORES`` best (``label (+1.234); …``), picked from the
    score matrix (no per-label dict per text). The one layout of every CSV of predictions (a
    trained model's and a zero-shot classifier's)."""
    import pandas as pd

    labels = hierarchy.labels
    table = pd.DataFrame({
        "text": list(texts),
        "labels": [";".join(labels[j] for j in np.flatnonzero(row)) for row in independent],
        "consistent_labels": [";".join(labels[j] for j in np.flatnonzero(row)) for row in consistent],
        "paths": [" | ".join("/".join(path) for path in predicted_paths(row, hierarchy)) for row in consistent],
    })
    if confidence is not None:
        table["confidence"] = np.round(np.asarray(confidence, dtype=np.float64), 4)
    if warnings is not None:
        table["warnings"] = list(warnings)
    if len(labels) <= MAX_SCORE_COLUMNS:
        wide = pd.DataFrame(np.round(scores.astype(np.float64), 4), columns=[f"score:{label}" for label in labels])
        return pd.concat([table, wide], axis=1)
    table["top_scores"] = ["; ".join(f"{labels[j]} ({scores[i, j]:+.3f})" for j in row)
                           for i, row in enumerate(top_indices(scores, TOP_SCORES))]
    return table


def prediction_record(prediction, top: int, hierarchy=None, abstain_below: float | None = None) -> dict:
    """What ``/predict`` and ``predict --output`` write for one text: the decided labels, the
    consistent ones as paths, the ``top`` best label scores (a tree of thousands of labels does
    not fill the answer), given the ``hierarchy`` how sure it is along its paths
    (:func:`path_confidence`), the text's calibrated ``document_confidence`` and its ``warnings``;
    with ``abstain_below``, ``abstained``: whether its confidence is below it (no calibration: never)."""
    names = list(prediction.scores)
    values = np.fromiter(prediction.scores.values(), dtype=np.float64, count=len(names))
    best = [(names[j], float(values[j])) for j in top_indices(values[None, :], top)[0]]
    return {"labels": prediction.labels, "consistent_labels": prediction.consistent_labels,
            "paths": prediction.paths, "top_scores": [{"label": label, "score": round(score, 6)} for label, score in best],
            "confidence": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in c.items()}
                           for c in path_confidence(prediction.scores, prediction.paths, hierarchy)]
            if hierarchy is not None else None,
            "document_confidence": prediction.document_confidence, "warnings": prediction.warnings,
            "familiarity": prediction.familiarity,
            **({} if abstain_below is None else {"abstained": abstained(prediction, abstain_below)}),
            "tokens_read": prediction.tokens_read, "tokens_total": prediction.tokens_total}


def abstained(prediction, threshold: float) -> bool:
    """Whether a prediction falls below a confidence ``threshold``: its calibrated confidence is
    lower (a model folder without calibration never abstains: there is no confidence to compare)."""
    return prediction.document_confidence is not None and prediction.document_confidence < threshold
