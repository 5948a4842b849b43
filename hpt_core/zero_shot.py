"""Predictions before any training: label names (and descriptions) against the text, top-down on the tree.

The bundled MiniLM is a sentence encoder: the mean of its final hidden states, L2-normalised, puts
texts about the same thing close together. :class:`ZeroShotClassifier` encodes every label's text
(its readable name, with its description where the dataset has one) and each document the same
way, and decides top-down: from the root, take the child whose similarity to the text is highest
and keep it when that similarity passes a threshold; stop at the first child that does not (or at
a leaf). The threshold is the one value learned, chosen on dev when there is a dev set
(:meth:`ZeroShotClassifier.fit_threshold`); without one every document gets a full path.

No training documents are used. The same predictor is a method row of ``evaluate --zero-shot`` and
of ``ablate --methods zero-shot,…`` (a run folder with ``metrics.json`` like a trained run's, see
:func:`evaluate_into`), and the app's Predict page offers it as soon as a taxonomy is uploaded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpt_core.config import DEFAULT_BACKBONE, _JSONConfig
from hpt_core.decoding import argmax_path_decode, consistent_decode, predicted_paths
from hpt_core.errors import HPTInputError
from hpt_core.runs import ZERO_SHOT_CONFIG as CONFIG_NAME, is_zero_shot_run  # noqa: F401  (is_zero_shot_run: also this module's API)

#: The method name of the zero-shot predictor in tables, ``ablate --methods`` and run folders.
ZERO_SHOT = "zero-shot"
# CONFIG_NAME (``runs.ZERO_SHOT_CONFIG``): the file beside ``run.json`` that marks a zero-shot run
# folder and holds its configuration.


@dataclass
class ZeroShotConfig(_JSONConfig):
    """How label texts and documents are compared.

    Args:
        backbone (str, defaults to ``"minilm"``): the sentence encoder (bundled MiniLM, a local folder or
            a hub name; any encoder works, a sentence-embedding one is what makes this meaningful).
        max_length (int, defaults to 256): documents are cut to this many tokens.
        label_text (str, defaults to ``"name"``): ``"name"`` — the label's readable name; ``"path"`` — the
            readable names from depth 1 down to the label (``"CS > Machine learning"``). A description, where
            the dataset has one, is appended either way.
        routing (str, defaults to ``"subtree"``): the similarity a child is chosen and kept by: ``"label"`` —
            its own; ``"subtree"`` — the best of its own and its descendants' (a terse parent name such as
            ``"CS"`` is then carried by its children's names).
        threshold (float, *optional*): similarity a chosen child must exceed to be kept. ``None`` before
            :meth:`ZeroShotClassifier.fit_threshold`; then every chosen child is kept (a full path).
    """

    backbone: str = DEFAULT_BACKBONE
    max_length: int = 256
    label_text: str = "name"
    routing: str = "subtree"
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.label_text not in ("name", "path"):
            raise HPTInputError(f"label_text must be name or path; got {self.label_text!r}")
        if self.routing not in ("label", "subtree"):
            raise HPTInputError(f"routing must be label or subtree; got {self.routing!r}")
        if self.max_length < 8:
            raise HPTInputError(f"max_length must be at least 8; got {self.max_length}")


def label_texts(hierarchy, label_text: str = "name") -> list[str]:
    """The text each label is encoded from, in label-index order.

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "CS"), ("CS", "CS/Machine learning")], {"CS": "computer science"})
    >>> label_texts(h), label_texts(h, "path")
    (['CS: computer science', 'Machine learning'], ['CS: computer science', 'CS > Machine learning'])
    """
    out = []
    for label in hierarchy.labels:
        if label_text == "path":
            text = " > ".join(hierarchy.display_name(x) for x in hierarchy.path(label))
        else:
            text = hierarchy.display_name(label)
        description = hierarchy.descriptions.get(label)
        out.append(f"{text}: {description}" if description else text)
    return out


def subtree_max(similarities: np.ndarray, hierarchy) -> np.ndarray:
    """Each label's best similarity over itself and its descendants. (N, C) -> (N, C)

    >>> from hpt_core.hierarchy import LabelHierarchy
    >>> h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("Root", "B")])
    >>> subtree_max(np.array([[0.1, 0.2, 0.9]]), h).tolist()   # labels A, B, A1
    [[0.9, 0.2, 0.9]]
    """
    out = np.array(similarities, dtype=np.float64, copy=True)
    parent = np.asarray(hierarchy.parent_index, dtype=np.int64)
    for depth in range(int(hierarchy.max_depth), 1, -1):  # deepest first: a parent sees finished children
        idx = np.asarray(hierarchy.indices_at_depth(depth), dtype=np.int64)
        np.maximum.at(out, (slice(None), parent[idx]), out[:, idx])
    return out


def top_down_decision(routing_scores: np.ndarray, hierarchy, threshold: float | None) -> np.ndarray:
    """The greedy path (best child at each depth) cut at the first child at or below ``threshold``.

    routing_scores (N, C) -> multi-hot (N, C) int8, closed under "parent". ``threshold=None`` keeps
    the whole path down to a leaf.
    """
    path = argmax_path_decode(routing_scores, hierarchy)
    if threshold is None:
        return path
    return consistent_decode((path > 0) & (routing_scores > threshold), hierarchy)


def decision_scores(routing_scores: np.ndarray, kept: np.ndarray, threshold: float | None) -> np.ndarray:
    """Scores whose sign is the decision (> 0: kept) and whose size is the distance from the threshold.

    They let the zero-shot predictor go through :func:`hpt_core.metrics.evaluation_report`, which
    predicts ``score > 0``. (N, C) -> (N, C) float
    """
    margin = np.abs(routing_scores - (0.0 if threshold is None else threshold)) + 1e-6
    return np.where(kept > 0, margin, -margin)


def choose_threshold(routing_scores: np.ndarray, gold: np.ndarray, hierarchy, n_candidates: int = 41) -> tuple[float, float]:
    """The threshold whose top-down decision has the best macro-F1 against ``gold``; ``(threshold, F1)``.

    Candidates are ``n_candidates`` quantiles of the scores on the greedy paths, plus a value just
    below all of them (keep the whole path); ties go to the lower threshold (longer paths).
    routing_scores (N, C), gold multi-hot (N, C).
    """
    from hpt_core.metrics import macro_f1

    path = argmax_path_decode(routing_scores, hierarchy) > 0
    candidates = np.unique(np.quantile(routing_scores[path], np.linspace(0.0, 1.0, n_candidates)))
    best, best_f1 = float(candidates.min()) - 1e-6, -1.0
    for threshold in [best, *candidates.tolist()]:
        f1 = macro_f1(gold, top_down_decision(routing_scores, hierarchy, threshold))
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(threshold), f1
    return best, best_f1


class ZeroShotClassifier:
    """Label texts against documents with a sentence encoder, decided top-down on the tree.

    >>> clf = ZeroShotClassifier.from_backbone(hierarchy)                    # doctest: +SKIP
    >>> clf.fit_threshold(dev_documents)                                       # doctest: +SKIP
    >>> clf.predict(["My card was refused at the till"])[0].paths              # doctest: +SKIP
    """

    def __init__(self, hierarchy, encoder, tokenizer, config: ZeroShotConfig | None = None):
        self.hierarchy = hierarchy
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.config = config or ZeroShotConfig()
        self.last_latency_s: float | None = None
        self._label_vectors = self.encode(label_texts(hierarchy, self.config.label_text))  # (C, d)

    @classmethod
    def from_backbone(cls, hierarchy, config: ZeroShotConfig | None = None, device: str | None = None) -> "ZeroShotClassifier":
        """Load the sentence encoder named in ``config`` (default: the bundled MiniLM)."""
        from transformers import AutoModel, AutoTokenizer

        from hpt_core.backbone import _quiet_transformers, resolve_backbone

        config = config or ZeroShotConfig()
        path = resolve_backbone(config.backbone)
        try:
            with _quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(path)
                encoder = AutoModel.from_pretrained(path)
        except (OSError, ValueError) as err:
            raise HPTInputError(f"cannot load encoder {config.backbone!r}: {str(err).splitlines()[0]}") from None
        if device is not None:
            encoder = encoder.to(device)
        return cls(hierarchy, encoder, tokenizer, config)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Mean-pooled, L2-normalised final hidden states. texts (N,) -> (N, d) float32."""
        from hpt_core.sentence import embed_texts

        return embed_texts(self.encoder, self.tokenizer, list(texts), self.config.max_length, batch_size)

    # ---- scores and decisions ---------------------------------------------------------------------
    def similarities(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each text with each label's text. (N, C)"""
        return self.encode(texts) @ self._label_vectors.T

    def routing_scores(self, similarities: np.ndarray) -> np.ndarray:
        """What a child is chosen and kept by (see ``ZeroShotConfig.routing``). (N, C) -> (N, C)"""
        if self.config.routing == "subtree":
            return subtree_max(similarities, self.hierarchy)
        return np.asarray(similarities, dtype=np.float64)

    def decide(self, similarities: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Multi-hot (N, C) decision at ``threshold`` (default: the configured one)."""
        threshold = self.config.threshold if threshold is None else threshold
        return top_down_decision(self.routing_scores(similarities), self.hierarchy, threshold)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Decision scores (N, C): > 0 where the label is predicted (see :func:`decision_scores`)."""
        started = time.perf_counter()
        routing = self.routing_scores(self.similarities(texts))
        kept = top_down_decision(routing, self.hierarchy, self.config.threshold)
        self.last_latency_s = time.perf_counter() - started
        return decision_scores(routing, kept, self.config.threshold)

    def fit_threshold(self, documents, max_documents: int | None = 2000) -> float:
        """Choose the threshold with the best macro-F1 on ``documents`` (dev); set and return it.

        See :func:`choose_threshold`. At most ``max_documents`` (the first ones) are encoded, to keep
        this quick in the app.
        """
        documents = list(documents)[:max_documents] if max_documents else list(documents)
        if not documents:
            raise HPTInputError("no dev documents to choose the zero-shot threshold on")
        routing = self.routing_scores(self.similarities([d.text for d in documents]))
        gold = self.hierarchy.multi_hot([d.labels for d in documents])
        threshold, _ = choose_threshold(routing, gold, self.hierarchy)
        self.config = self.config.replace(threshold=threshold)
        return threshold

    def predict(self, texts: list[str]):
        """One :class:`hpt_core.predict.Prediction` per text; its ``scores`` are the cosine similarities.

        ``labels`` and ``consistent_labels`` are both the top-down decision (it is consistent by
        construction).
        """
        from hpt_core.predict import Prediction

        texts = list(texts)
        if not texts:
            return []
        started = time.perf_counter()
        similarities = self.similarities(texts)
        kept = self.decide(similarities)
        self.last_latency_s = time.perf_counter() - started
        labels = self.hierarchy.labels
        out = []
        for i, text in enumerate(texts):
            chosen = [labels[j] for j in np.flatnonzero(kept[i])]
            out.append(Prediction(text=text, scores={label: float(s) for label, s in zip(labels, similarities[i])},
                                  labels=chosen, consistent_labels=list(chosen),
                                  paths=predicted_paths(kept[i], self.hierarchy)))
        return out


    def predict_table(self, texts: list[str]):
        """Predictions as a table (one row per text), as ``Predictor.predict_table`` writes them:
        the labels (the top-down decision, consistent by construction) and paths, then the cosine
        similarities (``score:<label>``, or the best ``TOP_SCORES`` in ``top_scores`` for large trees)."""
        import pandas as pd

        from hpt_core.predict import prediction_table

        texts = list(texts)
        if not texts:
            return pd.DataFrame(columns=["text", "labels", "consistent_labels", "paths"])
        similarities = self.similarities(texts)
        kept = self.decide(similarities)  # the top-down decision: consistent by construction
        return prediction_table(texts, similarities, kept, kept, self.hierarchy)


def load_run_classifier(run_dir: str | Path, device: str | None = None) -> ZeroShotClassifier:
    """The classifier of a zero-shot run folder: its encoder and settings, with the threshold its
    evaluation chose on dev (``metrics.json``); a folder not evaluated yet chooses it on its dev file now."""
    from hpt_core import runs
    from hpt_core.config import RunConfig
    from hpt_core.data import read_corpus
    from hpt_core.run_data import load_run_hierarchy

    run_dir = Path(run_dir)
    if not is_zero_shot_run(run_dir):
        raise HPTInputError(f"not a zero-shot run folder (no {CONFIG_NAME})", run_dir)
    run_config = RunConfig.from_json(run_dir / runs.RUN_CONFIG)
    hierarchy = load_run_hierarchy(run_config)
    metrics = runs.read_json(run_dir / runs.METRICS, {}) or {}
    config = ZeroShotConfig.from_dict(metrics["config"]) if metrics.get("config") \
        else ZeroShotConfig.from_json(run_dir / CONFIG_NAME)
    classifier = ZeroShotClassifier.from_backbone(hierarchy, config, device=device)
    if not metrics.get("config"):
        classifier.fit_threshold(read_corpus(run_config.data.dev, hierarchy))
    return classifier


# ---- a zero-shot "run": the same figures as a trained run, from no training documents --------------------
def evaluate_documents(classifier: ZeroShotClassifier, documents, train_counts=None) -> dict:
    """``metrics.evaluation_report`` of the zero-shot decision on ``documents``."""
    from hpt_core.metrics import evaluation_report

    documents = list(documents)
    h = classifier.hierarchy
    counts = np.zeros(len(h.labels), dtype=np.int64) if train_counts is None else train_counts
    scores = classifier.scores([d.text for d in documents])
    return evaluation_report(h.multi_hot([d.labels for d in documents]), scores, h, counts)


def prepare_run(data, run_dir: str | Path, config: ZeroShotConfig | None = None, name: str = ZERO_SHOT) -> Path:
    """Write a zero-shot run folder's ``run.json`` and ``zero_shot.json`` (evaluated by :func:`run_job`).

    ``run.json`` holds a ``RunConfig`` whose model names the method ``zero-shot`` (and the encoder),
    so run listings and comparison tables treat the folder like any other run.
    """
    from hpt_core import runs
    from hpt_core.config import HPTConfig, RunConfig

    config = config or ZeroShotConfig()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model = HPTConfig(method=ZERO_SHOT, backbone=config.backbone, max_length=max(config.max_length, 16))
    RunConfig(data=data, model=model, name=name).to_json(run_dir / runs.RUN_CONFIG)
    config.to_json(run_dir / CONFIG_NAME)
    return run_dir


def run_job(run_dir: str | Path) -> dict:
    """A background job (``python -m hpt_core run-job DIR``) on a prepared zero-shot run folder: it waits
    in the same device queue as a training job (``queued`` in its folder, cancellable there), then
    :func:`evaluate_run_dir`. It embeds every text with a sentence encoder on that device, so beside a
    training it would slow it down and compete for GPU memory."""
    from hpt_core import runs
    from hpt_core.devices import resolve_device

    run_dir = Path(run_dir)
    try:
        with runs.device_lock(resolve_device("auto"), run_dir):
            return evaluate_run_dir(run_dir)
    except runs.JobCancelled:  # cancelled while queued, as training.run_job records it
        runs.update_status(run_dir, state="cancelled", finished=time.time())
        return {}


def evaluate_run_dir(run_dir: str | Path) -> dict:
    """Evaluate a prepared zero-shot run folder: threshold on dev, figures on dev and test, ``metrics.json``.

    Writes ``status.json`` like a training job (running, then completed or failed).
    """
    from hpt_core import runs
    from hpt_core.config import RunConfig
    from hpt_core.devices import device_description, resolve_device
    from hpt_core.run_data import load_run_data

    run_dir = Path(run_dir)
    started = time.time()
    device = resolve_device("auto")
    runs.update_status(run_dir, state="running", pid=os.getpid(), started=started, device=device_description(device),
                       error=None)
    try:
        run_config = RunConfig.from_json(run_dir / runs.RUN_CONFIG)
        config = ZeroShotConfig.from_json(run_dir / CONFIG_NAME)
        # The training split is read only to check the data like a training run does; it is never used.
        hierarchy, _, dev_docs, test_docs = load_run_data(run_config)
        classifier = ZeroShotClassifier.from_backbone(hierarchy, config, device=device)
        threshold = classifier.fit_threshold(dev_docs)
        metrics = {"method": ZERO_SHOT, "threshold": threshold, "train_documents": 0, "epochs_run": 0,
                   "best_epoch": None, "device": device_description(device), "config": classifier.config.to_dict(),
                   "dev": evaluate_documents(classifier, dev_docs)}
        if test_docs:
            metrics["test"] = evaluate_documents(classifier, test_docs)
        metrics["train_seconds"] = time.time() - started
    except BaseException as err:
        runs.update_status(run_dir, state="failed", error=str(err) or type(err).__name__, finished=time.time())
        raise
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    runs.update_status(run_dir, state="completed", finished=time.time())
    return metrics


def evaluate_into(data, run_dir: str | Path, config: ZeroShotConfig | None = None) -> dict:
    """:func:`prepare_run` then :func:`evaluate_run_dir`: the zero-shot row of an ablation, in its own folder."""
    prepare_run(data, run_dir, config)
    return evaluate_run_dir(run_dir)


def evaluate_beside_run(run_dir: str | Path, data: str | Path, config: ZeroShotConfig | None = None) -> dict:
    """The zero-shot row beside a trained run: its tree (and descriptions), threshold on the run's dev file.

    Returns the evaluation report of ``data`` with ``threshold`` added (``None`` when the run's dev
    file is gone: whole paths then).
    """
    from hpt_core import runs
    from hpt_core.data import read_corpus
    from hpt_core.hierarchy import LabelHierarchy
    from hpt_core.model import HIERARCHY_NAME
    from hpt_core.predict import model_dir_of

    hierarchy = LabelHierarchy.from_json(model_dir_of(run_dir) / HIERARCHY_NAME)
    classifier = ZeroShotClassifier.from_backbone(hierarchy, config)
    dev = ((runs.read_json(Path(run_dir) / runs.RUN_CONFIG, {}) or {}).get("data") or {}).get("dev")
    if dev and Path(dev).is_file():
        classifier.fit_threshold(read_corpus(dev, hierarchy))
    report = evaluate_documents(classifier, read_corpus(data, hierarchy))
    return {**report, "threshold": classifier.config.threshold}
