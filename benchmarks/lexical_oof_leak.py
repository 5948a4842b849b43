"""Do the lexical channel's out-of-fold training scores leak (issue 20)? Each fold's fit starts from
the weights fitted on the whole training set, which has seen the held-out fold; with a bounded
number of iterations, what it learnt of those documents may stay in their "out-of-fold" scores.

For a corpus, the channel as training fits it, then the out-of-fold scores three ways:

* ``warm`` (what training does): each fold's fit starts from the whole-set fit at the chosen C;
* ``cold path``: each fold's fit follows the same path over C as the whole-set fit, from zeros,
  on the other folds alone (no document's own label can reach its score);
* ``flip``: ``warm`` again after changing the labels of ``--flip`` training documents to another
  label of the same depth (one seen elsewhere): a leak-free procedure gives those documents the
  same out-of-fold scores as before (up to the fits' float noise); a leak moves them toward the
  new label.

Printed: micro / macro-F1 of the channel's own decisions (score > 0) from each kind of
out-of-fold score against the training labels, the whole-set channel's on dev (what honest
out-of-fold scores should resemble), and for the flipped documents the mean change of their
score on the new label, warm and cold.

    python benchmarks/lexical_oof_leak.py [--data 20ng:train_lr] [--flip 50]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core import lexical  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.linear_fit import SparseRows  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"


def cold_path_oof(features: SparseRows, y: torch.Tensor, groups, n_groups, c_grid, chosen_c, n_folds, seed, active):
    """Out-of-fold scores from fits that follow the C path from zeros on the other folds alone."""
    n = features.shape[0]
    fold = np.random.default_rng(seed).permutation(n) % n_folds
    scores = torch.zeros(n, y.shape[1])
    for k in range(n_folds):
        held, kept = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        fitted = None
        for c in sorted(c_grid):
            if c > chosen_c:
                break
            fitted = lexical._fit(features.rows(kept), None, y[kept], groups, n_groups, c, init=fitted, active=active)
        scores[held] = lexical._scores_on_cpu(features.rows(held), None, *fitted)
    return scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="20ng:train_lr")
    parser.add_argument("--flip", type=int, default=50)
    args = parser.parse_args(argv)
    name, split = args.data.split(":")
    h = LabelHierarchy.read(SHARED / name / "taxonomy.tsv")
    train, dev = (read_corpus(SHARED / name / f"{s}.jsonl", h) for s in (split, "dev"))
    texts, dev_texts = [d.text for d in train], [d.text for d in dev]
    y, dev_y = h.multi_hot([d.labels for d in train]), h.multi_hot([d.labels for d in dev])
    groups = np.asarray(h.depths) - 1
    channel, warm = lexical.fit_lexical_channel(texts, y, groups, dev_texts, dev_y, fitter="logistic")

    def figures(scores, gold):
        decided = (np.asarray(scores) > 0).astype(np.int8)
        return round(100 * micro_f1(gold, decided), 2), round(100 * macro_f1(gold, decided), 2)

    features = SparseRows(channel.features(texts))
    y_t = torch.as_tensor(y, dtype=torch.float32)
    g = torch.as_tensor(groups, dtype=torch.long)
    active = y_t.bool().any(0)
    cold = cold_path_oof(features, y_t, g, int(g.max()) + 1, lexical.C_GRID, channel.c, lexical.N_FOLDS, 0, active)

    # flip: documents whose deepest label has a same-depth sibling label seen in training
    rng = np.random.default_rng(0)
    depth = np.asarray(h.depths)
    seen = y.sum(0) > 1
    flipped, new_labels, y_flip = [], [], y.copy()
    for i in rng.permutation(len(train)):
        own = np.flatnonzero(y[i])
        deepest = own[np.argmax(depth[own])]
        others = [j for j in np.flatnonzero((depth == depth[deepest]) & seen) if not y[i, j]]
        if not others:
            continue
        new = int(rng.choice(others))
        y_flip[i, deepest], y_flip[i, new] = 0, 1
        flipped.append(int(i))
        new_labels.append(new)
        if len(flipped) == args.flip:
            break
    _, warm_flip = lexical.fit_lexical_channel(texts, y_flip, groups, dev_texts, dev_y, fitter="logistic")
    cold_flip = cold_path_oof(features, torch.as_tensor(y_flip, dtype=torch.float32), g, int(g.max()) + 1,
                              lexical.C_GRID, channel.c, lexical.N_FOLDS, 0, active)
    rows, cols = np.asarray(flipped), np.asarray(new_labels)
    print(json.dumps({
        "data": args.data, "C": channel.c,
        "dev_micro_macro_f1_of_the_whole_set_channel": figures(channel.scores(dev_texts).numpy(), dev_y),
        "train_oof_micro_macro_f1_warm": figures(warm.numpy(), y),
        "train_oof_micro_macro_f1_cold_path": figures(cold.numpy(), y),
        "flipped_documents": len(flipped),
        "mean_change_of_the_new_label_score_warm": round(float((warm_flip - warm).numpy()[rows, cols].mean()), 4),
        "mean_change_of_the_new_label_score_cold_path": round(float((cold_flip - cold).numpy()[rows, cols].mean()), 4),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
