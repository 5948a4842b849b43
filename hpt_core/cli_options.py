"""The command line's option types and the training options every training command shares
(``train``, ``ablate``, ``low-resource``), turned into a ``RunConfig``. One concept: what the user
may type, and what it becomes; the subcommands themselves live in ``hpt_core.cli``.

Every type raises ``argparse.ArgumentTypeError`` or ``HPTInputError`` with one line naming the
option and the value, so bad input ends before any file is read.
"""

from __future__ import annotations

import argparse

from hpt_core.config import LEXICAL_FITTERS
from hpt_core.decoding import DECISIONS
from hpt_core.errors import HPTInputError
from hpt_core.inputs import require_file
from hpt_core.methods import resolve_method
from hpt_core.recipes import DEFAULT_RECIPE, RECIPES
from hpt_core.tracking import TRACKERS

#: ``--decision``'s values: a rule of ``decoding.DECISIONS``, or ``auto`` (chosen on dev).
DECISION_CHOICES = ("auto", *DECISIONS)

FORMATS = ["auto", "jsonl", "csv", "tsv", "wos", "20ng"]


def positive_fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], got {text}")
    return value


#: Seeds NumPy's and torch's generators both take (TrainConfig checks the same range).
MAX_SEED = 2**32 - 1


def seed_number(text: str) -> int:
    """A ``--seed``: checked when the command line is read, so a negative or huge one is one line
    before any file is read (NumPy would raise deep inside an import or a split)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, got {text}")
    return value


def name_list(text: str, option: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; an empty item, an empty list or a repeated item is an error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise HPTInputError(f"{option} must be a comma-separated list without empty items; got {text!r}")
    repeated = next((item for item in items if items.count(item) > 1), None)
    if repeated is not None:
        raise HPTInputError(f"{option} lists {repeated!r} twice")
    return items


def seed_list(text: str) -> list[int]:
    seeds = []
    for item in name_list(text, "--seeds"):
        try:
            seeds.append(int(item))
        except ValueError:
            raise HPTInputError(f"--seeds must be whole numbers separated by commas; {item!r} is not one") from None
    return seeds


def gate_value(text: str) -> float | str:
    """A gate value, or ``none`` (no text residual: the paper)."""
    if text.lower() in ("none", "off"):
        return "none"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'none', got {text}") from None


def add_training_options(p: argparse.ArgumentParser) -> None:
    from hpt_core.config import HPTConfig, TrainConfig

    m, t = HPTConfig(), TrainConfig()
    p.add_argument("--taxonomy", required=True, help="label tree: HiAGM TSV, parent,child CSV, label paths or JSON")
    p.add_argument("--train", required=True, help="training corpus (JSON Lines or another supported format)")
    p.add_argument("--dev", required=True, help="development corpus: model selection and early stopping")
    p.add_argument("--test", help="test corpus, evaluated once with the best model")
    p.add_argument("--descriptions", help="JSON object {label: description}; with --label-word-init description they initialise label words")
    p.add_argument("--backbone", default=m.backbone, help="'minilm' (bundled), a local folder or a hub name such as bert-base-uncased")
    p.add_argument("--max-length", type=int, default=m.max_length, help="input length in tokens (text is cut so the template fits)")
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--recipe", choices=list(RECIPES), default=DEFAULT_RECIPE,
                   help="; ".join(f"{name}: {r.description}" for name, r in RECIPES.items()).replace("%", "%%")
                        + f" (default {DEFAULT_RECIPE}). Options given explicitly override it")
    p.add_argument("--lr", type=float, default=None, help=f"backbone learning rate (paper: {t.lr})")
    p.add_argument("--new-params-lr", type=float, default=None, help="learning rate of label words, template, graph and heads (paper: same as --lr)")
    p.add_argument("--warmup-ratio", type=float, default=None, help="share of steps with a linear warm-up (paper: 0)")
    p.add_argument("--schedule", choices=["constant", "linear"], default=t.schedule, help="learning rate after warm-up")
    p.add_argument("--grad-accum", type=int, default=t.grad_accum)
    p.add_argument("--patience", type=int, default=t.patience, help="early stop after this many epochs without a better dev macro-F1")
    p.add_argument("--seed", type=seed_number, default=t.seed)
    p.add_argument("--low-resource", type=positive_fraction, default=None, help="train on a seeded sample of this fraction of train")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=t.device)
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=t.precision,
                   help="training arithmetic: bf16 autocast or fp32; auto = bf16 on a GPU or a CPU with native "
                        "bfloat16 (AVX-512 BF16 / AMX), else fp32. Reported figures are always computed in fp32")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--cpu-token-budget", type=int, default=None,
                   help="on a CPU, at most this many training tokens' worth of epochs (the small-data recipe: 2500000, "
                        "about 26 minutes of a 2-core CPU; 0: no budget, every epoch; a GPU always trains every epoch)")
    p.add_argument("--fit-documents", type=int, default=None,
                   help="fit the lexical channel and the classical blend on at most this many training documents, "
                        "a seeded sample, so their cost stops growing with the corpus (the small-data recipe: 10000; "
                        "0: every document)")
    p.add_argument("--init-from", default=None, metavar="RUN",
                   help="warm start: begin from this run's (or model folder's) trained model instead of the pretrained "
                        "backbone — same label tree and method; e.g. a few epochs after labelling more documents")
    p.add_argument("--replay", type=int, default=None, metavar="N", dest="replay_documents",
                   help="with --init-from: each epoch reads the documents that model never saw and a seeded sample of "
                        "N of those it did (a quick labelling round; the channel and blend still fit on all)")
    p.add_argument("--report-to", choices=list(TRACKERS), default=None,
                   help="also log the configuration, loss, learning rate, dev figures per epoch and final figures to "
                        "TensorBoard (event files in RUN/tracking) or MLflow (MLFLOW_TRACKING_URI, else RUN/mlruns); "
                        "needs pip install tensorboard / mlflow-skinny")
    p.add_argument("--graph-layers", type=int, default=m.graph_layers, help="K graph layers of the hierarchy injection")
    p.add_argument("--mlm-weight", type=float, default=None, help="weight of the MLM loss (default: the method's)")
    p.add_argument("--label-word-init", choices=["name", "description"], default=m.label_word_init,
                   help="initialise label words from the readable label name (the paper) or the description")
    p.add_argument("--label-word-encoding", choices=["embeddings", "encoder"], default=None,
                   help="label words from the word embeddings of their text (the paper) or the backbone's pooled encoding of it")
    p.add_argument("--text-residual-gate", type=gate_value, default=None,
                   help="add the mean text state, times a learned per-depth gate starting here, to each [PRED] "
                        "state; 'none' turns it off (the paper)")
    p.add_argument("--lexical-channel", choices=["tfidf+sentence", "tfidf", "none"], default=None,
                   help="add the scores of a linear scorer over TF-IDF features of the whole text (and, with "
                        "tfidf+sentence, the frozen backbone's sentence embedding), the model trained to complement "
                        "it (small-data default: tfidf); 'none' scores with the model alone (the paper)")
    p.add_argument("--lexical-fit", choices=list(LEXICAL_FITTERS), default=None,
                   help="how the lexical channel is fitted: ridge regression with exact out-of-fold scores in closed "
                        "form, its scores mapped per depth by HPT's loss on dev (ridge) or left on the ±1 scale of "
                        "its targets (ridge-votes), or the ZMLCE loss by L-BFGS with a refit per fold (logistic)")
    p.add_argument("--blend", choices=["classical", "none"], default=None,
                   help="after training, mix the model's scores with the classical TF-IDF + sentence-embedding "
                        "classifier's probabilities, the model's weight chosen on dev (small-data default: classical); "
                        "'none' decides on the model's scores (the paper)")
    p.add_argument("--familiarity", choices=["on", "off"], default=None,
                   help="when training ends, fit the check that warns for texts unlike every training text "
                        "(default: on; it changes no score or decision)")
    p.add_argument("--label-score-input", choices=["hidden", "mlm_transform"], default=m.label_score_input,
                   help="score label words against the [PRED] hidden state (eq. 10) or the MLM head transform of it")
    p.add_argument("--attention-dropout", type=float, default=None,
                   help="dropout on attention probabilities (default: the recipe's, else the backbone's; 0 keeps "
                        "PyTorch's fused attention, far less memory on the CPU)")
    p.add_argument("--max-windows", type=int, default=m.max_windows,
                   help="read a long text as up to this many windows of --max-length tokens, scores pooled per label "
                        "(1: the first window only, the paper)")
    p.add_argument("--window-overlap", type=int, default=m.window_overlap, help="text tokens shared by consecutive windows")
    p.add_argument("--window-pooling", choices=["max", "mean"], default=m.window_pooling,
                   help="how window scores become a document score, per label")
    p.add_argument("--decision", choices=DECISION_CHOICES, default=None,
                   help="how scores become labels: every label scoring above 0 (the paper), one best root-to-leaf "
                        "path per document, top-down complete paths (several where several children score above 0: "
                        "multi-path data), or auto: whichever is best on dev after training (small-data default)")
    p.add_argument("--batching", choices=["length_grouped", "random"], default=t.batching,
                   help="training batches of similar lengths (less padding; shuffled within mega-batches) or at random")


def model_overrides(args: argparse.Namespace) -> dict:
    """Model options given on the command line, applied on top of a method's and the recipe's."""
    overrides = {"backbone": args.backbone, "max_length": args.max_length, "graph_layers": args.graph_layers,
                 "label_word_init": args.label_word_init, "label_score_input": args.label_score_input,
                 "max_windows": args.max_windows, "window_overlap": args.window_overlap,
                 "window_pooling": args.window_pooling}
    for name in ("mlm_weight", "label_word_encoding", "text_residual_gate", "attention_dropout"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if overrides.get("text_residual_gate") == "none":
        overrides["text_residual_gate"] = None
    return overrides


def pipeline_overrides(args: argparse.Namespace) -> dict:
    """Pipeline options (``PipelineConfig``) given on the command line, applied on top of the recipe's."""
    given = {name: getattr(args, name) for name in ("lexical_channel", "lexical_fit", "blend", "decision", "familiarity")
             if getattr(args, name, None) is not None}
    return {name: value == "on" if name == "familiarity" else None if value == "none" else value
            for name, value in given.items()}


def configs_from_args(args: argparse.Namespace, method: str):
    from hpt_core.config import DataSpec, RunConfig
    from hpt_core.recipes import pipeline_recipe, train_recipe

    model = resolve_method(method, recipe=args.recipe, **model_overrides(args))
    given = {k: v for k, v in (("lr", args.lr), ("new_params_lr", args.new_params_lr), ("warmup_ratio", args.warmup_ratio))
             if v is not None}
    budget = getattr(args, "cpu_token_budget", None)
    if budget is not None:
        given["cpu_token_budget"] = budget or None  # 0: no budget
    fit_documents = getattr(args, "fit_documents", None)
    if fit_documents is not None:
        given["fit_documents"] = fit_documents or None  # 0: every document
    train = train_recipe(args.recipe, epochs=args.epochs, batch_size=args.batch_size, schedule=args.schedule,
                         grad_accum=args.grad_accum, patience=args.patience, seed=args.seed,
                         low_resource=args.low_resource, device=args.device, max_steps=args.max_steps,
                         batching=args.batching, precision=args.precision,
                         report_to=getattr(args, "report_to", None), init_from=getattr(args, "init_from", None),
                         replay_documents=getattr(args, "replay_documents", None),
                         **given)
    data = DataSpec(taxonomy=args.taxonomy, train=args.train, dev=args.dev, test=args.test, descriptions=args.descriptions)
    for path in (data.taxonomy, data.train, data.dev, data.test, data.descriptions):
        if path is not None:
            require_file(path)
    pipeline = pipeline_recipe(args.recipe, **pipeline_overrides(args))
    return RunConfig(data=data, model=model, train=train, name=method, pipeline=pipeline), data, train


def probability(value: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return number
