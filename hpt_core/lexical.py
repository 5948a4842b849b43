"""The lexical channel: label scores from sparse TF-IDF features of the whole text, added to the
model's own scores; the model is trained to complement them (stacking).

Why: a linear model over word and bigram TF-IDF features reads every word of a document, however
long, and catches what a 256-token window of a fine-tuned encoder misses — names, rare words,
bigrams, mail headers. Its errors differ from the encoder's, so the two together beat either.

What it is (``PipelineConfig.lexical_channel``: ``"tfidf"``, ``"tfidf+sentence"``; ``None``, the paper,
leaves it out):

* TF-IDF over word unigrams and bigrams of the whole text (``sublinear_tf``, ``min_df=2``, at most
  ``max_features`` columns: 262,144, fewer for large label sets so the weights stay under
  ``MAX_WEIGHTS``, 20 M numbers), fitted on the training texts;
* with ``"tfidf+sentence"`` (an option; measured below the TF-IDF channel on 20ng dev, see
  docs/benchmarks.md), also the sentence embedding of the text's
  first ``max_length`` tokens by a *frozen copy of the pretrained backbone*
  (``hpt_core.sentence``): mean-pooled, L2-normalised, side by side with the TF-IDF row — the
  features of the one-minute baseline (TF-IDF + embeddings + LR). Fine-tuning moves the model's own
  encoder away from what made those embeddings good; the frozen copy keeps them. It costs one more
  encoder forward per document when scoring, and ``sentence_encoder.safetensors`` (bfloat16, half
  the backbone's size) in the model folder;
* one linear scorer per label, fitted by one of ``FITTERS`` (``PipelineConfig.lexical_fit``):
  ``"logistic"`` (the default) — HPT's own loss, the zero-bounded multi-label cross entropy per depth (eq. 10),
  plus an L2 penalty ``||W||² / (2·C·N)`` (scikit-learn's ``C`` convention), by L-BFGS bounded at
  ``MAX_ITER`` iterations (``hpt_core.linear_fit``, shared with the classical blend), ``C`` from
  ``C_GRID``; ``"ridge"`` (session 16) — one-vs-rest ridge regression on ±1 targets in closed form
  (``hpt_core.kernel_ridge``), each depth's scores then mapped by ``a·r + b`` fitted with HPT's own
  loss on dev, so they share HPT's decision rule (score > 0); ``"ridge-votes"``, without the map.
  Either way ``C`` is chosen by the channel's own dev macro-F1;
* a document's score is ``s_model + s_lexical``. The model is trained on that sum, so it learns
  what the words alone miss. A linear model fitted on the training set scores its own training
  documents far better than new ones; trained against those scores, the model would learn little.
  So in training each document gets the *out-of-fold* lexical scores of a channel fitted on the
  other folds (``N_FOLDS``) alone, as in stacking — exactly, in closed form, for the ridge; fitted
  from zeros along the same C path as the whole-set fit for the logistic fitter — so that none of
  the held-out documents' labels leak into their scores; dev, test and prediction use the channel
  fitted on the whole training set.

The channel is saved beside the model weights (``lexical.json``: vocabulary and settings;
``lexical.safetensors``: idf, weights, bias; ``sentence_encoder.safetensors``: the frozen encoder)
and restored by ``HTCClassifier.from_pretrained`` (``hpt_core.classifier``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpt_core import kernel_ridge, tfidf
from hpt_core.config import LEXICAL_FITTERS
from hpt_core.errors import HPTInputError
from hpt_core.linear_fit import SparseRows, document_sample, fit_linear, linear_scores
from hpt_core.losses import zmlce_loss, zmlce_loss_and_grad
from hpt_core.phases import StepCallback
from hpt_core.sentence import SENTENCE_WEIGHTS, FrozenSentenceEncoder

LEXICAL_CONFIG = "lexical.json"
LEXICAL_WEIGHTS = "lexical.safetensors"
#: How the channel's linear scorer is fitted (``PipelineConfig.lexical_fit``): ``"logistic"`` (the
#: default), HPT's ZMLCE by bounded L-BFGS, a refit per fold; ``"ridge"``, one-vs-rest ridge regression
#: whose out-of-fold scores are exact in closed form (``hpt_core.kernel_ridge``, session 16): the
#: channel alone scores far higher on dev of three corpora and costs seconds instead of minutes, but
#: the model trained beside it scored lower on Amazon-531's dev, so it is not the default
#: (docs/benchmarks.md, *A lexical channel in closed form*); ``"ridge-votes"``, the ridge without its
#: per-depth map (scores on the ±1 scale of its targets: a weaker prior for the model to add to).
FITTERS = tuple(LEXICAL_FITTERS)
#: The fitters that are ``kernel_ridge``'s (they report the Gram matrix, then each C).
RIDGE_FITTERS = ("ridge", "ridge-votes")
DEFAULT_FITTER = "logistic"
#: The logistic fitter's inverse L2 strengths tried on dev (scikit-learn's ``C``, the classical
#: baseline's grid); the ridge's are ``kernel_ridge.C_GRID``.
C_GRID = (10.0, 100.0, 1000.0)
#: Folds of the out-of-fold training scores.
N_FOLDS = 5
#: L-BFGS's budget per fit: at most ``MAX_ITER`` iterations with a history of ``HISTORY`` pairs.
#: Why: each iteration costs a few passes over the (V, C) weights and the (N, C) scores, and the
#: history's 2 × ``HISTORY`` vectors of V × C numbers were most of the fit's memory and time. With
#: 200 iterations and 20 pairs (before session 8) the channel alone took 455 s on amazon531 (3,538
#: documents, 531 labels) and tens of minutes at 3,000 × 298 with other work beside it. Chosen on
#: the channel's own dev macro-F1 on three corpora (20ng-LR, wos1k, amazon531; docs/benchmarks.md
#: *Real sizes and multi-path data*, ``benchmarks/lexical_fit_budget.py``): 50 iterations with 5
#: pairs scored level with (wos1k −0.01) or above the longer fits (session 8), and the model
#: trained beside it kept its figures. Fewer is not safe: at 30 iterations and 7,532 columns the
#: channel alone scored higher on Amazon-531 dev (22.27 against 21.63), yet the model trained on
#: its out-of-fold scores fell from 0.49 to 0.32 dev macro-F1 by epoch 3 (session 9, stopped) —
#: the out-of-fold fits then started from the whole-set fit, and fewer iterations left more of what
#: that fit learnt of the held-out documents in their scores (``benchmarks/lexical_oof_leak.py``;
#: since session 11 each fold starts from zeros, ``_out_of_fold_scores``).
MAX_ITER = 50
HISTORY = 5
#: At most this many TF-IDF weights (columns × labels): ``tfidf.columns_for``.
MAX_WEIGHTS = 20_000_000
#: Documents outside a fitting sample are scored this many at a time.
SCORING_CHUNK = 4096
#: Values of ``PipelineConfig.lexical_channel`` (besides ``None``).
CHANNEL_KINDS = ("tfidf", "tfidf+sentence")


def _fit(features: SparseRows, dense: torch.Tensor | None, targets: torch.Tensor, groups: torch.Tensor,
         n_groups: int, c: float, init: tuple | None = None, max_iter: int | None = None,
         active: torch.Tensor | None = None) -> tuple:
    """Fit the channel's linear scorer at inverse L2 strength ``c`` (``linear_fit.fit_linear``):
    mean ZMLCE of the scores per depth group (HPT's loss, eq. 10) + (||W||² + ||W_e||²) / (2 C N),
    with L-BFGS bounded by ``MAX_ITER`` / ``HISTORY``.

    features (N, V), dense (N, d) or None, targets (N, C) {0,1}, groups (C,), active (C,) bool or
    None -> (weight (V, C), dense weight (d, C) or None, bias (C,))

    ``active``: the labels whose weights are fitted (those a training document has); the others
    keep zero weights and a bias alone.
    """
    targets = targets.to(features.device)
    groups = groups.to(features.device)
    weight, dense_weight, bias, _ = fit_linear(
        features, dense, None, targets.shape[1], c, n_samples=features.shape[0], init=init,
        max_iter=MAX_ITER if max_iter is None else max_iter, history=HISTORY, active=active,
        loss_and_grad=lambda scores: zmlce_loss_and_grad(scores, targets, groups, n_groups))
    return weight.cpu(), None if dense_weight is None else dense_weight.cpu(), bias.cpu()


@dataclass
class LexicalChannel:
    """A fitted lexical channel (see the module docstring).

    ``vocabulary[j]`` is the term of feature column j; ``idf`` (V,), ``weight`` (V, C), ``bias`` (C,);
    ``c`` the chosen inverse L2 strength. With sentence features, ``sentence`` is the frozen encoder
    and ``sentence_weight`` (d, C) their weights. ``documents``: how many training documents it was
    fitted on (fewer than the training set when a fitting sample bounded the fit's cost).
    """

    vocabulary: list[str]
    idf: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    c: float
    dev_by_c: dict | None = None
    sentence_weight: torch.Tensor | None = None
    sentence: FrozenSentenceEncoder | None = None
    documents: int | None = None
    fitter: str = "logistic"  # a folder saved before the ridge fitter was fitted by L-BFGS

    def __post_init__(self) -> None:
        self._vectorizer = tfidf.restore(self.vocabulary, self.idf.numpy())
        # Scores remembered for one exact list of texts (see ``remember``).
        self._remembered: tuple[tuple[str, ...], torch.Tensor] | None = None

    @property
    def kind(self) -> str:
        return "tfidf" if self.sentence is None else "tfidf+sentence"

    def features(self, texts: list[str]):
        """TF-IDF rows (N, V), scipy CSR, L2-normalised."""
        return self._vectorizer.transform(list(texts))

    def embeddings(self, texts: list[str], bf16: bool = False, progress: bool = False) -> torch.Tensor | None:
        """The frozen encoder's sentence embeddings (N, d), or None without sentence features."""
        if self.sentence is None:
            return None
        return torch.from_numpy(self.sentence.embed(list(texts), bf16=bf16, progress="lexical channel" if progress else None))

    def scores(self, texts: list[str], bf16: bool = False, progress: bool = False) -> torch.Tensor:
        """The channel's own label scores (N, C), float32 on the CPU (``bf16``: the sentence
        embeddings under bfloat16 autocast; ``progress``: a bar over the frozen encoder's batches)."""
        texts = tuple(texts)
        if not texts:
            return torch.zeros(0, self.weight.shape[1])
        remembered = self._remembered
        if remembered is not None and remembered[0] == texts:
            return remembered[1].clone()
        return linear_scores(SparseRows(self.features(list(texts))), self.embeddings(list(texts), bf16, progress),
                             self.weight, self.sentence_weight, self.bias)

    def contributions(self, text: str, label_index: int) -> tuple[list[tuple[str, float]], float, float]:
        """The channel's score of one label for ``text`` taken apart exactly (it is linear):
        ``(terms, bias, sentence)`` — each TF-IDF term of the text (a word or a two-word phrase) with
        ``tfidf(term) × weight(term, label)``, largest in absolute value first; the label's bias; the
        sentence embedding's part (0 without sentence features). They add up to ``scores([text])[0, label]``."""
        row = self.features([text]).tocsr()
        weight = self.weight[:, label_index].numpy()
        terms = [(self.vocabulary[j], float(x * weight[j])) for j, x in zip(row.indices, row.data)]
        terms.sort(key=lambda item: -abs(item[1]))
        sentence = 0.0
        if self.sentence is not None:
            sentence = float(self.embeddings([text])[0] @ self.sentence_weight[:, label_index])
        return terms, float(self.bias[label_index]), sentence

    def remember(self, texts: list[str], scores: torch.Tensor) -> None:
        """Answer ``scores(texts)`` for exactly these texts with ``scores`` (N, C) from now on: the
        fit knows the dev scores, and training scores the same dev set after every epoch (with
        sentence features, one frozen-encoder pass each time otherwise). Set once, when fitting;
        a channel loaded from a folder remembers nothing."""
        self._remembered = (tuple(texts), scores.detach().clone())

    def to(self, device) -> "LexicalChannel":
        """Put the frozen encoder (the only part that runs a network) on ``device``."""
        if self.sentence is not None:
            self.sentence.to(device)
        return self

    def summary(self) -> dict:
        """The channel's settings as saved in ``metrics.json``."""
        out = {"kind": self.kind, "fitter": self.fitter, "C": self.c, "n_features": len(self.vocabulary),
               "dev_by_C": self.dev_by_c, "fit_documents": self.documents}
        if self.sentence is not None:
            out["sentence_dim"] = self.sentence.width
            out["sentence_max_length"] = self.sentence.max_length
        return out

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        meta = {"kind": self.kind, "fitter": self.fitter, "C": self.c, "vocabulary": self.vocabulary,
                "dev_by_C": self.dev_by_c, "documents": self.documents}
        tensors = {"idf": self.idf.contiguous(), "weight": self.weight.contiguous(), "bias": self.bias.contiguous()}
        if self.sentence is not None:
            meta["sentence_max_length"] = self.sentence.max_length
            tensors["sentence_weight"] = self.sentence_weight.contiguous()
            self.sentence.save(directory)
        (directory / LEXICAL_CONFIG).write_text(json.dumps(meta), encoding="utf-8")
        save_file(tensors, str(directory / LEXICAL_WEIGHTS))

    @classmethod
    def load(cls, directory: str | Path, n_labels: int, backbone_config: dict | None = None,
             tokenizer=None) -> "LexicalChannel":
        """The channel saved in ``directory``; sentence features need the model's ``backbone_config``
        (the frozen encoder's architecture) and ``tokenizer``."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        config_path, weights_path = directory / LEXICAL_CONFIG, directory / LEXICAL_WEIGHTS
        if not config_path.is_file() or not weights_path.is_file():
            raise HPTInputError(f"not a usable model folder: the lexical channel ({LEXICAL_CONFIG}, {LEXICAL_WEIGHTS}) is missing", directory)
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
            tensors = load_file(str(weights_path))
            sentence = None
            if meta.get("kind", "tfidf") == "tfidf+sentence":
                if not (directory / SENTENCE_WEIGHTS).is_file():
                    raise HPTInputError(f"not a usable model folder: the lexical channel's frozen encoder ({SENTENCE_WEIGHTS}) is missing", directory)
                if backbone_config is None or tokenizer is None:  # the caller's mistake, not the folder's
                    raise HPTInputError("LexicalChannel.load: sentence features need backbone_config and tokenizer")
                sentence = FrozenSentenceEncoder.load(directory, backbone_config, tokenizer, int(meta["sentence_max_length"]))
            elif meta.get("kind", "tfidf") != "tfidf":
                raise ValueError(f"unknown channel kind {meta.get('kind')!r}")
            channel = cls(vocabulary=list(meta["vocabulary"]), idf=tensors["idf"], weight=tensors["weight"],
                          bias=tensors["bias"], c=float(meta["C"]), dev_by_c=meta.get("dev_by_C"),
                          sentence_weight=tensors.get("sentence_weight"), sentence=sentence,
                          documents=meta.get("documents"), fitter=str(meta.get("fitter", "logistic")))
        except HPTInputError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, SafetensorError, RuntimeError, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise HPTInputError(f"not a usable model folder: broken lexical channel ({type(err).__name__}: {first})", directory) from None
        v = len(channel.vocabulary)
        shapes_ok = channel.idf.shape == (v,) and channel.weight.shape == (v, n_labels) and channel.bias.shape == (n_labels,)
        if sentence is not None:
            shapes_ok = shapes_ok and channel.sentence_weight is not None \
                and tuple(channel.sentence_weight.shape) == (sentence.width, n_labels)
        if not shapes_ok:
            raise HPTInputError("not a usable model folder: the lexical channel does not match the label tree", directory)
        return channel


def _scores_on_cpu(features: SparseRows, dense: torch.Tensor | None, weight: torch.Tensor,
                   dense_weight: torch.Tensor | None, bias: torch.Tensor) -> torch.Tensor:
    """The fitted scorer's scores (N, C) on the CPU, computed where ``features`` live."""
    device = features.device
    with torch.no_grad():
        return linear_scores(features, dense, weight.to(device), None if dense_weight is None else dense_weight.to(device),
                             bias.to(device)).cpu()


def fit_lexical_channel(texts: list[str], targets: np.ndarray, groups: np.ndarray, dev_texts: list[str],
                        dev_targets: np.ndarray, c_grid=None, max_features: int | None = None,
                        n_folds: int = N_FOLDS, seed: int = 0, sentence: FrozenSentenceEncoder | None = None,
                        bf16: bool = False, on_step: StepCallback | None = None,
                        device="cpu", max_documents: int | None = None,
                        fitter: str = DEFAULT_FITTER) -> tuple[LexicalChannel, torch.Tensor]:
    """Fit the channel on the training texts (C chosen on dev) and the out-of-fold training scores.

    ``fitter`` (``FITTERS``): ``"ridge"`` — one-vs-rest ridge regression in closed form, its
    out-of-fold scores exact without a refit (``hpt_core.kernel_ridge``); ``"logistic"`` — HPT's ZMLCE
    by bounded L-BFGS, each fold refitted (sessions 8–15). ``c_grid``: the inverse L2 strengths tried
    (default: the fitter's).

    targets (N, C) and dev_targets (M, C) multi-hot; groups (C,) the depth group (0-based) of each
    label — each group is one ZMLCE term, as in HPT's loss. ``sentence``: add the sentence features
    of this frozen encoder (``bf16``: embed under bfloat16 autocast). ``on_step(done, total, detail)``
    is called after the grid's fits and after each fold (and once with 0 before the first).
    ``device``: where the fits run (the training device: a GPU when there is one); the channel
    returned is on the CPU either way.

    ``max_documents``: above this many training documents the channel (its vocabulary, C and
    weights) is fitted on a seeded sample of that many (``linear_fit.document_sample``, drawn with
    ``seed``), so that its cost stops growing with the corpus; the other documents' training scores
    are then the sampled channel's — scores of documents it never saw, as honest as out-of-fold ones.

    Returns the channel and the out-of-fold scores (N, C): document i's scores from a channel with
    the chosen C fitted on the folds without i alone (one fold per document, drawn with ``seed``), or for
    a document outside the sample, from the channel itself.
    """
    if fitter not in FITTERS:
        raise HPTInputError(f"lexical_fit must be one of {', '.join(FITTERS)}; got {fitter!r}")
    all_texts, all_targets = texts, targets
    sample = document_sample(len(texts), max_documents, seed)
    if sample is not None:
        texts, targets = [texts[i] for i in sample], targets[sample]
    n_labels = targets.shape[1]
    vectorizer, train_features = tfidf.fit(texts, tfidf.columns_for(n_labels, MAX_WEIGHTS)
                                           if max_features is None else max_features)
    vocabulary = tfidf.vocabulary_of(vectorizer)
    y = torch.as_tensor(targets, dtype=torch.float32)
    group_index = torch.as_tensor(groups, dtype=torch.long)
    n_groups = int(group_index.max()) + 1 if len(group_index) else 1
    dev_features = vectorizer.transform(list(dev_texts))
    n_folds = max(2, min(n_folds, len(texts)))
    e = e_dev = None
    if sentence is not None:
        e = torch.from_numpy(sentence.embed(list(texts), bf16=bf16)).to(device)
        e_dev = torch.from_numpy(sentence.embed(list(dev_texts), bf16=bf16)).to(device)

    seen = torch.as_tensor(targets).bool().any(0)  # labels with a training document
    report = on_step or (lambda done, total, detail: None)
    sampled = "" if sample is None else f" on a sample of {len(texts):,} of {len(all_texts):,} training documents"
    if fitter in RIDGE_FITTERS:
        first = f"{len(vocabulary):,} TF-IDF features × {int(seen.sum()):,} labels, ridge over {len(texts):,} documents{sampled}"
        fit = kernel_ridge.fit_ridge(train_features, e, y, dev_features, e_dev, dev_targets, group_index, n_groups,
                                     c_grid=c_grid or kernel_ridge.C_GRID, n_folds=n_folds, seed=seed, device=device,
                                     active=seen, votes=fitter == "ridge-votes",
                                     on_step=lambda done, total, detail: report(
                                         done, total, first if done == 0 else f"ridge: {detail}"))
        weight, dense_weight, bias, c, by_c, folds = fit.weight, fit.dense_weight, fit.bias, fit.c, fit.by_c, fit.out_of_fold
        dev_scores = fit.dev_scores
    else:
        weight, dense_weight, bias, c, by_c, dev_scores, folds = _fit_logistic(
            SparseRows(train_features, device), e, y, group_index, n_groups, SparseRows(dev_features, device), e_dev, dev_targets, c_grid or C_GRID, n_folds, seed, seen, report,
            f"{len(vocabulary):,} TF-IDF features × {int(seen.sum()):,} labels, {{total}} fits{sampled}")
    channel = LexicalChannel(vocabulary=vocabulary, idf=torch.as_tensor(vectorizer.idf_, dtype=torch.float32),
                             weight=weight, bias=bias, c=c, dev_by_c=by_c, sentence_weight=dense_weight,
                             sentence=sentence, documents=len(texts), fitter=fitter)
    # the dev scores are known: training's dev evaluations need not embed (or vectorise) dev again
    channel.remember(dev_texts, dev_scores)
    if sample is None:
        return channel, folds
    scores = torch.zeros(len(all_texts), all_targets.shape[1])
    scores[torch.from_numpy(sample)] = folds
    rest = np.setdiff1d(np.arange(len(all_texts)), sample)
    for start in range(0, len(rest), SCORING_CHUNK):  # chunks: the sentence encoder's memory, the CSR's
        part = rest[start:start + SCORING_CHUNK]
        part_texts = [all_texts[i] for i in part]
        e_part = None if sentence is None else torch.from_numpy(sentence.embed(part_texts, bf16=bf16)).to(device)
        scores[torch.from_numpy(part)] = _scores_on_cpu(SparseRows(vectorizer.transform(part_texts), device), e_part,
                                                        weight, dense_weight, bias)
    return channel, scores


def _fit_logistic(x: SparseRows, e, y: torch.Tensor, group_index: torch.Tensor, n_groups: int, x_dev: SparseRows, e_dev,
                  dev_targets: np.ndarray, c_grid, n_folds: int, seed: int, seen: torch.Tensor, report, first_line: str):
    """The logistic fitter (``lexical_fit = "logistic"``, sessions 8–15): ZMLCE by bounded L-BFGS for
    each C of the grid, each fit from the last; C chosen by the channel's own dev macro-F1; then each
    fold fitted from zeros along the same C path (``_out_of_fold_scores``).

    -> (weight (V, C), dense weight (d, C) or None, bias (C,), C, dev figures by C, dev scores (M, C),
    out-of-fold scores (N, C))"""
    from hpt_core.metrics import macro_f1

    best, by_c, fitted = None, {}, None
    dev_y = torch.as_tensor(dev_targets, dtype=torch.float32)
    total = len(c_grid) * (1 + n_folds)  # at most (each fold follows the grid up to the chosen C): known once C is
    report(0, total, first_line.format(total=total))
    for k, c in enumerate(sorted(float(c) for c in c_grid), start=1):  # increasing C: each fit starts from the last
        fitted = _fit(x, e, y, group_index, n_groups, c, init=fitted, active=seen)
        report(k, total, f"fit {k} of {total}: C = {c:g}")
        dev_scores = _scores_on_cpu(x_dev, e_dev, *fitted)
        score = macro_f1(dev_targets, (dev_scores.numpy() > 0).astype(np.int8))
        by_c[repr(c)] = {"dev_macro_f1": round(score, 4),
                         "dev_loss": round(float(zmlce_loss(dev_scores, dev_y, group_index, n_groups)), 4)}
        if best is None or score > best[0]:  # ties keep the smaller C
            best = (score, c, fitted)
    _, c, (weight, dense_weight, bias) = best
    dev_scores = _scores_on_cpu(x_dev, e_dev, weight, dense_weight, bias)
    done = len(c_grid)
    c_path = [value for value in sorted(float(v) for v in c_grid) if value <= c]
    total = done + n_folds * len(c_path)

    def fold_done(k: int, j: int) -> None:  # fold k's j-th fit of its C path
        fits = done + (k - 1) * len(c_path) + j
        report(fits, total, f"fit {fits} of {total}: out-of-fold scores, fold {k} of {n_folds}"
               + (f", C = {c_path[j - 1]:g}" if len(c_path) > 1 else ""))

    folds = _out_of_fold_scores(x, e, y, group_index, n_groups, c_path, n_folds, seed, seen, on_fit=fold_done)
    return weight, dense_weight, bias, c, by_c, dev_scores, folds


def _out_of_fold_scores(features: SparseRows, dense: torch.Tensor | None, targets: torch.Tensor, groups: torch.Tensor,
                        n_groups: int, c_path: list[float], n_folds: int, seed: int,
                        active: torch.Tensor | None = None, on_fit=None) -> torch.Tensor:
    """Scores (N, C) of each training document from a channel fitted without its fold.

    Each fold's channel follows the whole-set fit's path — from zeros, each C of ``c_path`` (the
    grid up to the chosen C) starting from the last — on the other folds alone, so it is fitted as
    the channel that scores dev and test was, and nothing of the held-out fold reaches its scores.
    Why not start from the whole-set fit (sessions 8–10): that fit has seen the held-out fold, and
    with a bounded budget what it learnt of those documents stays in their "out-of-fold" scores —
    flipping 50 documents' labels moved their scores 8× more with that start than without
    (``benchmarks/lexical_oof_leak.py``), so the model learnt to trust a channel more than it
    deserves on new documents.

    The vocabulary and idf stay those of the whole training set (they use no labels), and so do the
    labels whose weights are fitted (``active``, see ``_fit``). ``on_fit(k, j)`` after fold k's j-th fit."""
    n = features.shape[0]
    n_folds = max(2, min(n_folds, n))
    fold = np.random.default_rng(seed).permutation(n) % n_folds
    scores = torch.zeros(n, targets.shape[1])
    for k in range(n_folds):
        held = torch.from_numpy(np.flatnonzero(fold == k))
        kept = torch.from_numpy(np.flatnonzero(fold != k))
        part = (lambda rows: None if dense is None else dense[rows.to(dense.device)])
        kept_features, kept_dense, kept_targets = features.rows(kept.numpy()), part(kept), targets[kept]
        fitted = None
        for j, c in enumerate(c_path, start=1):
            fitted = _fit(kept_features, kept_dense, kept_targets, groups, n_groups, c, init=fitted, active=active)
            if on_fit is not None:
                on_fit(k + 1, j)
        scores[held] = _scores_on_cpu(features.rows(held.numpy()), part(held), *fitted)
    return scores
