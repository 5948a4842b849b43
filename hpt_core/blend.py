"""The classical blend: a trained model's label scores mixed, with a weight chosen on dev, with the
probabilities of the one-minute classical classifier (TF-IDF + sentence embeddings into one logistic
regression over leaves).

Why: the classical classifier and the fine-tuned HPT model make different errors. On 20ng the
classical one is level with HPT on its own; their dev-weighted mixture beats both (docs/benchmarks.md).
It is the "calibrated, dev-fitted blend" of issue 8, kept outside the model so that the model, its
training and every method of the paper stay as they are.

What it is (``PipelineConfig.blend``: ``"classical"``; ``None``, the paper, leaves it out):

* the classical classifier of ``benchmarks/classical_baseline.py`` (``tfidf+embeddings``): TF-IDF over
  word unigrams and bigrams of the whole text (``sublinear_tf``, ``min_df=2``) side by side with the
  mean-pooled, L2-normalised embedding of the text's first ``ENCODER_MAX_LENGTH`` (128) tokens by a
  *frozen copy of the pretrained backbone* (``hpt_core.sentence``) times a weight ``w``, into ONE multinomial
  logistic regression over the documents' path ends (the labels of a document none of whose
  children it has: its deepest label on single-path data); a document with k paths is k rows of
  weight 1/k, so its target is spread evenly over its paths instead of keeping one and teaching the
  others as wrong (multi-path corpora: RCV1, NYT, Amazon-531); ``C`` and ``w`` chosen by its own dev
  macro-F1, on the grids of the baseline (less C = 1) — one path over C per w, each fit
  warm-started from the last, by the bounded L-BFGS of ``hpt_core.linear_fit`` on the training
  device (scikit-learn's lbfgs took 377 s on Amazon-531's grid, this 46 s, with dev macro-F1
  level or higher on three corpora: ``benchmarks/blend_fit_budget.py``);
* a label's classical probability ``q`` is the summed probability of the classes at or below it
  (a parent is as likely as its subtree);
* the blended score of a label is ``logit(α · sigmoid(s) + (1 − α) · q)`` where ``s`` is the
  model's score (with its lexical channel) — still a score whose sign is the paper's decision and
  whose order along a path is the path decision's. ``α`` is chosen from ``MODEL_WEIGHTS`` by dev
  macro-F1 of the best model, after training (ties: the larger, more of the model); the model
  always keeps a part, so explanations of its own score stay meaningful.

Cost: one more encoder forward per document when scoring (the frozen copy, under bfloat16 autocast
where the device computes it natively, when fitting and scoring alike), the copy on disk
(``blend_encoder.safetensors``, bfloat16) and the regression (``blend.safetensors``: idf, weights;
``blend.json``: vocabulary and settings), restored by ``HTCClassifier.from_pretrained`` (``hpt_core.classifier``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpt_core import tfidf
from hpt_core.errors import HPTInputError
from hpt_core.linear_fit import SparseRows, document_sample, fit_linear, linear_scores
from hpt_core.phases import StepCallback
from hpt_core.sentence import FrozenSentenceEncoder

BLEND_CONFIG = "blend.json"
BLEND_WEIGHTS = "blend.safetensors"
BLEND_ENCODER = "blend_encoder.safetensors"
#: Values of ``PipelineConfig.blend`` (besides ``None``).
BLEND_KINDS = ("classical",)
#: The classical classifier's grids (those of benchmarks/classical_baseline.py's tfidf+embeddings
#: row, less C = 1, never chosen on dev: docs/benchmarks.md, ``benchmarks/blend_fit_budget.py``).
C_GRID = (10.0, 100.0, 1000.0)
EMBEDDING_WEIGHTS = (0.5, 1.0, 2.0)
#: Weights of the model's probability tried on dev (the classical one gets the rest).
MODEL_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
#: At most this many TF-IDF weights (columns × classes). Why: L-BFGS's own vector work (a dozen
#: passes over every weight an iteration) was most of a fit's time, and it grows with columns ×
#: classes; 4 M keeps 20ng's and wos1k's vocabularies whole and cuts Amazon-531's 354 classes to
#: 11,299 columns, with dev macro-F1 level or higher (``benchmarks/blend_fit_budget.py``).
MAX_WEIGHTS = 4_000_000
#: L-BFGS's budget per fit of the classifier (``hpt_core.linear_fit``): at most ``MAX_ITER``
#: iterations with ``HISTORY`` pairs. Why bounded: a fit's cost is then its iterations times one
#: pass over the features, whatever the corpus. Chosen on the classifier's own dev macro-F1 on
#: 20ng-LR, wos1k and Amazon-531 (docs/benchmarks.md): 50 iterations scored level with or above
#: scikit-learn's lbfgs run to convergence (up to 2,000 iterations; 31–42 of 1.3 s each per C on
#: Amazon-531), 30 lost 0.07 on 20ng-LR.
MAX_ITER = 50
HISTORY = 5
#: Tokens of each text the frozen encoder reads (the TF-IDF part reads all of it). Chosen on dev
#: against the baseline's 256: the blend's dev macro-F1 was higher or equal with 128 on 20ng
#: (84.52 against 83.40), wos1k (dev keeps no blend either way) and low-resource seed 1 (84.37
#: against 84.30), and the fit and each prediction's extra encoder pass cost about half
#: (docs/benchmarks.md). A model folder keeps the length it was fitted with.
ENCODER_MAX_LENGTH = 128


def encoder_max_length(encoder) -> int:
    """``ENCODER_MAX_LENGTH``, or fewer when the backbone ``encoder`` has fewer positions."""
    positions = getattr(encoder.config, "max_position_embeddings", None)
    return ENCODER_MAX_LENGTH if not positions else min(ENCODER_MAX_LENGTH, int(positions))
#: Blended scores are kept within this bound (a probability of 0 or 1 would be infinite).
MAX_SCORE = 1e4
#: The class of unlabelled training documents (its row of ``subtree_matrix`` is empty).
NO_LABEL = "\x00no label"
#: Texts scored by the classical classifier at a time (bounds the N × K arrays of large label sets).
CHUNK = 2048


def leaf_targets(docs, hierarchy) -> tuple[list[str | None], int]:
    """Each document's deepest label (the first in its label list on ties; ``None`` without labels)
    and how many documents have more than one path (more than one path end, :func:`path_ends`)."""
    depth = dict(zip(hierarchy.labels, hierarchy.depths))
    ends = path_ends(docs, hierarchy)
    # a deepest label is always a path end (a child of it would be deeper), and max keeps the first
    return [max(e, key=depth.__getitem__) if e else None for e in ends], sum(1 for e in ends if len(e) > 1)


def path_ends(docs, hierarchy) -> list[list[str]]:
    """Each document's path ends — its labels none of whose children it also has — in its label
    order: one on single-path data (its deepest label), several on multi-path data, none without labels."""
    parent = {label: (hierarchy.labels[p] if p >= 0 else None)
              for label, p in zip(hierarchy.labels, hierarchy.parent_index)}
    out = []
    for doc in docs:
        labels = list(dict.fromkeys(doc.labels))
        parents_in_set = {parent[label] for label in labels}
        out.append([label for label in labels if label not in parents_in_set])
    return out


def subtree_matrix(classes: list[int], hierarchy):
    """(K, C) sparse float32: row k has 1 at class k's label and at each of its ancestors, so that
    class probabilities (N, K) @ this = label probabilities (N, C). A class of index -1 ("no label",
    for unlabelled training documents) has an empty row."""
    from scipy import sparse

    rows, cols = [], []
    for row, index in enumerate(classes):
        while index >= 0:
            rows.append(row)
            cols.append(index)
            index = hierarchy.parent_index[index]
    return sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                             shape=(len(classes), len(hierarchy.labels)))


def embed_frozen(sentence: FrozenSentenceEncoder, texts: list[str], progress: bool = False) -> np.ndarray:
    """Sentence embeddings (N, d) under bfloat16 autocast where the encoder's device computes it
    natively (1.5–1.8× faster on such a CPU; cosines within 1e-4 of float32), float32 elsewhere —
    the same when fitting and when scoring."""
    from hpt_core.backbone import native_bf16

    return sentence.embed(texts, bf16=native_bf16(next(sentence.encoder.parameters()).device.type),
                          progress="classical blend" if progress else None)


def blended_scores(model_scores, probabilities, model_weight: float) -> np.ndarray:
    """``logit(α · sigmoid(s) + (1 − α) · q)``: model scores (N, C) and classical label
    probabilities (N, C) → blended scores (N, C) float32. α = ``model_weight``.

    Computed in log space, so that α = 1 gives back ``s`` exactly and far-negative scores keep
    their order (no clipping to a common floor that would tie them).
    """
    s = np.asarray(model_scores, dtype=np.float64)
    q = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        log_a, log_b = np.log(model_weight), np.log(1.0 - model_weight)
        log_p = np.logaddexp(log_a - np.logaddexp(0.0, -s), log_b + np.log(q))
        log_not_p = np.logaddexp(log_a - np.logaddexp(0.0, s), log_b + np.log1p(-q))
    return np.clip(log_p - log_not_p, -MAX_SCORE, MAX_SCORE).astype(np.float32)


@dataclass
class ClassicalBlend:
    """A fitted blend (see the module docstring).

    ``vocabulary[j]`` is TF-IDF column j, ``idf`` (V,); ``weight`` (K, V + d) and ``bias`` (K,) the
    regression over K classes whose label indices are ``classes``; the embedding block of the
    features is scaled by ``embedding_weight`` (w) before ``weight`` applies; ``model_weight`` is α.
    ``choice`` keeps the dev figures that chose C, w and α.
    """

    vocabulary: list[str]
    idf: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    classes: list[int]
    c: float
    embedding_weight: float
    model_weight: float
    sentence: FrozenSentenceEncoder
    hierarchy: object
    choice: dict | None = None

    def __post_init__(self) -> None:
        self._vectorizer = tfidf.restore(self.vocabulary, self.idf.numpy())
        self._to_labels = subtree_matrix(self.classes, self.hierarchy)

    def probabilities(self, texts: list[str], progress: bool = False, embedded: np.ndarray | None = None) -> np.ndarray:
        """Classical label probabilities (N, C) float32 of raw texts (one frozen-encoder forward each,
        unless their ``embedded`` (N, d) by this blend's encoder are given), ``CHUNK`` texts at a
        time (``progress``: a bar over the encoder's batches)."""
        texts = list(texts)
        out = np.zeros((len(texts), len(self.hierarchy.labels)), dtype=np.float32)
        for start in range(0, len(texts), CHUNK):
            part = texts[start:start + CHUNK]
            part_embedded = (embed_frozen(self.sentence, part, progress) if embedded is None
                             else embedded[start:start + len(part)])
            out[start:start + len(part)] = self.probabilities_of(self._vectorizer.transform(part), part_embedded)
        return out

    def probabilities_of(self, tfidf_rows, embeddings: np.ndarray) -> np.ndarray:
        """The same from features: TF-IDF rows (N, V) scipy CSR and embeddings (N, d)."""
        class_p = self.class_probabilities_of(tfidf_rows, embeddings)
        return np.asarray(self._to_labels.T @ class_p.T).T.astype(np.float32)

    def class_probabilities_of(self, tfidf_rows, embeddings: np.ndarray) -> np.ndarray:
        """The classifier's softmax (N, K) over its classes (``classes``) from TF-IDF rows (N, V)
        scipy CSR and embeddings (N, d)."""
        weight = self.weight.numpy()
        v = len(self.vocabulary)
        logits = np.asarray(tfidf_rows @ weight[:, :v].T) + self.embedding_weight * (embeddings @ weight[:, v:].T) \
            + self.bias.numpy()
        logits -= logits.max(axis=1, keepdims=True)
        class_p = np.exp(logits)
        return class_p / class_p.sum(axis=1, keepdims=True)

    def scores(self, model_scores, texts: list[str], progress: bool = False,
               embedded: np.ndarray | None = None) -> torch.Tensor:
        """Blended scores (N, C) float32 on the CPU of the model's scores (N, C) for ``texts``
        (``embedded``: see :meth:`probabilities`)."""
        return torch.from_numpy(blended_scores(np.asarray(model_scores), self.probabilities(texts, progress, embedded),
                                               self.model_weight))

    def to(self, device) -> "ClassicalBlend":
        self.sentence.to(device)
        return self

    def summary(self) -> dict:
        """The blend's settings as saved in ``metrics.json``."""
        return {"kind": "classical", "C": self.c, "embedding_weight": self.embedding_weight,
                "model_weight": self.model_weight, "n_features": len(self.vocabulary), "classes": len(self.classes),
                **(self.choice or {})}

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        meta = {"kind": "classical", "C": self.c, "embedding_weight": self.embedding_weight,
                "model_weight": self.model_weight,
                "classes": [self.hierarchy.labels[i] if i >= 0 else None for i in self.classes],
                "sentence_max_length": self.sentence.max_length, "vocabulary": self.vocabulary, "choice": self.choice}
        self.sentence.save(directory, BLEND_ENCODER)
        save_file({"idf": self.idf.contiguous(), "weight": self.weight.contiguous(), "bias": self.bias.contiguous()},
                  str(directory / BLEND_WEIGHTS))
        (directory / BLEND_CONFIG).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, hierarchy, backbone_config: dict, tokenizer) -> "ClassicalBlend":
        """The blend saved in ``directory`` for the model's ``hierarchy``; the frozen encoder's
        architecture is the model's backbone's (``backbone_config``)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        missing = [name for name in (BLEND_CONFIG, BLEND_WEIGHTS, BLEND_ENCODER) if not (directory / name).is_file()]
        if missing:
            raise HPTInputError(f"not a usable model folder: the classical blend ({', '.join(missing)}) is missing", directory)
        try:
            meta = json.loads((directory / BLEND_CONFIG).read_text(encoding="utf-8"))
            tensors = load_file(str(directory / BLEND_WEIGHTS))
            unknown = [label for label in meta["classes"] if label is not None and label not in hierarchy.label_to_index]
            if unknown:
                raise ValueError(f"classes not in the label tree: {', '.join(unknown[:5])}")
            sentence = FrozenSentenceEncoder.load(directory, backbone_config, tokenizer, int(meta["sentence_max_length"]),
                                                  BLEND_ENCODER)
            blend = cls(vocabulary=list(meta["vocabulary"]), idf=tensors["idf"], weight=tensors["weight"],
                        bias=tensors["bias"], classes=[-1 if label is None else hierarchy.label_to_index[label] for label in meta["classes"]],
                        c=float(meta["C"]), embedding_weight=float(meta["embedding_weight"]),
                        model_weight=float(meta["model_weight"]), sentence=sentence, hierarchy=hierarchy,
                        choice=meta.get("choice"))
        except HPTInputError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, SafetensorError, RuntimeError, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise HPTInputError(f"not a usable model folder: broken classical blend ({type(err).__name__}: {first})",
                                directory) from None
        k, v = len(blend.classes), len(blend.vocabulary)
        if blend.weight.shape != (k, v + sentence.width) or blend.bias.shape != (k,) or blend.idf.shape != (v,):
            raise HPTInputError("not a usable model folder: the classical blend's weights do not match its settings", directory)
        return blend


def fit_vectorizer(texts: list[str], n_classes: int):
    """The classifier's TF-IDF fitted on ``texts`` (``tfidf.columns_for(n_classes, MAX_WEIGHTS)``
    columns). Returns the vectorizer and the rows (N, V) scipy CSR."""
    return tfidf.fit(texts, tfidf.columns_for(n_classes, MAX_WEIGHTS))


def _fit_classifier(features: SparseRows, dense: torch.Tensor, class_index: torch.Tensor, sample_weight: torch.Tensor,
                    n_classes: int, c: float, init: tuple | None) -> tuple:
    """One multinomial logistic regression at inverse L2 strength ``c``: the weighted mean cross
    entropy of softmax(X W + E W_e + b) + (||W||² + ||W_e||²) / (2 C n) (scikit-learn's objective
    for n documents, whose weights sum to n), by L-BFGS bounded at ``MAX_ITER`` iterations.

    features (R, V), dense (R, d), class_index (R,) long, sample_weight (R,) -> (weight (V, K),
    dense weight (d, K), bias (K,), iterations)
    """
    from hpt_core.losses import weighted_cross_entropy_and_grad

    n_documents = float(sample_weight.sum())
    return fit_linear(features, dense, None, n_classes, c, n_samples=n_documents, init=init,
                      max_iter=MAX_ITER, history=HISTORY,
                      loss_and_grad=lambda scores: weighted_cross_entropy_and_grad(scores, class_index, sample_weight))


def _c_path(features: SparseRows, dense: torch.Tensor, class_index, sample_weight, n_classes: int,
            dev_features: SparseRows, dev_dense: torch.Tensor, dev_y, hierarchy, classes: list[str], c_grid,
            init: tuple | None = None):
    """Fit the classifier at each inverse L2 strength of ``c_grid`` in increasing order, each fit
    starting from the last (the optimum moves little from one C to the next). Returns the dev
    macro-F1 at each C, the best fit (ties: the smaller C) and the first fit (the next path's start)."""
    from hpt_core.metrics import macro_f1

    figures, best, fitted, first = [], None, init, None
    for c in sorted(c_grid):
        fitted = _fit_classifier(features, dense, class_index, sample_weight, n_classes, c, fitted)
        first = first or fitted
        with torch.no_grad():
            predicted = linear_scores(dev_features, dev_dense, *fitted[:3]).argmax(1).cpu().numpy()
        figures.append(macro_f1(dev_y, hierarchy.multi_hot([[] if classes[k] == NO_LABEL else [classes[k]]
                                                              for k in predicted])))
        if best is None or figures[-1] > best[0]:
            best = (figures[-1], fitted)
    return figures, best[1], first


def fit_classical_blend(train_texts: list[str], train_targets: list, dev_texts: list[str],
                        dev_y: np.ndarray, dev_model_scores: np.ndarray, hierarchy, sentence: FrozenSentenceEncoder,
                        rules=("threshold", "path"), c_grid=C_GRID, embedding_weights=EMBEDDING_WEIGHTS,
                        model_weights=MODEL_WEIGHTS, on_step: StepCallback | None = None,
                        device="cpu", max_documents: int | None = None,
                        seed: int = 0, on_embedded=None, keep=None) -> tuple[ClassicalBlend, np.ndarray] | None:
    """Fit the classical classifier on the training texts, choose its C and w by its dev macro-F1,
    then α by the dev macro-F1 of the blend with the model's dev scores (N, C), the best of ``rules``.

    ``train_targets``: each document's path ends (a list of labels, :func:`path_ends`; several on
    multi-path data, each a row of weight 1/k), or one label (:func:`leaf_targets`); unlabelled
    documents (``None`` or ``[]``) form a "no label" class. ``on_step(done, total, detail)`` after
    the embeddings and after each w's path over C. ``device``: where the fits run (the training
    device: a GPU when there is one); the blend returned is on the CPU. ``max_documents``: above this
    many training documents the classifier is fitted on a seeded sample of that many
    (``linear_fit.document_sample``, drawn with ``seed``), so that its cost — the frozen encoder's
    pass and the grid's fits — stops growing with the corpus.

    ``on_embedded(train_embedded, dev_embedded)``, when given, receives the frozen encoder's
    embeddings of the (sampled) training texts (N, d) and of dev (M, d) once they are computed
    (``hpt_core.familiarity`` is fitted from them, at no second encoder pass).

    ``keep``: a ``hpt_core.blend_progress.BlendProgress``: the embeddings and each finished path
    over C are taken from it when an earlier, killed start kept them, and kept in it otherwise.

    Returns the blend and its classical dev probabilities (M, C) (the caller blends its dev scores
    without embedding dev again), or ``None`` when the training set has fewer than two distinct
    targets (no classifier to fit). Deterministic on a given device. Only the chosen grid point's
    weights are kept.
    """
    from hpt_core.decoding import decide
    from hpt_core.metrics import macro_f1

    all_documents = len(train_texts)
    sample = document_sample(all_documents, max_documents, seed)
    if sample is not None:
        train_texts, train_targets = [train_texts[i] for i in sample], [train_targets[i] for i in sample]
    ends = [[] if t is None else [t] if isinstance(t, str) else list(t) for t in train_targets]
    rows = np.asarray([i for i, labels in enumerate(ends) for _ in (labels or [None])], dtype=np.int64)
    targets = [label for labels in ends for label in (labels or [NO_LABEL])]
    # a document of k paths is k rows of weight 1/k: its target spread evenly over its paths
    weights = np.asarray([1.0 / max(len(labels), 1) for labels in ends for _ in (labels or [None])], dtype=np.float32)

    texts = list(train_texts)
    classes = sorted(set(targets))  # "no label" ("\x00…") first, as scikit-learn ordered them
    if len(classes) < 2:
        return None
    device = torch.device(device)
    vectorizer, train_tfidf = fit_vectorizer(texts, len(classes))
    dev_tfidf = vectorizer.transform(list(dev_texts))
    c_grid = sorted(float(c) for c in c_grid)
    total = 1 + len(embedding_weights)
    report = on_step or (lambda done, total, detail: None)
    sampled = "" if sample is None else f" (a sample of {len(texts):,} of {all_documents:,} training documents)"
    report(0, total, f"embedding {len(texts):,} training and {len(dev_texts):,} dev texts with the frozen encoder{sampled}")
    kept = None if keep is None else keep.embeddings()
    if kept is not None and kept[0].shape[0] == len(texts) and kept[1].shape[0] == len(dev_texts):
        embedded, dev_embedded = kept
    else:
        embedded, dev_embedded = embed_frozen(sentence, texts), embed_frozen(sentence, list(dev_texts))
        if keep is not None:
            keep.keep_embeddings(embedded, dev_embedded)
    if on_embedded is not None:
        on_embedded(embedded, dev_embedded)
    report(1, total, f"{train_tfidf.shape[1]:,} TF-IDF features + {embedded.shape[1]} embedding dimensions, "
                     f"{len(classes):,} classes")
    features = SparseRows(train_tfidf[rows], device)  # the training rows, repeated for documents of several paths
    dense = torch.from_numpy(np.ascontiguousarray(embedded[rows])).to(device)
    dev_features = SparseRows(dev_tfidf, device)
    dev_dense = torch.from_numpy(dev_embedded).to(device)
    index_of = {label: k for k, label in enumerate(classes)}
    class_index = torch.as_tensor([index_of[label] for label in targets], dtype=torch.long, device=device)
    sample_weight = torch.from_numpy(weights).to(device)

    grid, figures, models, start, last_w = [], [], [], None, None
    for k, w in enumerate(float(w) for w in embedding_weights):
        if start is not None and w > 0:  # the last path's first fit, its embedding weights rescaled to this w
            start = (start[0], start[1] * (last_w / w), start[2])
        kept = None if keep is None else keep.path(k)
        if kept is not None:  # finished by an earlier start of this run: the same fits, not done again
            path_figures, path_best, first = kept
            first = (*(t.to(device) for t in first[:3]), first[3])
        else:
            path_figures, path_best, first = _c_path(features, dense * w, class_index, sample_weight, len(classes),
                                                     dev_features, dev_dense * w, dev_y, hierarchy, classes, c_grid,
                                                     start if w > 0 else None)
            if keep is not None:
                keep.keep_path(k, path_figures, path_best, first)
        grid += [(c, w) for c in c_grid]
        figures += path_figures
        models.append(path_best)
        report(2 + k, total, f"w = {w:g}: {len(c_grid)} values of C fitted" + (" (kept by an earlier start)" if kept else ""))
        if w > 0:
            start, last_w = first, w
    by_grid = {f"C={c!r},w={w!r}": round(f, 4) for (c, w), f in zip(grid, figures)}
    # ties keep the earlier grid point: the smaller w, then the smaller C
    best = int(np.argmax(figures))
    c, w = grid[best]
    sparse_weight, dense_weight, bias, iterations = models[best // len(c_grid)]
    weight = torch.cat([sparse_weight.T, dense_weight.T], dim=1).float().cpu().contiguous()  # (K, V + d)
    vocabulary = tfidf.vocabulary_of(vectorizer)
    blend = ClassicalBlend(vocabulary=vocabulary, idf=torch.as_tensor(vectorizer.idf_, dtype=torch.float32),
                           weight=weight, bias=bias.float().cpu().contiguous(),
                           classes=[-1 if label == NO_LABEL else hierarchy.label_to_index[label] for label in classes],
                           c=c, embedding_weight=w, model_weight=1.0, sentence=sentence, hierarchy=hierarchy)
    dev_q = blend.probabilities_of(dev_tfidf, dev_embedded)
    by_weight = {}
    for alpha in model_weights:
        mixed = blended_scores(dev_model_scores, dev_q, alpha)
        by_weight[repr(float(alpha))] = round(max(macro_f1(dev_y, decide(mixed, hierarchy, rule)) for rule in rules), 4)
    blend.model_weight = float(max(model_weights, key=lambda a: (by_weight[repr(float(a))], a)))
    blend.choice = {"dev_macro_f1_classical_by_C_w": by_grid, "dev_macro_f1_by_model_weight": by_weight,
                    "train_documents": all_documents, "fit_documents": len(texts),
                    "unlabelled_train_documents": targets.count(NO_LABEL),
                    "multi_path_train_documents": sum(1 for labels in ends if len(labels) > 1),
                    "iterations": iterations, "converged": iterations < MAX_ITER}
    return blend, dev_q
