"""Ridge regression in its kernel form, with exact K-fold out-of-fold scores: the lexical channel's
fast fitter (``hpt_core.lexical``, ``PipelineConfig.lexical_fit = "ridge"`` or ``"ridge-votes"``).

Why: the channel's scores of the training documents must come from channels that never saw them
(stacking), and a ridge regression's K-fold scores need no refit. With the Gram matrix
``K = X Xᵀ + 1`` (the 1: an intercept, penalised like every weight) and ``A = (K + λI)⁻¹``, the fit's
dual weights are ``α = A T`` and, for a fold F, the scores of F by the ridge fitted on the other
folds alone are exactly ``T_F − (A_FF)⁻¹ α_F`` — one Cholesky factorisation, one inverse and a small
solve per fold, against a fit per fold and per penalty for the logistic fitter. Its cost depends on
the documents (N³ at most, bounded by the run's fitting sample: 10,000 documents) and hardly on the
labels or the vocabulary, the other way round from the logistic fitter's (V × C weights).

Targets are ±1 per label (one-vs-rest), so a label's score is on the scale of a vote. The lexical
channel's scores are added to the model's and decided at 0 like HPT's, so each depth's raw scores
get one affine map ``a_d · r + b_d``, fitted on that channel's dev scores with HPT's loss (ZMLCE
per depth, eq. 10). Each fold's channel is a whole channel of its own — its dual weights
``α_r − A_rF (A_FF)⁻¹ α_F`` on the other folds, its own map from its own dev scores — so nothing of
a held-out document's label reaches its out-of-fold score, not even through the map: one map fitted
on every training document's scores would carry document i's label into document i's score.

Measured on dev of three corpora (docs/benchmarks.md, *A lexical channel in closed form*): the
channel alone scores far higher than the logistic fitter's (its 50 L-BFGS iterations stop well
short of the optimum), in a tenth of the time or less — yet the model trained beside it scored
lower on Amazon-531's dev, so it is not the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from hpt_core.losses import zmlce_loss

#: Inverse L2 strengths tried on dev: the ridge's penalty is ``||W||² / C`` on a squared loss summed
#: over the documents (λ = 1 / C). Chosen on dev of 20ng-LR, wos1k and Amazon-531 (λ = 0.01 … 1):
#: λ = 1 was never best and 0.03–0.1 always within 0.5 macro-F1 of the best.
C_GRID = (3.0, 10.0, 30.0, 100.0)


@dataclass
class RidgeFit:
    """A fitted channel: ``weight`` (V, C) on the sparse columns, ``dense_weight`` (d, C) or None on
    the dense ones, ``bias`` (C,), all with the per-depth affine map folded in, so that
    ``scores = X weight + E dense_weight + bias``; ``c`` the chosen inverse strength; ``by_c`` dev's
    figures for each; ``dev_scores`` (M, C) and ``out_of_fold`` (N, C) the calibrated scores."""

    weight: torch.Tensor
    dense_weight: torch.Tensor | None
    bias: torch.Tensor
    c: float
    by_c: dict
    dev_scores: torch.Tensor
    out_of_fold: torch.Tensor


def gram(rows, dense: torch.Tensor | None, columns, dense_columns: torch.Tensor | None) -> torch.Tensor:
    """``rows · columnsᵀ + dense · dense_columnsᵀ + 1`` (n, m) float32: the kernel between two sets of
    documents, sparse rows (scipy CSR) and their dense features (or None)."""
    product = torch.from_numpy(np.asarray((rows @ columns.T).toarray(), dtype=np.float32))
    if dense is not None:
        product += dense.float().cpu() @ dense_columns.float().cpu().T
    return product.add_(1.0)


def _depth_affine(scores: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor, n_groups: int) -> tuple:
    """(a, b) (n_groups,) minimising the ZMLCE of ``scores · a[group] + b[group]``.

    scores (N, C), targets (N, C) {0,1}, groups (C,) -> (a, b)"""
    a = torch.ones(n_groups, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_groups, dtype=torch.float64, requires_grad=True)
    scores, targets = scores.double(), targets.double()
    optimiser = torch.optim.LBFGS([a, b], max_iter=100, line_search_fn="strong_wolfe", tolerance_change=1e-12)

    def closure():
        optimiser.zero_grad()
        loss = zmlce_loss(scores * a[groups] + b[groups], targets, groups, n_groups)
        loss.backward()
        return loss

    optimiser.step(closure)
    return a.detach().float(), b.detach().float()


def fit_ridge(features, dense: torch.Tensor | None, targets: torch.Tensor, dev_features, dev_dense: torch.Tensor | None,
              dev_targets: np.ndarray, groups: torch.Tensor, n_groups: int, c_grid=C_GRID, n_folds: int = 5,
              seed: int = 0, device="cpu", active: torch.Tensor | None = None, votes: bool = False,
              on_step: Callable[[int, int, str], None] | None = None) -> RidgeFit:
    """Fit the ridge channel: C chosen on dev, then the out-of-fold scores and the per-depth map.

    features (N, V) and dev_features (M, V) scipy CSR; dense (N, d) / dev_dense (M, d) or None;
    targets (N, C) {0,1} float; dev_targets (M, C) multi-hot; groups (C,) each label's depth group.
    ``on_step(done, total, detail)`` after the kernel, each C and the folds. ``active`` (C,) bool: the
    labels fitted (those a training document has); the others are a constant "no" (raw score −1, the
    target of every document) with zero weights, and the maps are fitted on the active labels alone —
    so a tree of thousands of labels over a few hundred documents costs what its seen labels cost, and
    those decide as they would without the others. ``votes``: no map — the channel's scores are the
    ridge's own, on the ±1 scale of its targets (C is still chosen as above): a weaker prior for the
    model to add to (``lexical_fit = "ridge-votes"``).

    Each C's dev scores get the affine map that suits them best (two numbers a depth, fitted on dev),
    and C is chosen by dev macro-F1 (decided at 0) under it; ties keep the smaller C. Each fold's
    channel (the chosen C, fitted on the other folds) gets its own map the same way.
    """
    from hpt_core.metrics import macro_f1

    report = on_step or (lambda done, total, detail: None)
    total = 2 + len(c_grid)
    n = features.shape[0]
    report(0, total, f"Gram matrix of {n:,} documents")
    kernel = gram(features, dense, features, dense).to(device)
    dev_kernel = gram(dev_features, dev_dense, features, dense).to(device)
    n_labels = targets.shape[1]
    active = torch.ones(n_labels, dtype=torch.bool) if active is None else active.cpu().bool()
    columns = torch.nonzero(active).flatten()
    signed = (2 * targets.cpu()[:, columns] - 1).float().to(device)
    dev_y = torch.as_tensor(dev_targets, dtype=torch.float32)[:, columns]
    dev_targets = np.asarray(dev_targets)[:, columns.numpy()]
    all_groups, groups = groups.cpu(), groups.cpu()[columns]

    def full(raw: torch.Tensor) -> torch.Tensor:  # (n, active) -> (n, C): the others' raw score is −1
        out = torch.full((raw.shape[0], n_labels), -1.0)
        out[:, columns] = raw
        return out

    report(1, total, "Gram matrix")
    best, by_c = None, {}
    diagonal = kernel.diagonal().clone()
    for k, c in enumerate(sorted(float(c) for c in c_grid), start=1):
        kernel.diagonal().copy_(diagonal + 1.0 / c)  # K + λI without a second N × N matrix
        factor = torch.linalg.cholesky(kernel)
        dual = torch.cholesky_solve(signed, factor)
        dev_raw = (dev_kernel @ dual).cpu()
        a, b = _depth_affine(dev_raw, dev_y, groups, n_groups)
        dev_scores = dev_raw * a[groups] + b[groups]
        score = macro_f1(dev_targets, (dev_scores.numpy() > 0).astype(np.int8))
        by_c[repr(c)] = {"dev_macro_f1": round(score, 4),
                         "dev_loss": round(float(zmlce_loss(dev_scores, dev_y, groups, n_groups)), 4)}
        if best is None or score > best[0]:  # ties keep the smaller C
            best = (score, c, factor, dual, dev_raw, a, b)
        report(1 + k, total, f"C = {c:g}")
        del factor
    _, c, factor, dual, dev_raw, a, b = best
    del best, kernel  # the best factor's last other reference: freed once inverted (N × N numbers each)
    inverse = torch.cholesky_inverse(factor)
    del factor
    fold = np.random.default_rng(seed).permutation(n) % max(2, min(n_folds, n))
    out_of_fold = torch.empty(n, n_labels)
    for k in np.unique(fold):
        held = torch.from_numpy(np.flatnonzero(fold == k)).to(device)
        correction = torch.linalg.solve(inverse.index_select(0, held).index_select(1, held), dual[held])
        raw = (signed[held] - correction).cpu()  # the held-out fold scored by the channel fitted without it
        if votes:
            out_of_fold[held.cpu()] = full(raw)
            continue
        kept = torch.from_numpy(np.flatnonzero(fold != k)).to(device)
        fold_dual = dual[kept] - inverse.index_select(0, kept).index_select(1, held) @ correction
        fold_a, fold_b = _depth_affine((dev_kernel.index_select(1, kept) @ fold_dual).cpu(), dev_y, groups, n_groups)
        out_of_fold[held.cpu()] = full(raw) * fold_a[all_groups] + fold_b[all_groups]
    del inverse
    if votes:
        a, b = torch.ones_like(a), torch.zeros_like(b)
    scale, shift = a[all_groups], b[all_groups]
    dual = dual.cpu()
    weight = torch.zeros(features.shape[1], n_labels)
    weight[:, columns] = torch.from_numpy(np.asarray(features.T @ dual.numpy(), dtype=np.float32))
    dense_weight = None
    if dense is not None:
        dense_weight = torch.zeros(dense.shape[1], n_labels)
        dense_weight[:, columns] = dense.float().cpu().T @ dual
    bias = torch.full((n_labels,), -1.0)
    bias[columns] = dual.sum(0)  # the constant feature's weight: Σ α
    report(total, total, f"out-of-fold scores, C = {c:g}")
    return RidgeFit(weight=weight * scale, dense_weight=None if dense_weight is None else dense_weight * scale,
                    bias=bias * scale + shift, c=c, by_c=by_c, dev_scores=full(dev_raw) * scale + shift,
                    out_of_fold=out_of_fold)
