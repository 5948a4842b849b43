"""A bounded L-BFGS over one flat parameter vector that keeps its buffers.

The algorithm is ``torch.optim.LBFGS``'s with ``line_search_fn="strong_wolfe"`` (itself minFunc's):
the two-loop recursion over ``history`` pairs, the strong Wolfe line search with cubic
interpolation, the same first step, evaluation budget (``max_iter × 5 // 4``), tolerances and
stopping rules — so a fit stops where torch's would, up to floating-point rounding.

Why not ``torch.optim.LBFGS``: the add-ons' fits (``hpt_core.linear_fit``) optimise one vector of
up to 20 M weights, and on a CPU every new tensor of that size is fresh memory the kernel must
map and zero — a clone of Amazon-531's 11 M weights cost about 20 ms where a dot product over them
costs 2–8 ms. torch's optimiser allocates a new vector for almost every step (the flat gradient,
the search direction, ``y``, ``s``, a copy of the parameters per line search, a clone per bracket
point, ``abs()`` before each ``max()``), and its closure builds an autograd graph through the
penalty and the weight update. Here the history pairs are reused as they age out, trial points
and gradients live in a small pool of buffers, and the objective writes its gradient in place.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

#: objective(x (P,), grad (P,)) -> loss: the value at x, with the gradient written into ``grad``.
Objective = Callable[[torch.Tensor, torch.Tensor], float]


def _max_abs(vector: torch.Tensor) -> float:
    """max |v_i| in one pass without a temporary (``abs()`` first would allocate a vector)."""
    low, high = torch.aminmax(vector)
    return max(-float(low), float(high))


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to ``bounds``
    (torch's ``_cubic_interpolate``, on Python floats)."""
    xmin_bound, xmax_bound = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (xmin_bound + xmax_bound) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, xmin_bound), xmax_bound)


class _GradientPool:
    """Gradient buffers (P,) reused across evaluations: ``free(keep)`` is one not in ``keep``."""

    def __init__(self, like: torch.Tensor) -> None:
        self.like = like
        self.buffers: list[torch.Tensor] = []

    def free(self, keep) -> torch.Tensor:
        for buffer in self.buffers:
            if not any(buffer is kept for kept in keep):
                return buffer
        buffer = torch.empty_like(self.like)
        self.buffers.append(buffer)
        return buffer


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """torch's ``_strong_wolfe`` with buffers instead of clones: ``evaluate(t, keep)`` -> (f, g at
    x + t d), its gradient written into a buffer that none of ``keep`` is. A gradient is never
    written after it is returned, so the bracket holds references where torch holds clones.

    Returns (f, g, t, evaluations) at the step found."""
    d_norm = _max_abs(d)
    f_new, g_new = evaluate(t, [g])
    evaluations = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:  # bracket an interval containing a point satisfying the Wolfe criteria
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):  # too far: [t_prev, t] brackets it
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:  # the strong Wolfe conditions hold at t
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:  # the slope turned: [t_prev, t] brackets it
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = evaluate(t, [g, g_prev])
        evaluations += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the criteria
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is too small
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # too close to an end of the bracket (twice in a row, or outside it): step 10 % inside it
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t, [g, *bracket_g])
        evaluations += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:  # Armijo fails, or not below the low end
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:  # the Wolfe conditions hold
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:  # the old high end becomes the low one
                bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = (
                    bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low])
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evaluations


def minimise(objective: Objective, x: torch.Tensor, max_iter: int, history: int, tolerance_grad: float = 1e-7,
             tolerance_change: float = 1e-9, lr: float = 1.0) -> int:
    """Minimise ``objective`` from ``x`` (P,), which is updated in place; returns the iterations done.

    ``objective(point (P,), grad (P,)) -> float`` returns the value at ``point`` and writes the
    gradient there into ``grad`` (it must not keep either). At most ``max_iter`` iterations and
    ``max_iter × 5 // 4`` evaluations, ``history`` (s, y) pairs; stops as ``torch.optim.LBFGS``
    does: the gradient's largest entry ≤ ``tolerance_grad``, or a step or a change of the value
    below ``tolerance_change``.
    """
    max_eval = max_iter * 5 // 4
    pool = _GradientPool(x)
    g = pool.free([])
    loss = objective(x, g)
    evaluations = 1
    if _max_abs(g) <= tolerance_grad:
        return 0
    d = torch.empty_like(x)  # the search direction (the two-loop recursion works in it)
    trial = torch.empty_like(x)  # the line search's point x + t d
    y_spare, s_spare = torch.empty_like(x), torch.empty_like(x)
    ys_pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (y, s, 1 / yᵀs), oldest first
    alphas = [0.0] * history
    h_diag, t, g_prev = 1.0, lr, None

    def evaluate(step: float, keep) -> tuple[float, torch.Tensor]:
        torch.add(x, d, alpha=step, out=trial)
        grad = pool.free(keep)
        return objective(trial, grad), grad

    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        if n_iter == 1:
            torch.neg(g, out=d)
        else:
            torch.sub(g, g_prev, out=y_spare)
            torch.mul(d, t, out=s_spare)
            ys = float(y_spare.dot(s_spare))
            if ys > 1e-10:  # keep the pair (the oldest one's buffers become the spares)
                h_diag = ys / float(y_spare.dot(y_spare))
                ys_pairs.append((y_spare, s_spare, 1.0 / ys))
                if len(ys_pairs) > history:
                    y_spare, s_spare, _ = ys_pairs.pop(0)
                else:
                    y_spare, s_spare = torch.empty_like(x), torch.empty_like(x)
            torch.neg(g, out=d)  # d = -H g by the two-loop recursion, in place
            for i in range(len(ys_pairs) - 1, -1, -1):
                y, s, rho = ys_pairs[i]
                alphas[i] = float(s.dot(d)) * rho
                d.add_(y, alpha=-alphas[i])
            d.mul_(h_diag)
            for i, (y, s, rho) in enumerate(ys_pairs):
                beta = float(y.dot(d)) * rho
                d.add_(s, alpha=alphas[i] - beta)
        g_prev, prev_loss = g, loss
        t = min(1.0, 1.0 / float(torch.linalg.vector_norm(g, 1))) * lr if n_iter == 1 else lr
        gtd = float(g.dot(d))
        if gtd > -tolerance_change:  # not a descent direction any more
            break
        loss, g, t, used = _strong_wolfe(evaluate, t, d, loss, g, gtd, tolerance_change=tolerance_change,
                                         max_ls=max_eval - evaluations)
        x.add_(d, alpha=t)
        evaluations += used
        if n_iter == max_iter or evaluations >= max_eval:
            break
        if _max_abs(g) <= tolerance_grad:
            break
        if t * _max_abs(d) <= tolerance_change:  # torch: d.mul(t).abs().max(), the same number for t > 0
            break
        if abs(loss - prev_loss) < tolerance_change:
            break
    return n_iter
