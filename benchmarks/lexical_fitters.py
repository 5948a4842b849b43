"""The lexical channel alone (no model) fitted by each of ``lexical.FITTERS`` on real corpora: the
fit's seconds (C grid and out-of-fold scores together), the chosen C, and the channel's own dev
figures — micro / macro-F1 of its decisions (score > 0) and its ZMLCE loss (HPT's, eq. 10) — plus
the loss of its out-of-fold training scores, what the model is trained beside.

    python benchmarks/lexical_fitters.py [--data 20ng:train_lr wos1k:train amazon531:train] [--fitters ridge logistic]

Run it alone: the seconds are wall time on a shared CPU. One JSON line per corpus and fitter.
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

from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.lexical import FITTERS, fit_lexical_channel  # noqa: E402
from hpt_core.losses import zmlce_loss  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"


def fit(name: str, train: str, fitter: str) -> dict:
    h = LabelHierarchy.read(SHARED / name / "taxonomy.tsv")
    docs = {s: read_corpus(SHARED / name / f"{s}.jsonl", h) for s in (train, "dev")}
    texts = {s: [d.text for d in v] for s, v in docs.items()}
    gold = {s: h.multi_hot([d.labels for d in v]) for s, v in docs.items()}
    groups = np.asarray(h.depths) - 1
    group_index, n_groups = torch.as_tensor(groups), int(groups.max()) + 1
    started = time.perf_counter()
    channel, out_of_fold = fit_lexical_channel(texts[train], gold[train], groups, texts["dev"], gold["dev"], fitter=fitter)
    seconds = time.perf_counter() - started
    dev = channel.scores(texts["dev"])
    decided = (dev.numpy() > 0).astype(np.int8)
    loss = lambda scores, y: round(float(zmlce_loss(scores, torch.as_tensor(y, dtype=torch.float32), group_index, n_groups)), 4)  # noqa: E731
    return {"data": f"{name}/{train}", "fitter": fitter, "documents": len(texts[train]), "labels": len(h.labels),
            "seconds": round(seconds, 1), "C": channel.c,
            "dev_micro_f1": round(100 * micro_f1(gold["dev"], decided), 2),
            "dev_macro_f1": round(100 * macro_f1(gold["dev"], decided), 2),
            "dev_loss": loss(dev, gold["dev"]), "out_of_fold_loss": loss(out_of_fold, gold[train])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["20ng:train_lr", "wos1k:train", "amazon531:train"],
                        help="corpus:training-split pairs under ../shared/data/benchmarks")
    parser.add_argument("--fitters", nargs="+", default=list(FITTERS), choices=FITTERS)
    args = parser.parse_args()
    for item in args.data:
        name, train = item.split(":")
        if not (SHARED / name / f"{train}.jsonl").is_file():
            print(f"skipped {item}: {SHARED / name} is absent", file=sys.stderr)
            continue
        for fitter in args.fitters:
            print(json.dumps(fit(name, train, fitter)), flush=True)


if __name__ == "__main__":
    main()
