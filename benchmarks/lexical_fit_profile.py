"""Where one lexical-channel fit spends its time at a cost-table cell (issue 25): the sparse
product, the loss and the backward of one evaluation, against the whole bounded L-BFGS fit — the
rest is L-BFGS's own vector work over the (V, C) weights.

    python benchmarks/lexical_fit_profile.py [--cell 10000x531] [--fit-documents 4000] [--max-weights 20000000]

Uses ``benchmarks/costs.py``'s cell data (written under ``--work``), the training's fitting sample
and TF-IDF columns, and one fit at C = 1000 from zeros. Alone on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import costs  # noqa: E402
from hpt_core import lexical, tfidf  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.linear_fit import SparseRows, document_sample  # noqa: E402
from hpt_core.losses import zmlce_loss  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="10000x531")
    parser.add_argument("--fit-documents", type=int, default=4000, help="0: every document")
    parser.add_argument("--max-weights", type=int, default=lexical.MAX_WEIGHTS)
    parser.add_argument("--work", default="runs/costs-profile", help="where the cell's data is written")
    args = parser.parse_args(argv)
    n, c = (int(x) for x in args.cell.split("x"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    taxonomy, train_raw, _ = costs._cell_data(n, c, work)
    h = LabelHierarchy.read(taxonomy)
    texts = [d["text"] for d in train_raw]
    y = h.multi_hot([d["labels"] for d in train_raw])
    sample = document_sample(len(texts), args.fit_documents or None, 0)
    if sample is not None:
        texts, y = [texts[i] for i in sample], y[sample]
    _, rows = tfidf.fit(texts, tfidf.columns_for(y.shape[1], args.max_weights))
    x = SparseRows(rows)
    targets = torch.as_tensor(y, dtype=torch.float32)
    groups = torch.as_tensor(np.asarray(h.depths) - 1)
    n_groups = int(groups.max()) + 1
    active = targets.bool().any(0)
    weight = torch.zeros(rows.shape[1], int(active.sum()), requires_grad=True)
    columns = torch.nonzero(active).flatten()
    parts = []
    for _ in range(4):  # the first warms up
        started = time.perf_counter()
        partial = x.matmul(weight)
        product = time.perf_counter()
        loss = zmlce_loss(torch.zeros(1, y.shape[1]).expand(len(texts), -1).index_add(1, columns, partial),
                          targets, groups, n_groups)
        lossed = time.perf_counter()
        loss.backward()
        parts.append((product - started, lossed - product, time.perf_counter() - lossed))
        weight.grad = None
    product, loss_s, backward = np.mean(parts[1:], axis=0)
    evaluations = [0]

    def counting(*a, **k):
        evaluations[0] += 1
        return zmlce_loss(*a, **k)

    lexical.zmlce_loss = counting
    started = time.perf_counter()
    lexical._fit(x, None, targets, groups, n_groups, 1000.0, active=active)
    fit = time.perf_counter() - started
    per_evaluation = product + loss_s + backward
    print(json.dumps({"cell": args.cell, "documents": len(texts), "columns": rows.shape[1], "nonzeros": int(rows.nnz),
                      "active_labels": int(active.sum()), "weights": int(rows.shape[1] * int(active.sum())),
                      "product_s": round(product, 3), "loss_s": round(loss_s, 3), "backward_s": round(backward, 3),
                      "fit_s": round(fit, 1), "evaluations": evaluations[0],
                      "share_of_fit_in_evaluations": round(per_evaluation * evaluations[0] / fit, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
