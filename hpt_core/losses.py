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


def zmlce_loss_and_grad(scores: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor,
                        n_groups: int) -> tuple[float, torch.Tensor]:
    """``zmlce_loss`` and its gradient with respect to ``scores``, in closed form, without autograd.

    Why: the lexical channel's L-BFGS evaluates the loss about 50 times a fit over all training
    documents × labels; building and walking the autograd graph of the masked concatenations took
    about a third of each evaluation. For group m: the gradient of ``log(1 + Σ_{neg} e^{s})`` is
    ``e^{s_j} / (1 + Σ_{neg} e^{s})`` on the negatives, that of ``log(1 + Σ_{pos} e^{-s})`` is
    ``−e^{−s_j} / (1 + Σ_{pos} e^{−s})`` on the positives (both stabilised by the row's largest
    exponent, at least 0: the anchor); the mean over the batch divides both by B.

    Shapes:
        scores (B, C) float, targets (B, C) {0,1}, groups (C,) long in [0, n_groups) -> (value, grad (B, C))
    """
    scores = scores.float()
    positive = targets.bool()
    n = scores.shape[0]
    grad = torch.zeros_like(scores)
    total = 0.0
    for group in range(n_groups):
        columns = torch.nonzero(groups == group).flatten()
        if columns.numel() == 0:
            continue
        s = scores.index_select(1, columns)
        pos = positive.index_select(1, columns)
        part = torch.zeros_like(s)
        for logits, sign in ((s.masked_fill(pos, float("-inf")), 1.0), ((-s).masked_fill(~pos, float("-inf")), -1.0)):
            top = logits.amax(1, keepdim=True).clamp_min(0.0)  # the anchor e^0 is in every sum
            exp = torch.exp(logits - top)
            norm = torch.exp(-top) + exp.sum(1, keepdim=True)
            total += float((top + torch.log(norm)).sum()) / n
            part.add_(exp / norm, alpha=sign / n)
        grad.index_copy_(1, columns, part)
    return total, grad


def weighted_cross_entropy_and_grad(scores: torch.Tensor, classes: torch.Tensor,
                                    weights: torch.Tensor) -> tuple[float, torch.Tensor]:
    """The weighted mean softmax cross entropy ``Σ w_i CE(s_i, y_i) / Σ w_i`` and its gradient with
    respect to ``scores`` (softmax − one-hot, times ``w_i / Σ w``), in closed form: the classical
    blend's fit evaluates it about 50 times a fit over every training document × class.

    Shapes:
        scores (B, K) float, classes (B,) long, weights (B,) -> (value, grad (B, K))
    """
    rows = torch.arange(len(classes), device=scores.device)
    share = weights.float() / weights.float().sum()
    log_p = torch.log_softmax(scores.float(), dim=1)
    value = -float((log_p[rows, classes] * share).sum())
    grad = log_p.exp_()
    grad[rows, classes] -= 1.0
    return value, grad.mul_(share.unsqueeze(1))


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
