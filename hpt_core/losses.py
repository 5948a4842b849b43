"""Losses: zero-bounded multi-label cross entropy (eq. 10), BCE (eq. 6), and MLM masking."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def zmlce_loss(scores: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Zero-bounded multi-label cross entropy, per label group (depth), summed over groups (eq. 10–11).

    For group m: ``log(1 + Σ_{neg} e^{s}) + log(1 + Σ_{pos} e^{-s})`` — the anchor score 0 separates
    targets (pushed above 0) from the rest (pushed below 0). Mean over the batch.

    Shapes:
        scores (B, C) float, targets (B, C) {0,1}, groups (C,) long in [0, n_groups) -> scalar
    """
    scores = scores.float()
    positive = targets.bool()
    neg_inf = torch.finfo(scores.dtype).min
    zeros = scores.new_zeros(scores.shape[0], 1)
    total = scores.new_zeros(())
    for group in range(n_groups):
        in_group = groups == group
        s = scores[:, in_group]
        pos = positive[:, in_group]
        negative_logits = torch.cat([zeros, s.masked_fill(pos, neg_inf)], dim=1)
        positive_logits = torch.cat([zeros, (-s).masked_fill(~pos, neg_inf)], dim=1)
        total = total + (torch.logsumexp(negative_logits, 1) + torch.logsumexp(positive_logits, 1)).mean()
    return total


def bce_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross entropy summed over labels (eq. 6), mean over the batch.

    Shapes:
        scores (B, C) logits, targets (B, C) {0,1} -> scalar
    """
    return F.binary_cross_entropy_with_logits(scores.float(), targets.float(), reduction="sum") / scores.shape[0]


def mask_tokens(
    input_ids: torch.Tensor,
    candidates: torch.Tensor,
    mask_token_id: int,
    vocab_size: int,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose ``probability`` of the candidate positions; of those 80 % become
    ``[MASK]``, 10 % a random token, 10 % stay.

    Shapes:
        input_ids (B, T), candidates (B, T) bool -> (masked_ids (B, T), chosen (B, T) bool)
    """
    draw = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    chosen = (draw < probability) & candidates
    action = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (action < 0.8)] = mask_token_id
    randomise = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, device=input_ids.device, generator=generator)
    masked[randomise] = random_ids[randomise]
    return masked, chosen
