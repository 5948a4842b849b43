"""Where one fit of the lexical channel spends its time (issue 25): the channel's linear scorer fitted
once at C = 10 (``lexical._fit``, the default budget) on all, 80 % and 50 % of a corpus's training
documents, then profiled on all of them (cProfile, the 12 functions with the most time of their own).

    python benchmarks/lexical_fit_profile.py [--data amazon531:train] [--against-torch]

``--against-torch`` also times the same fit by ``torch.optim.LBFGS`` (the fitter before session 13,
kept here as the reference), the two alternating three times in this one process, and prints the
ratio of their median times and each fit's final objective.

Session 12, alone, Amazon-531 (20,804 columns × 531 labels): 11.35 s on every document, 9.51 s on
80 %, 8.18 s on 50 % — a fit's cost follows the weights (columns × labels), not the documents; the
sparse products (forward and backward) took about 1 s of 10.5, torch's L-BFGS bookkeeping over the
weight vectors (dot, add_, abs, clone, copy_, cat) about 5.5 s.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core import lexical, tfidf  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.linear_fit import SparseRows  # noqa: E402
from hpt_core.losses import zmlce_loss  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"


def torch_lbfgs_fit(features: SparseRows, targets, groups, n_groups: int, c: float, active) -> tuple:
    """The channel's fit as ``linear_fit.fit_linear`` did it before session 13: torch.optim.LBFGS
    over the active columns, the penalty and the product in one autograd graph. -> (scores (N, C),
    objective)"""
    n, v = features.shape
    columns = torch.nonzero(active).flatten()
    weight = torch.zeros(v, len(columns), requires_grad=True)
    bias = torch.zeros(targets.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=lexical.MAX_ITER, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, tolerance_change=1e-9, history_size=lexical.HISTORY)
    penalty = 1.0 / (2.0 * c * n)

    def objective():
        scores = bias.expand(n, targets.shape[1]).index_add(1, columns, features.matmul(weight))
        return zmlce_loss(scores, targets, groups, n_groups) + penalty * weight.pow(2).sum(), scores

    def closure():
        optimizer.zero_grad()
        value, _ = objective()
        value.backward()
        return value

    optimizer.step(closure)
    with torch.no_grad():
        value, scores = objective()
    return scores, float(value)


def ours_fit(features: SparseRows, targets, groups, n_groups: int, c: float, active) -> tuple:
    """The channel's fit as training does it now (``lexical._fit``) -> (scores (N, C), objective)."""
    weight, _, bias = lexical._fit(features, None, targets, groups, n_groups, c, active=active)
    with torch.no_grad():
        scores = features.matmul(weight) + bias
        value = zmlce_loss(scores, targets, groups, n_groups) + weight.pow(2).sum() / (2.0 * c * features.shape[0])
    return scores, float(value)


def compare_with_torch(features: SparseRows, targets, groups, n_groups: int, c: float, active) -> None:
    """Time both fitters alternately, three times each, and print the ratio of the medians."""
    times = {"torch.optim.LBFGS": [], "hpt_core.lbfgs": []}
    results = {}
    for _ in range(3):
        for name, fit in (("torch.optim.LBFGS", torch_lbfgs_fit), ("hpt_core.lbfgs", ours_fit)):
            started = time.perf_counter()
            results[name] = fit(features, targets, groups, n_groups, c, active)
            times[name].append(time.perf_counter() - started)
    for name, seconds in times.items():
        print(f"{name}: median {np.median(seconds):.2f} s of {', '.join(f'{s:.2f}' for s in seconds)}; "
              f"objective {results[name][1]:.6f}")
    (reference, _), (ours, _) = results.values()
    print(f"speed-up: {np.median(times['torch.optim.LBFGS']) / np.median(times['hpt_core.lbfgs']):.2f}×; "
          f"largest score difference {float((reference - ours).abs().max()):.2e}; "
          f"decisions (score > 0) that differ: {int(((reference > 0) != (ours > 0)).sum())} of {reference.numel():,}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="amazon531:train", help="corpus:split under ../shared/data/benchmarks")
    parser.add_argument("--c", type=float, default=10.0)
    parser.add_argument("--against-torch", action="store_true",
                        help="time the same fit by torch.optim.LBFGS too (the speed ratio, measured in this run)")
    args = parser.parse_args(argv)
    name, split = args.data.split(":")
    h = LabelHierarchy.read(SHARED / name / "taxonomy.tsv")
    docs = read_corpus(SHARED / name / f"{split}.jsonl", h)
    y = torch.as_tensor(h.multi_hot([d.labels for d in docs]), dtype=torch.float32)
    groups = torch.as_tensor(np.asarray(h.depths) - 1)
    n_groups = int(groups.max()) + 1
    _, features = tfidf.fit([d.text for d in docs], tfidf.columns_for(y.shape[1], lexical.MAX_WEIGHTS))
    print(f"{features.shape[0]:,} documents × {features.shape[1]:,} columns × {y.shape[1]} labels")
    x, seen = SparseRows(features), y.bool().any(0)
    for share in (1.0, 0.8, 0.5):
        n = int(share * features.shape[0])
        rows = x.rows(np.arange(n))
        started = time.perf_counter()
        lexical._fit(rows, None, y[:n], groups, n_groups, args.c, active=seen)
        print(f"{share:.0%} of the documents: {time.perf_counter() - started:.2f} s")
    if args.against_torch:
        compare_with_torch(x, y, groups, n_groups, args.c, seen)
    profile = cProfile.Profile()
    profile.runcall(lexical._fit, x, None, y, groups, n_groups, args.c, active=seen)
    pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
