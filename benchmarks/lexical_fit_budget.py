"""What bounding the lexical channel's fits changes (issue 25): the channel alone (no model), fitted
as before session 8 (L-BFGS up to 200 iterations with a 20-pair history, C ∈ {1, 10, 100, 1000})
and as now (``lexical.MAX_ITER``, ``lexical.HISTORY``, ``lexical.C_GRID``), C chosen on dev either
way (both with today's sparse product, ``hpt_core.linear_fit``); the fit's seconds (C grid and out-of-fold folds), the chosen C and the micro / macro-F1 of the
channel's own decisions (score > 0) on dev.

    python benchmarks/lexical_fit_budget.py [--data 20ng:train_lr wos1k:train amazon531:train]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hpt_core.lexical as lexical  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"
BEFORE = {"max_iter": 200, "history": 20, "c_grid": (1.0, 10.0, 100.0, 1000.0)}


def fit(name: str, train: str, setting: str, max_iter: int = lexical.MAX_ITER) -> dict:
    h = LabelHierarchy.read(SHARED / name / "taxonomy.tsv")
    docs = {s: read_corpus(SHARED / name / f"{s}.jsonl", h) for s in (train, "dev")}
    texts = {s: [d.text for d in v] for s, v in docs.items()}
    gold = {s: h.multi_hot([d.labels for d in v]) for s, v in docs.items()}
    saved = (lexical.MAX_ITER, lexical.HISTORY)
    c_grid = lexical.C_GRID
    lexical.MAX_ITER = max_iter
    if setting == "before":  # the fit reads its budget from the module at each call
        lexical.MAX_ITER, lexical.HISTORY = BEFORE["max_iter"], BEFORE["history"]
        c_grid = BEFORE["c_grid"]
    marks = {}
    try:
        started = time.perf_counter()
        channel, _ = lexical.fit_lexical_channel(texts[train], gold[train], np.asarray(h.depths) - 1, texts["dev"],
                                                 gold["dev"], c_grid=c_grid, n_folds=lexical.N_FOLDS, fitter="logistic",
                                                 on_step=lambda done, total, detail: marks.__setitem__(done, time.perf_counter()))
        seconds = time.perf_counter() - started
    finally:
        lexical.MAX_ITER, lexical.HISTORY = saved
    decided = (channel.scores(texts["dev"]).numpy() > 0).astype(np.int8)
    return {"data": f"{name}/{train}", "setting": setting, "seconds": round(seconds, 1),
            "c_grid_seconds": round(marks[len(c_grid)] - started, 1), "C": channel.c,
            "dev_micro_f1": round(100 * micro_f1(gold["dev"], decided), 2),
            "dev_macro_f1": round(100 * macro_f1(gold["dev"], decided), 2),
            **({"max_weights": lexical.MAX_WEIGHTS, "folds": lexical.N_FOLDS, "max_iter": max_iter}
               if setting == "now" else {})}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["20ng:train_lr", "wos1k:train", "amazon531:train"])
    parser.add_argument("--settings", nargs="+", default=["before", "now"], choices=["before", "now"])
    parser.add_argument("--max-weights", type=int, default=lexical.MAX_WEIGHTS,
                        help="'now' with another bound on the weights (TF-IDF columns = this // labels)")
    parser.add_argument("--folds", type=int, default=lexical.N_FOLDS, help="'now' with another number of folds")
    parser.add_argument("--max-iter", type=int, default=lexical.MAX_ITER, help="'now' with another L-BFGS budget")
    args = parser.parse_args(argv)
    lexical.MAX_WEIGHTS, lexical.N_FOLDS = args.max_weights, args.folds  # read at each call
    now_max_iter = args.max_iter
    for item in args.data:
        name, train = item.split(":")
        for setting in args.settings:
            print(json.dumps(fit(name, train, setting, now_max_iter)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
