"""The ridge fitter of the lexical channel: closed-form out-of-fold scores that are exactly those of
refitting without each fold, and weights that give back the scores it reports."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from hpt_core.kernel_ridge import _depth_affine, fit_ridge, gram


def _problem(seed: int = 0, n: int = 120, m: int = 40, v: int = 60, labels: int = 6):
    """Sparse nonnegative rows (L2-normalised like TF-IDF), two depth groups, multi-hot targets
    that depend on the features (so the fit has something to find)."""
    rng = np.random.default_rng(seed)

    def rows(k):
        dense = rng.random((k, v)) * (rng.random((k, v)) < 0.15)
        dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-9)
        return sp.csr_matrix(dense.astype(np.float32))

    x, x_dev = rows(n), rows(m)
    mix = rng.normal(size=(v, labels))

    def targets(features):
        y = (features @ mix > 0.2).astype(np.float32)
        y[:, 0] = 1 - y[:, 1]  # depth 1: one of the first two
        return y

    groups = torch.tensor([0, 0, 1, 1, 1, 1])
    return x, x_dev, torch.from_numpy(targets(x)), targets(x_dev).astype(np.int8), groups


def test_out_of_fold_scores_are_those_of_a_refit_without_the_fold():
    """Document i's training score is what a ridge fitted without i's fold (same C, its own map from
    its own dev scores) gives it: the closed form changes the arithmetic, not the stacking."""
    x, x_dev, y, y_dev, groups = _problem()
    fit = fit_ridge(x, None, y, x_dev, None, y_dev, groups, 2, c_grid=(10.0,), n_folds=4, seed=3)
    fold = np.random.default_rng(3).permutation(x.shape[0]) % 4
    signed = 2 * y - 1
    for k in range(4):
        held, kept = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        kernel = gram(x[kept], None, x[kept], None).double()
        dual = torch.linalg.solve(kernel + torch.eye(len(kept), dtype=torch.float64) / 10.0, signed[kept].double()).float()
        raw = gram(x[held], None, x[kept], None) @ dual
        a, b = _depth_affine(gram(x_dev, None, x[kept], None) @ dual, torch.from_numpy(y_dev).float(), groups, 2)
        np.testing.assert_allclose(fit.out_of_fold[held].numpy(), (raw * a[groups] + b[groups]).numpy(),
                                   rtol=2e-3, atol=2e-3)  # float32 against float64: rounding, not a leak (≥ 0.1)


def test_the_weights_give_back_the_reported_dev_scores_and_c_is_chosen_on_dev():
    x, x_dev, y, y_dev, groups = _problem(seed=1)
    fit = fit_ridge(x, None, y, x_dev, None, y_dev, groups, 2, c_grid=(1.0, 10.0, 100.0), seed=0)
    scores = torch.from_numpy(np.asarray(x_dev @ fit.weight.numpy())) + fit.bias
    np.testing.assert_allclose(scores.numpy(), fit.dev_scores.numpy(), atol=1e-3)
    assert set(fit.by_c) == {"1.0", "10.0", "100.0"}
    assert fit.by_c[repr(fit.c)]["dev_macro_f1"] == max(f["dev_macro_f1"] for f in fit.by_c.values())
    assert fit.by_c[repr(fit.c)]["dev_macro_f1"] > 0.5  # the targets are a function of the features


def test_dense_features_join_the_kernel():
    """Sentence embeddings beside the TF-IDF rows (``tfidf+sentence``): their weights come back too."""
    x, x_dev, y, y_dev, groups = _problem(seed=2)
    rng = np.random.default_rng(0)
    e, e_dev = torch.from_numpy(rng.normal(size=(x.shape[0], 8)).astype(np.float32)), \
        torch.from_numpy(rng.normal(size=(x_dev.shape[0], 8)).astype(np.float32))
    fit = fit_ridge(x, e, y, x_dev, e_dev, y_dev, groups, 2, c_grid=(10.0,))
    assert fit.dense_weight.shape == (8, y.shape[1])
    scores = torch.from_numpy(np.asarray(x_dev @ fit.weight.numpy())) + e_dev @ fit.dense_weight + fit.bias
    np.testing.assert_allclose(scores.numpy(), fit.dev_scores.numpy(), atol=1e-3)
