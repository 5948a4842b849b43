"""Where one fit of the lexical channel spends its time (issue 25): the channel's linear scorer fitted
once at C = 10 (``lexical._fit``, the default budget) on all, 80 % and 50 % of a corpus's training
documents, then profiled on all of them (cProfile, the 12 functions with the most time of their own).

    python benchmarks/lexical_fit_profile.py [--data amazon531:train]

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

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="amazon531:train", help="corpus:split under ../shared/data/benchmarks")
    parser.add_argument("--c", type=float, default=10.0)
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
    profile = cProfile.Profile()
    profile.runcall(lexical._fit, x, None, y, groups, n_groups, args.c, active=seen)
    pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
