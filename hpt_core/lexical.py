"""The lexical channel: label scores from sparse TF-IDF features of the whole text, added to the
model's own scores; the model is trained to complement them (stacking).

Why: a linear model over word and bigram TF-IDF features reads every word of a document, however
long, and catches what a 256-token window of a fine-tuned encoder misses — names, rare words,
bigrams, mail headers. Its errors differ from the encoder's, so the two together beat either.

What it is (``HPTConfig.lexical_channel = "tfidf"``; ``None``, the paper, leaves it out):

* TF-IDF over word unigrams and bigrams of the whole text (``sublinear_tf``, ``min_df=2``, at most
  ``max_features`` columns: 262,144, fewer for very large label sets so the weights stay under
  20 M numbers), fitted on the training texts;
* one linear scorer per label, trained with HPT's own loss — the zero-bounded multi-label cross
  entropy per depth (eq. 10), so its scores share HPT's decision rule (score > 0) — plus an L2
  penalty ``||W||² / (2·C·N)`` (scikit-learn's ``C`` convention), to convergence with L-BFGS;
  ``C`` is chosen from ``C_GRID`` by the channel's own dev macro-F1. The grid stops at 1000: the
  scores are added to the model's, and weaker penalties (10⁴, 10⁵) make them confidently wrong
  often enough to drown the model (measured on 20ng and wos1k dev, docs/benchmarks.md);
* a document's score is ``s_model + s_lexical``. The model is trained on that sum, so it learns
  what the words alone miss. A linear model fitted on the training set scores its own training
  documents far better than new ones; trained against those scores, the model would learn little.
  So in training each document gets the *out-of-fold* lexical scores of a channel fitted on the
  other folds (``N_FOLDS``), as in stacking; dev, test and prediction use the channel fitted on
  the whole training set.

The channel is saved beside the model weights (``lexical.json``: vocabulary and settings;
``lexical.safetensors``: idf, weights, bias) and restored by ``HPTModel.from_pretrained``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpt_core.errors import HPTInputError
from hpt_core.losses import zmlce_loss

LEXICAL_CONFIG = "lexical.json"
LEXICAL_WEIGHTS = "lexical.safetensors"
#: Inverse L2 strengths tried on dev (scikit-learn's ``C``, the classical baseline's grid).
C_GRID = (1.0, 10.0, 100.0, 1000.0)
#: Folds of the out-of-fold training scores.
N_FOLDS = 5
MAX_FEATURES = 262_144
MAX_WEIGHTS = 20_000_000


def _vectorizer(vocabulary: dict[str, int] | None = None, max_features: int | None = None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1 if vocabulary else 2,
                           max_features=max_features, vocabulary=vocabulary, dtype=np.float32)


def _to_torch(matrix) -> torch.Tensor:
    """A scipy sparse matrix (N, V) as a torch sparse COO tensor."""
    coo = matrix.tocoo()
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(coo.data.astype(np.float32)), coo.shape,
                                   check_invariants=False).coalesce()


def _fit_linear(features: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor, n_groups: int, c: float,
                init: tuple[torch.Tensor, torch.Tensor] | None = None, max_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise mean ZMLCE(X W + b) + ||W||² / (2 C N) with L-BFGS.

    features (N, V) sparse, targets (N, C) {0,1}, groups (C,) -> weight (V, C), bias (C,)
    """
    n, v = features.shape
    weight = torch.zeros(v, targets.shape[1]) if init is None else init[0].clone()
    bias = torch.zeros(targets.shape[1]) if init is None else init[1].clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, tolerance_change=1e-9, history_size=20)
    penalty = 1.0 / (2.0 * c * max(n, 1))

    def closure():
        optimizer.zero_grad()
        scores = torch.sparse.mm(features, weight) + bias
        loss = zmlce_loss(scores, targets, groups, n_groups) + penalty * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


@dataclass
class LexicalChannel:
    """A fitted lexical channel (see the module docstring).

    ``vocabulary[j]`` is the term of feature column j; ``idf`` (V,), ``weight`` (V, C), ``bias`` (C,);
    ``c`` the chosen inverse L2 strength.
    """

    vocabulary: list[str]
    idf: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    c: float
    dev_by_c: dict | None = None

    def __post_init__(self) -> None:
        self._vectorizer = _vectorizer({term: i for i, term in enumerate(self.vocabulary)})
        self._vectorizer.idf_ = self.idf.numpy().astype(np.float64)

    def features(self, texts: list[str]):
        """TF-IDF rows (N, V), scipy CSR, L2-normalised."""
        return self._vectorizer.transform(list(texts))

    def scores(self, texts: list[str]) -> torch.Tensor:
        """The channel's own label scores (N, C), float32 on the CPU."""
        if not texts:
            return torch.zeros(0, self.weight.shape[1])
        return torch.sparse.mm(_to_torch(self.features(texts)), self.weight) + self.bias

    def summary(self) -> dict:
        """The channel's settings as saved in ``metrics.json``."""
        return {"kind": "tfidf", "C": self.c, "n_features": len(self.vocabulary),
                "dev_by_C": self.dev_by_c}

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        meta = {"kind": "tfidf", "C": self.c, "vocabulary": self.vocabulary,
                "dev_by_C": self.dev_by_c}
        (directory / LEXICAL_CONFIG).write_text(json.dumps(meta), encoding="utf-8")
        save_file({"idf": self.idf.contiguous(), "weight": self.weight.contiguous(), "bias": self.bias.contiguous()},
                  str(directory / LEXICAL_WEIGHTS))

    @classmethod
    def load(cls, directory: str | Path, n_labels: int) -> "LexicalChannel":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        config_path, weights_path = directory / LEXICAL_CONFIG, directory / LEXICAL_WEIGHTS
        if not config_path.is_file() or not weights_path.is_file():
            raise HPTInputError(f"not a usable model folder: the lexical channel ({LEXICAL_CONFIG}, {LEXICAL_WEIGHTS}) is missing", directory)
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
            tensors = load_file(str(weights_path))
            channel = cls(vocabulary=list(meta["vocabulary"]), idf=tensors["idf"], weight=tensors["weight"],
                          bias=tensors["bias"], c=float(meta["C"]), dev_by_c=meta.get("dev_by_C"))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, SafetensorError) as err:
            raise HPTInputError(f"not a usable model folder: broken lexical channel ({type(err).__name__}: {err})", directory) from None
        v = len(channel.vocabulary)
        if channel.idf.shape != (v,) or channel.weight.shape != (v, n_labels) or channel.bias.shape != (n_labels,):
            raise HPTInputError("not a usable model folder: the lexical channel does not match the label tree", directory)
        return channel


def fit_lexical_channel(texts: list[str], targets: np.ndarray, groups: np.ndarray, dev_texts: list[str],
                        dev_targets: np.ndarray, c_grid=C_GRID, max_features: int | None = None,
                        n_folds: int = N_FOLDS, seed: int = 0) -> tuple[LexicalChannel, torch.Tensor]:
    """Fit the channel on the training texts (C chosen on dev) and the out-of-fold training scores.

    targets (N, C) and dev_targets (M, C) multi-hot; groups (C,) the depth group (0-based) of each
    label — each group is one ZMLCE term, as in HPT's loss.

    Returns the channel and the out-of-fold scores (N, C): document i's scores from a channel with
    the chosen C fitted on the folds without i (one fold per document, drawn with ``seed``).
    """
    from hpt_core.metrics import macro_f1

    n_labels = targets.shape[1]
    if max_features is None:
        max_features = max(1_000, min(MAX_FEATURES, MAX_WEIGHTS // max(n_labels, 1)))
    vectorizer = _vectorizer(max_features=max_features)
    try:
        train_features = vectorizer.fit_transform(list(texts))
    except ValueError:  # every term occurs once: too little text for min_df=2
        vectorizer = _vectorizer(max_features=max_features)
        vectorizer.min_df = 1
        train_features = vectorizer.fit_transform(list(texts))
    vocabulary = [term for term, _ in sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])]
    x = _to_torch(train_features)
    y = torch.as_tensor(targets, dtype=torch.float32)
    group_index = torch.as_tensor(groups, dtype=torch.long)
    n_groups = int(group_index.max()) + 1 if len(group_index) else 1
    x_dev = _to_torch(vectorizer.transform(list(dev_texts)))

    best, by_c, fitted = None, {}, None
    dev_y = torch.as_tensor(dev_targets, dtype=torch.float32)
    for c in sorted(float(c) for c in c_grid):  # increasing C: each fit starts from the last
        fitted = _fit_linear(x, y, group_index, n_groups, c, init=fitted)
        dev_scores = torch.sparse.mm(x_dev, fitted[0]) + fitted[1]
        score = macro_f1(dev_targets, (dev_scores.numpy() > 0).astype(np.int8))
        by_c[repr(c)] = {"dev_macro_f1": round(score, 4),
                         "dev_loss": round(float(zmlce_loss(dev_scores, dev_y, group_index, n_groups)), 4)}
        if best is None or score > best[0]:  # ties keep the smaller C
            best = (score, c, fitted)
    _, c, (weight, bias) = best
    channel = LexicalChannel(vocabulary=vocabulary, idf=torch.as_tensor(vectorizer.idf_, dtype=torch.float32),
                             weight=weight, bias=bias, c=c, dev_by_c=by_c)
    return channel, _out_of_fold_scores(train_features, y, group_index, n_groups, c, n_folds, seed, (weight, bias))


def _out_of_fold_scores(features, targets: torch.Tensor, groups: torch.Tensor, n_groups: int, c: float,
                        n_folds: int, seed: int, init) -> torch.Tensor:
    """Scores (N, C) of each training document from a channel fitted without its fold.

    The vocabulary and idf stay those of the whole training set (they use no labels)."""
    n = features.shape[0]
    n_folds = max(2, min(n_folds, n))
    fold = np.random.default_rng(seed).permutation(n) % n_folds
    scores = torch.zeros(n, targets.shape[1])
    for k in range(n_folds):
        held = np.flatnonzero(fold == k)
        kept = np.flatnonzero(fold != k)
        weight, bias = _fit_linear(_to_torch(features[kept]), targets[kept], groups, n_groups, c, init=init)
        scores[held] = torch.sparse.mm(_to_torch(features[held]), weight) + bias
    return scores
