"""Linear scorers over sparse TF-IDF rows and dense embeddings, fitted with a bounded L-BFGS.

Both add-ons around the model fit one: the lexical channel (one score per label, HPT's per-depth
loss) and the classical blend (one softmax over path ends). What they share lives here: the
features, the scores ``X W + E W_e + b``, an L2 penalty in scikit-learn's ``C`` convention and an
L-BFGS with a fixed budget, so that a fit's cost is bounded by its iterations, not by how slowly a
weakly regularised problem converges.

Why not scikit-learn: its multinomial regression multiplies the sparse matrix on one core (about
1.3 s an iteration on Amazon-531's 3,538 documents × 354 classes with 384 embedding columns stored
sparse), and the torch COO product and its backward took 107 ms an evaluation where a CSR product
with a CSR transpose made once takes 18 ms (both measured on this 2-core CPU,
``benchmarks/blend_fit_budget.py``). The fit also runs on any torch device.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch

from hpt_core import lbfgs


def _csr(matrix, device) -> torch.Tensor:
    """A scipy sparse matrix as a torch CSR tensor (float32) on ``device``."""
    csr = matrix.tocsr().astype(np.float32)
    csr.sort_indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product and its shapes are all we use
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(torch.from_numpy(csr.indptr.astype(np.int64)),
                                       torch.from_numpy(csr.indices.astype(np.int64)),
                                       torch.from_numpy(csr.data), size=csr.shape).to(device)


class SparseRows:
    """TF-IDF rows (N, V) kept twice, as CSR and its transpose, so that both ``X W`` and the
    gradient ``Xᵀ G`` are row-parallel CSR products (deterministic, and several times faster than
    torch's COO product and its backward)."""

    def __init__(self, matrix, device="cpu") -> None:
        self.scipy = matrix.tocsr()
        self.shape = tuple(matrix.shape)
        self.device = torch.device(device)
        self._x = _csr(self.scipy, self.device)
        self._xt: torch.Tensor | None = None  # made at the first backward: scoring never needs it

    def transposed(self) -> torch.Tensor:
        """Xᵀ (V, N) as CSR, made once."""
        if self._xt is None:
            self._xt = _csr(self.scipy.T, self.device)
        return self._xt

    def rows(self, index) -> "SparseRows":
        """The rows ``index`` (a 1-D integer array, repeats allowed), in that order."""
        return SparseRows(self.scipy[np.asarray(index)], self.device)

    def matmul(self, weight: torch.Tensor) -> torch.Tensor:
        """X W: weight (V, K) -> (N, K), differentiable in ``weight``."""
        if not weight.requires_grad:
            return self._x @ weight
        return _SparseMatmul.apply(weight, self)


class _SparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, features):  # noqa: D102 — X W, X kept for the backward
        ctx.features = features
        return features._x @ weight

    @staticmethod
    def backward(ctx, grad):  # noqa: D102 — d(X W)/dW applied to grad: Xᵀ grad
        return ctx.features.transposed() @ grad, None


def linear_scores(features: SparseRows, dense: torch.Tensor | None, weight: torch.Tensor,
                  dense_weight: torch.Tensor | None, bias: torch.Tensor) -> torch.Tensor:
    """X W + E W_e + b: features (N, V), dense (N, d) or None, weight (V, K), dense_weight (d, K),
    bias (K,) -> (N, K)."""
    scores = features.matmul(weight) + bias
    return scores if dense is None else scores + dense @ dense_weight


def _add_product(out: torch.Tensor, weight: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor, beta: float) -> None:
    """``out = beta · weight + sparse @ dense`` in one ``addmm`` into ``out``; where a device's sparse
    CSR ``addmm`` cannot write into a given tensor, the product first, then the sum (the same
    numbers, one more pass)."""
    try:
        torch.addmm(weight, sparse, dense, beta=beta, out=out)
    except (RuntimeError, NotImplementedError):
        out.copy_(sparse @ dense).add_(weight, alpha=beta)


def fit_linear(features: SparseRows, dense: torch.Tensor | None, loss: Callable[[torch.Tensor], torch.Tensor] | None,
               n_outputs: int, c: float, n_samples: float, init: tuple | None = None, max_iter: int = 50,
               history: int = 5, active: torch.Tensor | None = None,
               loss_and_grad: Callable[[torch.Tensor], tuple[float, torch.Tensor]] | None = None) -> tuple:
    """Minimise ``loss(X W + E W_e + b) + (||W||² + ||W_e||²) / (2 C n_samples)`` with L-BFGS
    (strong Wolfe line search, at most ``max_iter`` iterations, ``history`` pairs).

    features (N, V), dense (N, d) or None, loss: scores (N, K) -> scalar (a mean over the samples),
    active (K,) bool or None -> (weight (V, K), dense weight (d, K) or None, bias (K,), iterations)

    The penalty is scikit-learn's ``C`` convention for a loss averaged over ``n_samples``; the bias
    is not penalised. ``init``: a previous fit's (weight, dense weight, bias) to start from (a path
    over increasing C starts each fit from the last). ``active``: the outputs whose weights are
    fitted; the others keep zero weights and a bias alone (a label no training document has gives
    its weights nothing to learn but "not this label", which its bias says already — with thousands
    of labels, most unseen in a small corpus, those columns were most of the parameters).
    ``loss_and_grad``: scores (N, K) -> (value, gradient (N, K)) in closed form, used instead of
    autograd through ``loss`` (which may then be ``None``).
    """
    device = features.device
    n, v = features.shape
    columns = None if active is None or bool(active.all()) else torch.nonzero(active).flatten().to(device)
    width = n_outputs if columns is None else len(columns)  # the outputs whose weights are fitted
    n_dense = 0 if dense is None else dense.shape[1]
    if init is None:
        init = (torch.zeros(v, n_outputs), None if dense is None else torch.zeros(n_dense, n_outputs),
                torch.zeros(n_outputs))
    init = tuple(None if t is None else t.to(device) for t in init[:3])
    if columns is not None:  # the active columns of a full-size start
        init = (init[0][:, columns], None if init[1] is None else init[1][:, columns], init[2])
    # one flat vector [W (V, width), W_e (d, width), b (K,)]: what the L-BFGS moves
    x = torch.cat([t.reshape(-1).float() for t in init if t is not None])
    penalised = (v + n_dense) * width  # W and W_e come first: the bias is not penalised
    penalty = 1.0 / (2.0 * c * max(n_samples, 1e-12))

    def parts(flat: torch.Tensor):
        weight = flat[:v * width].view(v, width)
        dense_weight = None if dense is None else flat[v * width:penalised].view(n_dense, width)
        return weight, dense_weight, flat[penalised:]

    def objective(flat: torch.Tensor, grad: torch.Tensor) -> float:
        weight, dense_weight, bias = parts(flat)
        partial = features.matmul(weight)  # (N, width): no graph through the weights, their gradient is written below
        if dense is not None:
            partial = partial + dense @ dense_weight
        scores = partial + bias if columns is None else bias.expand(n, n_outputs).index_add(1, columns, partial)
        if loss_and_grad is not None:
            value, score_grad = loss_and_grad(scores)
        else:
            scores.requires_grad_(True)
            with torch.enable_grad():
                value = loss(scores)
            (score_grad,) = torch.autograd.grad(value, scores)  # (N, K): the only backward through the loss
            value = float(value.detach())
        active_grad = score_grad if columns is None else score_grad.index_select(1, columns)
        grad_weight, grad_dense, grad_bias = parts(grad)
        # Xᵀ G + 2 λ W, written in place (the penalty's gradient needs no graph)
        _add_product(grad_weight, weight, features.transposed(), active_grad, 2.0 * penalty)
        if dense is not None:
            torch.addmm(dense_weight, dense.T, active_grad, beta=2.0 * penalty, out=grad_dense)
        torch.sum(score_grad, 0, out=grad_bias)
        weights = flat[:penalised]
        return value + penalty * float(weights.dot(weights))

    iterations = lbfgs.minimise(objective, x, max_iter=max_iter, history=history, tolerance_grad=1e-6,
                                tolerance_change=1e-9)
    weight, dense_weight, bias = (None if t is None else t.clone() for t in parts(x))  # their own storage: saved apart
    if columns is not None:  # back to full size, zeros for the inactive outputs
        weight = torch.zeros(v, n_outputs, device=device).index_copy_(1, columns, weight)
        if dense_weight is not None:
            dense_weight = torch.zeros(n_dense, n_outputs, device=device).index_copy_(1, columns, dense_weight)
    return weight, dense_weight, bias, iterations


def document_sample(n_documents: int, max_documents: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices (M,) of a seeded uniform sample of ``max_documents`` of ``n_documents``
    training documents to fit an add-on on, or ``None`` when every document is used (``None``,
    or no more documents than that).

    Why: both fits cost a fixed number of passes over their documents, while training's cost on a
    CPU is bounded by its token budget; above some size the fits would outgrow the training they
    serve (95 % of it at 10,000 × 531, docs/benchmarks.md). A fit on a bounded sample costs the
    same at any size, and the documents left out are scored by it as truly unseen ones.
    """
    if max_documents is None or n_documents <= max_documents:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_documents, size=max_documents, replace=False))
