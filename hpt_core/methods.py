"""Named methods: HPT, the rows of the paper's ablation table (Table 3) and the baselines (Table 1).

Each entry is a set of overrides of ``HPTConfig`` — never a copy of the model or the loop.
``resolve_method("rm-injection", backbone=...)`` gives the config of that row.
"""

from __future__ import annotations

from typing import Any

from hpt_core.config import PIPELINE_FIELDS, HPTConfig
from hpt_core.errors import HPTInputError
from hpt_core.recipes import recipe_model_options

#: name -> (one-line description, overrides of HPTConfig)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "hpt": ("HPT: depth prompt, GAT hierarchy injection, ZMLCE + MLM loss", {}),
    "rm-constraint": (
        "r.m. hierarchy constraint: one [PRED] scores every label",
        {"hierarchy_constraint": False},
    ),
    "rm-injection": ("r.m. hierarchy injection: template tokens without the graph", {"injection": "none"}),
    "rm-zmlce": ("r.m. ZMLCE loss: binary cross entropy instead", {"classification_loss": "bce"}),
    "rm-mlm": ("r.m. MLM loss", {"mlm_weight": 0.0}),
    "depth-increasing": (
        "with depth increasing connection: t_i joins the labels of depths 1..i",
        {"connection": "depth_increasing"},
    ),
    "random-connection": (
        "with random connection: each label also joins one random virtual node",
        {"connection": "random"},
    ),
    "gcn": ("HPT with GCN instead of GAT layers", {"injection": "gcn"}),
    "vanilla": (
        "vanilla fine-tuning: [CLS] + linear + BCE",
        {"prompt": "none", "scorer": "linear", "injection": "none", "classification_loss": "bce", "mlm_weight": 0.0},
    ),
    "hard-prompt": (
        "hard prompt: 'the text is about [MASK]', verbalizer = head word of the label name, BCE",
        {"prompt": "hard", "scorer": "vocab", "injection": "none", "hierarchy_constraint": False,
         "classification_loss": "bce", "mlm_weight": 0.0},
    ),
    "soft-prompt": (
        "soft prompt: 8 learned template tokens + [MASK], learned label embeddings, BCE",
        {"prompt": "soft", "injection": "none", "hierarchy_constraint": False,
         "classification_loss": "bce", "mlm_weight": 0.0},
    ),
}

#: The ablation rows of Table 3, in the paper's order.
ABLATIONS = ["hpt", "rm-constraint", "rm-injection", "rm-zmlce", "rm-mlm", "depth-increasing", "random-connection"]
BASELINES = ["vanilla", "hard-prompt", "soft-prompt"]


def resolve_method(name: str, recipe: str | None = None, **overrides: Any) -> HPTConfig:
    """The ``HPTConfig`` of a named method.

    Layers, later winning: the method's overrides, the model options of ``recipe`` (those that
    apply to the method; ``None`` = none, the paper's), then ``overrides`` (e.g. ``backbone``).
    """
    if name not in METHODS:
        raise HPTInputError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    misplaced = sorted(set(overrides) & set(PIPELINE_FIELDS))
    if misplaced:
        raise HPTInputError(f"{', '.join(misplaced)}: a setting of what is built on the model (PipelineConfig, "
                            "recipes.pipeline_recipe), not of the model")
    method = METHODS[name][1]
    from_recipe = recipe_model_options(recipe, method) if recipe else {}
    return HPTConfig(**{**method, **from_recipe, **overrides, "method": name})


def applicable_overrides(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` less those that would undo what defines the method ``name``.

    A method that removes the MLM loss by definition (``rm-mlm``, the baselines) keeps weight 0
    when a comparison sets ``mlm_weight`` for the others, so its row still means what it says.
    """
    if METHODS[name][1].get("mlm_weight") == 0.0:
        return {k: v for k, v in overrides.items() if k != "mlm_weight"}
    return dict(overrides)


def has_label_words(name: str) -> bool:
    """Whether the method scores with virtual label words (so label-word options apply to it)."""
    return METHODS[name][1].get("scorer", HPTConfig.scorer) == "label_words"


def describe(name: str) -> str:
    return METHODS[name][0]
