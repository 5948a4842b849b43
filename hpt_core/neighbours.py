"""Nearest vocabulary words of the learned virtual label words (the paper's Table 4)."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from hpt_core.errors import HPTInputError
from hpt_core.model import HPTModel

# BERT vocabularies reserve "[unused12]"-style placeholder rows that were never trained: not words.
_PLACEHOLDER = re.compile(r"^\[unused\d+\]$|^<unused\d+>$")


def _excluded_token_ids(tokenizer, vocab_size: int) -> torch.Tensor:
    """Special, added and placeholder tokens: never shown as neighbours."""
    excluded = set(tokenizer.all_special_ids)
    excluded |= {int(i) for i in getattr(tokenizer, "added_tokens_decoder", {})}
    excluded |= {i for tok, i in tokenizer.get_vocab().items() if _PLACEHOLDER.match(tok)}
    excluded |= set(range(len(tokenizer), vocab_size))
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    ids = [i for i in excluded if 0 <= i < vocab_size]
    mask[ids] = True
    return mask


@torch.no_grad()
def label_word_neighbours(model: HPTModel, k: int = 8, labels: list[str] | None = None) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` vocabulary tokens closest (cosine) to each label's learned label word.

    Returns ``{label: [(token, similarity), ...]}`` best first, for ``labels`` (default: all).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise HPTInputError(f"k must be a whole number of at least 1; got {k!r}")
    if model.label_words is None:
        raise HPTInputError(f"method {model.config.method!r} has no learned label words to inspect")
    hierarchy = model.hierarchy
    labels = list(hierarchy.labels) if labels is None else list(labels)
    for label in labels:
        if label not in hierarchy:
            raise HPTInputError(f"unknown label {label!r}")
    if not labels:
        return {}
    index = torch.tensor([hierarchy.label_to_index[label] for label in labels], dtype=torch.long)
    words = F.normalize(model.label_words.detach().float().cpu()[index], dim=-1)
    vocab = F.normalize(model.mlm.get_input_embeddings().weight.detach().float().cpu(), dim=-1)
    excluded = _excluded_token_ids(model.tokenizer, vocab.shape[0])
    values, indices = [], []
    # 1,024 labels at a time: all 5,000 labels of a large tree against 30k words would be 600 MB at once.
    for start in range(0, len(labels), 1024):
        similarity = words[start : start + 1024] @ vocab.t()  # (n, V)
        similarity[:, excluded] = -2.0
        top = similarity.topk(min(k, vocab.shape[0]), dim=-1)
        values.append(top.values)
        indices.append(top.indices)
    values, indices = torch.cat(values), torch.cat(indices)
    tokens = model.tokenizer.convert_ids_to_tokens(indices.flatten().tolist())
    out = {}
    for row, label in enumerate(labels):
        out[label] = [(tokens[row * indices.shape[1] + j], float(values[row, j])) for j in range(indices.shape[1])]
    return out


def neighbours_table(model: HPTModel, k: int = 8, labels: list[str] | None = None):
    """The neighbours as a table: label, depth, parent, rank, token, similarity."""
    import pandas as pd

    rows = []
    for label, items in label_word_neighbours(model, k, labels).items():
        for rank, (token, sim) in enumerate(items, start=1):
            rows.append({"label": label, "depth": model.hierarchy.depth(label), "parent": model.hierarchy.parent(label) or "",
                         "rank": rank, "token": token, "similarity": round(sim, 4)})
    return pd.DataFrame(rows)
