"""The bounded L-BFGS the add-ons' fits run on (hpt_core.lbfgs): torch.optim.LBFGS's algorithm
without its allocations, so it must stop where torch's does and never exceed its budget."""

from __future__ import annotations

import pytest
import torch

from hpt_core import lbfgs


def _logistic_problem(seed: int, n: int = 200, p: int = 30, penalty: float = 1e-3):
    """A smooth strictly convex objective: L2-penalised logistic regression on random data. Returns
    (objective for lbfgs.minimise, the same as a function of a tensor with autograd)."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, p, generator=generator, dtype=torch.float64)
    labels = (features @ torch.randn(p, generator=generator, dtype=torch.float64) > 0).double()

    def value_of(w: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(features @ w, labels) + penalty * w.dot(w)

    def objective(w: torch.Tensor, grad: torch.Tensor) -> float:
        with torch.enable_grad():
            point = w.detach().clone().requires_grad_(True)
            value = value_of(point)
            (gradient,) = torch.autograd.grad(value, point)
        grad.copy_(gradient)
        return float(value.detach())

    return objective, value_of


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_reaches_the_minimum_torchs_lbfgs_reaches(seed):
    objective, value_of = _logistic_problem(seed)
    ours = torch.zeros(30, dtype=torch.float64)
    iterations = lbfgs.minimise(objective, ours, max_iter=100, history=5, tolerance_grad=1e-9)
    theirs = torch.zeros(30, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([theirs], max_iter=100, history_size=5, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9)

    def closure():
        optimizer.zero_grad()
        value = value_of(theirs)
        value.backward()
        return value

    optimizer.step(closure)
    assert 0 < iterations <= 100
    assert float(value_of(ours)) == pytest.approx(float(value_of(theirs.detach())), rel=1e-9, abs=1e-12)
    assert torch.allclose(ours, theirs.detach(), atol=1e-5)


def test_it_never_exceeds_its_iterations_or_evaluations():
    objective, _ = _logistic_problem(0, penalty=0.0)  # separable, unpenalised: it would run on and on
    calls = []

    def counted(w, grad):
        calls.append(1)
        return objective(w, grad)

    x = torch.zeros(30, dtype=torch.float64)
    assert lbfgs.minimise(counted, x, max_iter=8, history=3) <= 8
    assert len(calls) <= 8 * 5 // 4


def test_at_a_stationary_point_it_does_nothing():
    def flat(w, grad):  # constant objective: the gradient is zero everywhere
        grad.zero_()
        return 1.0

    x = torch.full((5,), 3.0)
    assert lbfgs.minimise(flat, x, max_iter=10, history=3) == 0
    assert torch.equal(x, torch.full((5,), 3.0))


def test_the_objective_is_never_handed_the_point_it_must_not_keep():
    """Each evaluation writes into a gradient buffer no live one shares: a gradient the line search
    still holds is never overwritten (the bracket keeps references, not clones)."""
    objective, value_of = _logistic_problem(3)
    seen = []

    def checking(w, grad):
        assert all(grad is not kept for kept in seen[-1:])  # never the buffer just returned
        value = objective(w, grad)
        seen.append(grad)
        return value

    x = torch.zeros(30, dtype=torch.float64)
    lbfgs.minimise(checking, x, max_iter=30, history=5)
    assert len({id(buffer) for buffer in seen}) <= 4  # a small pool, reused
