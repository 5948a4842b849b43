"""What fitting the lexical channel's weights only for labels seen in training changes on a
benchmark: the channel alone (no model), fitted with weights for every label (before session 7)
and for the seen labels only (now), each with C chosen on dev; micro / macro-F1 of its own
decisions (score > 0) on dev and test, and the fit's seconds.

    python benchmarks/lexical_seen_labels.py [--data ../shared/data/benchmarks/wos1k]
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/benchmarks/wos1k")
    args = parser.parse_args(argv)
    hierarchy = LabelHierarchy.read(args.data / "taxonomy.tsv")
    docs = {s: read_corpus(args.data / f"{s}.jsonl", hierarchy) for s in ("train", "dev", "test")}
    texts = {s: [d.text for d in v] for s, v in docs.items()}
    gold = {s: hierarchy.multi_hot([d.labels for d in v]) for s, v in docs.items()}
    print(f"{int((gold['train'].sum(0) == 0).sum())} of {len(hierarchy.labels)} labels have no training document")
    groups = np.asarray(hierarchy.depths) - 1
    seen_only = lexical._fit
    try:
        for name in ("every label", "seen labels"):
            # before: the same fit with every label's weights fitted (``active`` ignored)
            lexical._fit = seen_only if name == "seen labels" else (
                lambda *a, active=None, **k: seen_only(*a, **k))
            started = time.time()
            channel, _ = lexical.fit_lexical_channel(texts["train"], gold["train"], groups, texts["dev"], gold["dev"],
                                                     fitter="logistic")
            seconds = time.time() - started
            figures = []
            for split in ("dev", "test"):
                decided = (channel.scores(texts[split]).numpy() > 0).astype(np.int8)
                figures.append(f"{split} {100 * micro_f1(gold[split], decided):.2f} / {100 * macro_f1(gold[split], decided):.2f}")
            print(f"weights for {name}: C = {channel.c:g}, {', '.join(figures)}, fit {seconds:.0f} s (one fit each, in this order)")
    finally:
        lexical._fit = seen_only
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
