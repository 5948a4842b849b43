"""The prompt template: which slots follow the text, and turning texts into padded batches.

HPT's template is ``[CLS] x [SEP] [V1][PRED] … [VL][PRED] [SEP]``. A layout is a list of slots:
``("template", i)`` — the i-th learned template vector (its embedding is replaced in the model),
``("pred", g)`` — a prediction slot scoring label group g, ``("word", token_id)`` — a fixed word
(hard prompt). Batches are padded to their longest member only (dynamic padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hpt_core.config import HPTConfig


@dataclass(frozen=True)
class TemplateLayout:
    slots: tuple[tuple[str, int], ...]
    n_template: int
    n_pred: int

    @property
    def uses_cls(self) -> bool:
        """Vanilla fine-tuning: no template, the [CLS] state is scored."""
        return self.n_pred == 0


def build_layout(config: HPTConfig, max_depth: int, tokenizer) -> TemplateLayout:
    slots: list[tuple[str, int]] = []
    if config.prompt == "depth":
        for depth in range(max_depth):
            slots.append(("template", depth))
            if config.hierarchy_constraint:
                slots.append(("pred", depth))
        if not config.hierarchy_constraint:
            slots.append(("pred", 0))
    elif config.prompt == "soft":
        slots = [("template", i) for i in range(config.n_soft_tokens)] + [("pred", 0)]
    elif config.prompt == "hard":
        words = tokenizer(config.hard_template, add_special_tokens=False)["input_ids"]
        slots = [("word", int(t)) for t in words] + [("pred", 0)]
    n_template = sum(kind == "template" for kind, _ in slots)
    n_pred = sum(kind == "pred" for kind, _ in slots)
    return TemplateLayout(tuple(slots), n_template, n_pred)


def check_input_length(layout: TemplateLayout, max_length: int, max_positions: int | None, max_depth: int) -> None:
    """Reject a ``max_length`` the backbone cannot read, or one that leaves no room for the text.

    The input is ``[CLS] x [SEP]`` plus the template slots and a closing ``[SEP]``; at least one
    text token must fit, and the whole must fit the backbone's position embeddings.
    """
    from hpt_core.errors import HPTInputError

    template = len(layout.slots) + 1 if layout.slots else 0
    needed = 2 + 1 + template
    if max_positions is not None and needed > max_positions:
        raise HPTInputError(
            f"the taxonomy is too deep for this backbone: its depth-{max_depth} template takes {template} tokens, "
            f"and with [CLS], one text token and [SEP] that is {needed}, more than the backbone's {max_positions} positions"
        )
    if max_positions is not None and max_length > max_positions:
        raise HPTInputError(f"max_length {max_length} exceeds the backbone's {max_positions} positions")
    if max_length < needed:
        raise HPTInputError(
            f"max_length {max_length} leaves no room for the text: the template takes {template} tokens "
            f"(depth {max_depth}), so at least {needed} are needed"
        )


def text_budget(layout: TemplateLayout, max_length: int) -> int:
    """Text tokens that fit one window: ``max_length`` minus ``[CLS]``, ``[SEP]`` and the template."""
    return max(max_length - 2 - (len(layout.slots) + 1 if layout.slots else 0), 1)


def tokenize_texts(tokenizer, texts: list[str], layout: TemplateLayout, max_length: int) -> list[list[int]]:
    """Word-piece ids of each text, truncated so that ``[CLS] x [SEP] template [SEP]`` fits ``max_length``."""
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=text_budget(layout, max_length))
    return [list(ids) for ids in encoded["input_ids"]]


def window_starts(n_tokens: int, budget: int, max_windows: int, overlap: int) -> list[int]:
    """Where each window of a text of ``n_tokens`` starts: every ``budget - overlap`` tokens, at most
    ``max_windows``, and a window only when it reads tokens the previous one did not.

    >>> window_starts(10, budget=4, max_windows=5, overlap=1)
    [0, 3, 6]
    >>> window_starts(10, budget=4, max_windows=2, overlap=1), window_starts(3, budget=4, max_windows=5, overlap=1)
    ([0, 3], [0])
    """
    stride = max(budget - overlap, 1)
    starts = [0]
    while len(starts) < max_windows and starts[-1] + budget < n_tokens:
        starts.append(starts[-1] + stride)
    return starts


def tokenize_windows(tokenizer, texts: list[str], layout: TemplateLayout, max_length: int, max_windows: int = 1,
                     overlap: int = 0, chunk: int = 256) -> tuple[list[list[list[int]]], list[int], list[int]]:
    """Each text as windows of word-piece ids, each window fitting ``[CLS] x [SEP] template [SEP]``.

    With ``max_windows=1`` the one window is exactly ``tokenize_texts``' truncation. Texts are
    tokenised ``chunk`` at a time so that the tokenizer's per-token records of a large corpus never
    exist all at once.

    Returns:
        windows: per text, its windows (lists of ids; at least one, possibly empty).
        n_tokens: per text, its whole length in word pieces.
        n_read: per text, how many of those its windows read (the rest lies beyond the last window).
    """
    budget = text_budget(layout, max_length)
    windows: list[list[list[int]]] = []
    n_tokens: list[int] = []
    n_read: list[int] = []
    for start in range(0, len(texts), chunk):
        ids_of = tokenizer(list(texts[start : start + chunk]), add_special_tokens=False, return_attention_mask=False,
                           return_token_type_ids=False, verbose=False)["input_ids"]
        for ids in ids_of:
            starts = window_starts(len(ids), budget, max_windows, overlap)
            n_tokens.append(len(ids))
            n_read.append(min(len(ids), starts[-1] + budget))
            windows.append([list(ids[s : s + budget]) for s in starts])
    return windows, n_tokens, n_read


def collate(token_ids: list[list[int]], layout: TemplateLayout, tokenizer) -> dict[str, torch.Tensor]:
    """Assemble a padded batch.

    Returns:
        input_ids (B, T): template slots hold ``[MASK]`` (pred) or ``[PAD]`` (template vector);
            their embeddings are replaced in the model.
        attention_mask (B, T), token_type_ids (B, T)
        text_mask (B, T) bool: positions of text tokens (the only ones the MLM loss may mask).
        template_positions (B, n_template), pred_positions (B, n_pred or 1): indices into T.
    """
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    mask_id = tokenizer.mask_token_id
    rows, text_masks, template_pos, pred_pos = [], [], [], []
    for ids in token_ids:
        row = [cls_id, *ids, sep_id]
        text = [False] + [True] * len(ids) + [False]
        tpos, ppos = [], []
        for kind, value in layout.slots:
            if kind == "template":
                tpos.append(len(row))
                row.append(pad_id)
            elif kind == "pred":
                ppos.append(len(row))
                row.append(mask_id)
            else:
                row.append(value)
            text.append(False)
        if layout.slots:
            row.append(sep_id)
            text.append(False)
        rows.append(row)
        text_masks.append(text)
        template_pos.append(tpos)
        pred_pos.append(ppos if not layout.uses_cls else [0])
    length = max(len(r) for r in rows)
    batch = len(rows)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)
    attention = torch.zeros((batch, length), dtype=torch.long)
    text_mask = torch.zeros((batch, length), dtype=torch.bool)
    for i, (row, text) in enumerate(zip(rows, text_masks)):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention[i, : len(row)] = 1
        text_mask[i, : len(text)] = torch.tensor(text)
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "token_type_ids": torch.zeros_like(input_ids),
        "text_mask": text_mask,
        "template_positions": torch.tensor(template_pos, dtype=torch.long).reshape(batch, layout.n_template),
        "pred_positions": torch.tensor(pred_pos, dtype=torch.long),
    }


def collate_windows(windows: list[list[list[int]]], layout: TemplateLayout, tokenizer) -> dict[str, torch.Tensor]:
    """Every window of every document in one batch (``collate``'s keys, one row per window), plus
    ``document_index`` (W,) long: the document (0..B-1) each window belongs to, for pooling."""
    flat = [w for doc in windows for w in doc]
    batch = collate(flat, layout, tokenizer)
    batch["document_index"] = torch.tensor([d for d, doc in enumerate(windows) for _ in doc], dtype=torch.long)
    return batch
