"""The shared fitter of the lexical channel and the classical blend (hpt_core.linear_fit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse

from hpt_core.linear_fit import SparseRows, fit_linear, linear_scores


def _problem(n=60, v=40, d=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    x = sparse.random(n, v, density=0.2, format="csr", random_state=seed, dtype=np.float32)
    dense = torch.from_numpy(rng.normal(size=(n, d)).astype(np.float32))
    true = rng.normal(size=(v, k)).astype(np.float32)
    y = torch.from_numpy((x @ true).argmax(1).astype(np.int64))
    return x, dense, y


def test_sparse_product_and_its_gradient_match_the_dense_ones():
    x, dense, _ = _problem()
    weight = torch.randn(x.shape[1], 4, requires_grad=True)
    reference = weight.detach().clone().requires_grad_(True)
    features = SparseRows(x)
    (features.matmul(weight) ** 2).sum().backward()
    (torch.from_numpy(x.toarray()) @ reference).pow(2).sum().backward()
    assert torch.allclose(weight.grad, reference.grad, atol=1e-4)
    # rows picked (repeats allowed) are those rows, in that order
    picked = features.rows(np.array([3, 3, 0]))
    assert torch.allclose(picked.matmul(weight.detach()), features.matmul(weight.detach())[[3, 3, 0]])


def test_the_fit_reaches_scikit_learns_optimum_and_respects_its_budget():
    """Same objective as scikit-learn's multinomial LogisticRegression (C convention, bias not
    penalised): the same dev decisions; and a fit never runs past ``max_iter`` iterations."""
    from sklearn.linear_model import LogisticRegression
    import torch.nn.functional as F

    x, _, y = _problem(n=120, v=30)
    features = SparseRows(x)
    n = x.shape[0]
    weight, dense_weight, bias, iterations = fit_linear(
        features, None, lambda s: F.cross_entropy(s, y), 4, c=10.0, n_samples=n, max_iter=200, history=10)
    assert dense_weight is None and iterations <= 200
    ours = linear_scores(features, None, weight, None, bias).argmax(1).numpy()
    theirs = LogisticRegression(C=10.0, max_iter=5000, tol=1e-8).fit(x, y.numpy())
    assert (ours == theirs.predict(x)).mean() > 0.97
    assert np.allclose(weight.T.numpy(), theirs.coef_ - theirs.coef_.mean(0) + weight.T.numpy().mean(0), atol=0.05)
    _, _, _, few = fit_linear(features, None, lambda s: F.cross_entropy(s, y), 4, c=1e6, n_samples=n, max_iter=3)
    assert few <= 3


def test_inactive_outputs_keep_zero_weights_and_learn_their_bias():
    x, dense, y = _problem()
    features = SparseRows(x)
    targets = torch.nn.functional.one_hot(y, 4).float()
    active = torch.tensor([True, True, True, False])
    loss = lambda s: torch.nn.functional.binary_cross_entropy_with_logits(s, targets)  # noqa: E731
    weight, dense_weight, bias, _ = fit_linear(features, dense, loss, 4, c=10.0, n_samples=x.shape[0], active=active)
    assert weight[:, 3].abs().max() == 0 and dense_weight[:, 3].abs().max() == 0
    assert weight[:, :3].abs().max() > 0 and bias[3] != 0


def test_a_warm_start_continues_where_the_last_fit_stopped():
    import torch.nn.functional as F

    x, dense, y = _problem(n=100)
    features = SparseRows(x)
    loss = lambda s: F.cross_entropy(s, y)  # noqa: E731
    cold = fit_linear(features, dense, loss, 4, c=10.0, n_samples=100, max_iter=100, history=10)
    warm = fit_linear(features, dense, loss, 4, c=10.0, n_samples=100, init=cold[:3], max_iter=100, history=10)
    assert warm[3] < cold[3]  # already at the optimum: few iterations
    assert torch.allclose(warm[0], cold[0], atol=1e-2)


@pytest.mark.parametrize("k", [2, 5])
def test_scores_have_the_documented_shapes(k):
    x, dense, _ = _problem(k=k)
    out = linear_scores(SparseRows(x), dense, torch.zeros(x.shape[1], k), torch.zeros(3, k), torch.ones(k))
    assert out.shape == (x.shape[0], k) and torch.all(out == 1)


def test_a_document_sample_is_seeded_sorted_and_only_taken_above_the_limit():
    from hpt_core.linear_fit import document_sample

    assert document_sample(100, None, 0) is None and document_sample(100, 100, 0) is None
    sample = document_sample(100, 30, 7)
    assert len(sample) == len(set(sample.tolist())) == 30 and (np.diff(sample) > 0).all()
    assert sample.min() >= 0 and sample.max() < 100
    np.testing.assert_array_equal(sample, document_sample(100, 30, 7))
    assert not np.array_equal(sample, document_sample(100, 30, 8))


def test_the_fit_matches_autograd_through_torchs_lbfgs():
    """The fitter writes the gradient itself (Xᵀ G + 2λW, E ᵀ G + 2λW_e, Σ G) instead of a graph
    through the weights: the optimum must be the one autograd + torch.optim.LBFGS find, with
    dense columns, inactive outputs and the unpenalised bias."""
    x, dense, y = _problem(n=150, v=40, d=3, k=4)
    features = SparseRows(x)
    targets = torch.nn.functional.one_hot(y, 4).float()
    active = torch.tensor([True, True, False, True])
    loss = lambda s: torch.nn.functional.binary_cross_entropy_with_logits(s, targets)  # noqa: E731
    c, n = 10.0, x.shape[0]
    weight, dense_weight, bias, _ = fit_linear(features, dense, loss, 4, c=c, n_samples=n, active=active,
                                               max_iter=300, history=10)
    columns = torch.nonzero(active).flatten()
    w = torch.zeros(x.shape[1], 3, requires_grad=True)
    we = torch.zeros(3, 3, requires_grad=True)
    b = torch.zeros(4, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, we, b], max_iter=300, history_size=10, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        optimizer.zero_grad()
        scores = b.expand(n, 4).index_add(1, columns, features.matmul(w) + dense @ we)
        value = loss(scores) + (w.pow(2).sum() + we.pow(2).sum()) / (2 * c * n)
        value.backward()
        return value

    optimizer.step(closure)
    assert torch.allclose(weight[:, columns], w.detach(), atol=2e-3)
    assert torch.allclose(dense_weight[:, columns], we.detach(), atol=2e-3)
    assert torch.allclose(bias, b.detach(), atol=2e-3)
    assert weight[:, 2].abs().max() == 0


def test_the_gradient_product_falls_back_where_a_device_cannot_write_into_its_output(monkeypatch):
    """A CSR ``addmm`` with ``out=`` is what CPUs have; a device without it gets the product, then
    the sum — the same numbers."""
    from hpt_core import linear_fit

    x, _, _ = _problem()
    xt = SparseRows(x).transposed()
    weight, grad = torch.randn(x.shape[1], 4), torch.randn(x.shape[0], 4)
    expected = 0.5 * weight + torch.from_numpy(x.toarray()).T @ grad
    fast = torch.empty_like(weight)
    linear_fit._add_product(fast, weight, xt, grad, 0.5)
    real_addmm = torch.addmm

    def no_sparse_out(*args, **kwargs):
        if "out" in kwargs:
            raise RuntimeError("addmm: sparse CSR into a given output is not supported on this device")
        return real_addmm(*args, **kwargs)

    monkeypatch.setattr(torch, "addmm", no_sparse_out)
    slow = torch.empty_like(weight)
    linear_fit._add_product(slow, weight, xt, grad, 0.5)
    assert torch.allclose(fast, expected, atol=1e-5) and torch.allclose(slow, expected, atol=1e-5)
