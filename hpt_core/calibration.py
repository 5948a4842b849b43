"""Calibrated confidence: how often a decided label is right, learnt on dev, per depth.

Why: a label's score (or its sigmoid) says how far it is above the decision threshold, not how
often such a label turns out right — the model is trained to separate labels, the blend mixes two
probabilities, and "0.73" would read as a promise it does not keep. A practitioner who routes
uncertain texts to a person needs a number that means what it says: of the labels shown with
confidence 0.8, about 80 % are right.

What it is: for each depth, a Platt scaling fitted on the dev set — a logistic regression
(scikit-learn, L2 at ``C = 1``: dev sets are small) from two numbers of each label the decision
kept on a document's paths to "that label is gold":

* its score (clipped to ±``CLIP``), and
* its margin over its best sibling (the call between the labels that competed at that depth;
  ``CLIP`` for a label without siblings).

Two features and an intercept per depth, so a dev set of a hundred documents is enough; a depth
whose dev labels are all right (or all wrong) gets the smoothed rate ``(right + 1) / (n + 2)``.
The coefficients are kept non-negative (a higher score never lowers the confidence; ``_fit_depth``).
A document's confidence is its least confident decided label (the weakest link of its paths), 0
when nothing was decided. Saved beside the model weights as ``calibration.json`` with the dev
figures (expected calibration error per depth, the precision/coverage curve of abstaining below a
confidence) and loaded by ``Predictor``; post-hoc like the decision rule (hiclass keeps its
calibrators the same way: fitted after ``fit``, chosen by name, applied to the scores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpt_core.decoding import decide_consistently, sibling_margins

CALIBRATION_FILE = "calibration.json"
#: Scores and margins are clipped to ±CLIP before calibration (a lone child's margin is CLIP).
CLIP = 10.0
#: Bins of the expected calibration error (equal widths over [0, 1]).
ECE_BINS = 10
#: Confidence thresholds of the precision/coverage curve.
CURVE_THRESHOLDS = tuple(float(round(t, 2)) for t in np.linspace(0.0, 0.95, 20))


def decided_label_features(scores: np.ndarray, decided: np.ndarray, hierarchy) -> tuple[np.ndarray, ...]:
    """Every decided label as one row: ``(document index, label index, depth, score, margin)``.

    scores (N, C), decided (N, C) {0,1} hierarchy-consistent -> five arrays (K,); the margin is the
    label's score minus its best sibling's (``CLIP`` without siblings), both clipped to ±``CLIP``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    rows, cols = np.nonzero(np.asarray(decided))
    depths = np.asarray(hierarchy.depths, dtype=np.int64)
    own_scores = scores[rows, cols]
    margin = sibling_margins(scores, hierarchy)[rows, cols]  # inf without siblings: CLIP below
    return rows, cols, depths[cols], np.clip(own_scores, -CLIP, CLIP), np.clip(margin, -CLIP, CLIP)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Σ over equal-width confidence bins of |accuracy − mean confidence| × the bin's share of the
    events (K,) and (K,) {0,1}; ``None`` without events."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return None
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


@dataclass
class Calibration:
    """Per-depth Platt scaling of decided labels (see the module docstring).

    ``by_depth[d]``: ``{"coef": [score, margin], "intercept": b}`` or ``{"rate": p}`` (a depth whose
    dev labels were all right or all wrong); ``dev``: the figures on the dev set it was fitted on.
    """

    by_depth: dict[int, dict]
    dev: dict = field(default_factory=dict)

    def probability(self, depth: np.ndarray, score: np.ndarray, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (K,) that each decided label is right, from its depth, clipped
        score and margin (K,) (``decided_label_features``). A depth not seen on dev uses the
        deepest one fitted (deeper labels are the harder calls)."""
        depth, score, margin = (np.asarray(a) for a in (depth, score, margin))
        out = np.zeros(depth.shape, dtype=np.float64)
        deepest = self.by_depth[max(self.by_depth)]
        for d in np.unique(depth):
            part = self.by_depth.get(int(d), deepest)
            where = depth == d
            if "rate" in part:
                out[where] = part["rate"]
            else:
                z = part["coef"][0] * score[where] + part["coef"][1] * margin[where] + part["intercept"]
                out[where] = 1.0 / (1.0 + np.exp(-z))
        return out

    def confidences(self, scores: np.ndarray, decided: np.ndarray, hierarchy) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated confidence (N, C) of every decided label (0 where nothing was decided) and each
        document's (N,): its least confident decided label, 0 with none — the features computed once."""
        return self._from_labels(self._labels(scores, decided, hierarchy), decided)

    def label_confidence(self, scores: np.ndarray, decided: np.ndarray, hierarchy) -> np.ndarray:
        """Calibrated confidence (N, C) of every decided label; 0 where nothing was decided."""
        return self._labels(scores, decided, hierarchy)

    def document_confidence(self, scores: np.ndarray, decided: np.ndarray, hierarchy) -> np.ndarray:
        """Each document's confidence (N,): its least confident decided label, 0 with none."""
        return self._from_labels(self._labels(scores, decided, hierarchy), decided)[1]

    def _labels(self, scores: np.ndarray, decided: np.ndarray, hierarchy) -> np.ndarray:
        rows, cols, depth, score, margin = decided_label_features(scores, decided, hierarchy)
        out = np.zeros(np.asarray(decided).shape, dtype=np.float64)
        out[rows, cols] = self.probability(depth, score, margin)
        return out

    @staticmethod
    def _from_labels(labelled: np.ndarray, decided: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        decided = np.asarray(decided).astype(bool)
        masked = np.where(decided, labelled, np.inf)
        return labelled, np.where(decided.any(axis=1), masked.min(axis=1), 0.0)

    # ---- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"method": "platt per depth (score, margin over the best sibling)", "clip": CLIP,
                "by_depth": {str(d): part for d, part in sorted(self.by_depth.items())}, "dev": self.dev}

    def save(self, directory: str | Path) -> None:
        from hpt_core.runs import atomic_write_json

        atomic_write_json(Path(directory) / CALIBRATION_FILE, self.to_dict())

    @classmethod
    def load(cls, directory: str | Path) -> "Calibration | None":
        """The calibration saved in a model folder, or ``None`` (a folder from before calibration
        existed, or an unreadable file: predictions then show uncalibrated figures only)."""
        path = Path(directory) / CALIBRATION_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            by_depth = {int(d): part for d, part in data["by_depth"].items()}
            for part in by_depth.values():
                if "rate" not in part and (len(part["coef"]) != 2 or not isinstance(part["intercept"], (int, float))):
                    raise ValueError("bad calibration entry")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(by_depth=by_depth, dev=data.get("dev") or {}) if by_depth else None


def _fit_depth(features: np.ndarray, correct: np.ndarray) -> dict:
    """One depth's Platt scaling: features (K, 2), correct (K,) {0,1}.

    Monotone: a higher score or a wider margin never lowers the confidence. A feature whose fitted
    coefficient comes out negative is left out (coefficient 0) and the rest refitted; with none
    left the depth gets its smoothed rate. Why: on a hundred dev labels noise can tilt a
    coefficient below zero (WOS depth 1: −0.08 on the score), and then a text far from every label —
    a cake recipe given to a paper classifier — scored low everywhere and was shown *more*
    confident than a real abstract (53 % against 20 %, a real-browser walk, issue 21)."""
    n, right = int(correct.size), int(correct.sum())
    rate = {"rate": round((right + 1) / (n + 2), 6), "n": n}
    if right in (0, n):
        return rate
    from sklearn.linear_model import LogisticRegression

    kept = np.ones(features.shape[1], dtype=bool)
    while kept.any():
        fitted = LogisticRegression(C=1.0).fit(features[:, kept], correct)
        if (fitted.coef_[0] >= 0).all():
            coef = np.zeros(features.shape[1])
            coef[kept] = fitted.coef_[0]
            return {"coef": [float(c) for c in coef], "intercept": float(fitted.intercept_[0]), "n": n}
        kept[np.flatnonzero(kept)[fitted.coef_[0] < 0]] = False
    return rate


def evaluate_calibration(calibration: Calibration, y_true: np.ndarray, scores: np.ndarray, hierarchy,
                         decision: str) -> dict:
    """How well ``calibration`` holds on gold (N, C) and scores (N, C) decided by ``decision``: the
    expected calibration error over every decided label and per depth, the mean confidence against
    the share right, and the precision/coverage curve of keeping only documents at or above each
    confidence threshold (precision: the share of the kept documents' decided labels that are gold)."""
    y_true = np.asarray(y_true).astype(bool)
    decided = decide_consistently(scores, hierarchy, decision)
    return _evaluate(calibration, y_true, decided, decided_label_features(scores, decided, hierarchy))


def _evaluate(calibration: Calibration, y_true: np.ndarray, decided: np.ndarray, features: tuple) -> dict:
    """``evaluate_calibration`` on the decided labels (N, C) and their ``decided_label_features``."""
    rows, cols, depth, score, margin = features
    confidence = calibration.probability(depth, score, margin)
    correct = y_true[rows, cols].astype(np.float64)
    by_depth = {}
    for d in np.unique(depth):
        where = depth == d
        by_depth[str(int(d))] = {"ece": round(expected_calibration_error(confidence[where], correct[where]), 4),
                                 "mean_confidence": round(float(confidence[where].mean()), 4),
                                 "share_right": round(float(correct[where].mean()), 4), "labels": int(where.sum())}
    labelled = np.zeros(decided.shape, dtype=np.float64)
    labelled[rows, cols] = confidence
    _, documents = Calibration._from_labels(labelled, decided)  # the features above, not computed again
    curve = []
    for threshold in CURVE_THRESHOLDS:
        kept = documents >= threshold
        decided_kept = decided[kept]
        n_decided = int(decided_kept.sum())
        curve.append({"threshold": threshold, "coverage": round(float(kept.mean()) if kept.size else 0.0, 4),
                      "precision": round(float((decided_kept & y_true[kept]).sum() / n_decided), 4) if n_decided else None})
    ece = expected_calibration_error(confidence, correct)
    return {"ece": None if ece is None else round(ece, 4), "labels": int(correct.size),
            "documents": int(decided.shape[0]), "by_depth": by_depth, "curve": curve}


def fit_calibration(y_true: np.ndarray, scores: np.ndarray, hierarchy, decision: str) -> Calibration | None:
    """Fit the per-depth calibration on dev gold (N, C) and scores (N, C) decided by ``decision``
    (the model's rule), with its dev figures (``evaluate_calibration``); ``None`` when the decision
    keeps no label on dev (nothing to learn from)."""
    y_true = np.asarray(y_true).astype(bool)
    decided = decide_consistently(scores, hierarchy, decision)
    decided_features = decided_label_features(scores, decided, hierarchy)
    rows, cols, depth, score, margin = decided_features
    if rows.size == 0:
        return None
    correct = y_true[rows, cols].astype(np.int64)
    features = np.stack([score, margin], axis=1)
    by_depth = {int(d): _fit_depth(features[depth == d], correct[depth == d]) for d in np.unique(depth)}
    calibration = Calibration(by_depth=by_depth)
    calibration.dev = _evaluate(calibration, y_true, decided, decided_features)
    return calibration
