"""Recipes: named sets of defaults over the configurations of ``hpt_core.config`` — ``"paper"``,
the paper's settings unchanged, and ``"small-data"``, the default, for a few hundred to tens of
thousands of documents on a CPU budget. A recipe is one option (``--recipe``, the Train page): it
sets the training's, the model's and the pipeline's defaults, which any single option overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpt_core.config import HPTConfig, PipelineConfig, TrainConfig
from hpt_core.errors import HPTInputError

#: ``HPTConfig`` options that exist only for methods scoring with label words.
LABEL_WORD_OPTIONS = frozenset({"label_word_init", "label_word_encoding", "text_residual_gate", "label_score_input"})


@dataclass(frozen=True)
class Recipe:
    """A named set of defaults: ``train`` overrides ``TrainConfig``'s (the paper's); ``model`` overrides
    ``HPTConfig``'s options — label-word options (``LABEL_WORD_OPTIONS``) apply only to methods
    that score with label words (vanilla fine-tuning and the hard prompt have none), the others to
    every method; ``pipeline`` overrides ``PipelineConfig``'s (every method)."""

    description: str
    train: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)


#: ``"paper"``: the paper's settings, unchanged. ``"small-data"``: a few hundred to a few thousand
#: documents on a CPU budget (issue 4, measured in docs/benchmarks.md). With the paper's 3e-5 for
#: every parameter, label words and biases barely move in a few hundred steps; here the parameters
#: HPT adds learn at 1e-3 and the encoder at 1e-4 after a 5 % warm-up, label words start from the
#: bundled sentence encoder's pooled encoding of their names, each [PRED] state gets the mean
#: text state through a learned gate, a TF-IDF lexical channel over the whole text adds its
#: scores to the model's (issue 8; see ``HPTConfig`` and ``hpt_core.lexical``), the trained
#: model's scores are blended with the classical classifier's (``hpt_core.blend``), and attention
#: probabilities get no dropout, which keeps PyTorch's fused attention kernel on the CPU (half the
#: memory of training at 512 tokens).
RECIPES: dict[str, Recipe] = {
    "paper": Recipe("the paper: Adam 3e-5 for every parameter, constant; label words from word embeddings"),
    "small-data": Recipe(
        "new parameters at 1e-3, encoder at 1e-4, 5% warm-up; label words from the encoder; "
        "gated mean text state added to each [PRED]; TF-IDF lexical channel added to the scores; "
        "decision rule (thresholds or one path) chosen on dev; "
        "blended after training with the classical TF-IDF + embeddings classifier (weight chosen on dev); "
        "no attention dropout (fused attention); on a CPU at most 2.5 M tokens' worth of epochs (about 26 min); "
        "the channel and the blend fitted on at most 10,000 training documents",
        train={"lr": 1e-4, "new_params_lr": 1e-3, "warmup_ratio": 0.05, "cpu_token_budget": 2_500_000,
               "fit_documents": 10_000},
        model={"label_word_encoding": "encoder", "text_residual_gate": 3.0, "attention_dropout": 0.0},
        pipeline={"lexical_channel": "tfidf", "decision": "auto", "blend": "classical"},
    ),
}
DEFAULT_RECIPE = "small-data"


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise HPTInputError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def train_recipe(name: str, **overrides: Any) -> TrainConfig:
    """A ``TrainConfig`` from a named recipe, with further overrides."""
    return TrainConfig(**{**_recipe(name).train, **overrides})


def pipeline_recipe(name: str | None, **overrides: Any) -> PipelineConfig:
    """A ``PipelineConfig`` from a named recipe (``None``: none, the paper's), with further overrides."""
    return PipelineConfig(**{**(_recipe(name).pipeline if name else {}), **overrides})


def recipe_model_options(name: str, base: dict[str, Any]) -> dict[str, Any]:
    """The recipe's model options that apply to a method whose ``HPTConfig`` overrides are ``base``."""
    label_words = base.get("scorer", HPTConfig.scorer) == "label_words"
    return {k: v for k, v in _recipe(name).model.items() if label_words or k not in LABEL_WORD_OPTIONS}
