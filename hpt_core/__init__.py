"""hpt_core — Hierarchy-aware Prompt Tuning (Wang et al., EMNLP 2022) as a small library.

The names below are imported lazily, so ``import hpt_core`` stays cheap (no torch) for code that
only needs hierarchies or data.
"""

from importlib import import_module

from hpt_core.errors import HPTInputError

_EXPORTS = {
    "LabelHierarchy": "hpt_core.hierarchy",
    "Document": "hpt_core.data",
    "read_corpus": "hpt_core.data",
    "load_dataset": "hpt_core.data",
    "HPTConfig": "hpt_core.config",
    "TrainConfig": "hpt_core.config",
    "DataSpec": "hpt_core.config",
    "RunConfig": "hpt_core.config",
    "resolve_method": "hpt_core.methods",
    "HPTModel": "hpt_core.model",
    "HTCClassifier": "hpt_core.classifier",
    "build_model": "hpt_core.model",
    "train": "hpt_core.training",
    "evaluate_run": "hpt_core.evaluation",
    "Predictor": "hpt_core.predict",
    "label_word_neighbours": "hpt_core.neighbours",
    "Explanation": "hpt_core.explain",
    "analyse_run": "hpt_core.error_analysis",
    "ZeroShotClassifier": "hpt_core.zero_shot",
    "ZeroShotConfig": "hpt_core.zero_shot",
    "LexicalChannel": "hpt_core.lexical",
    "fit_lexical_channel": "hpt_core.lexical",
    "ClassicalBlend": "hpt_core.blend",
    "fit_classical_blend": "hpt_core.blend",
    "blend_run": "hpt_core.training",
    "FrozenSentenceEncoder": "hpt_core.sentence",
    "embed_texts": "hpt_core.sentence",
}

__all__ = ["HPTInputError", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hpt_core' has no attribute {name!r}")
