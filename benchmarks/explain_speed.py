"""Seconds per explanation (``hpt_core.explain``) on CPU, quoted in docs/benchmarks.md.

An HPT model with the bundled MiniLM (small-data recipe; weights as initialised: an explanation
costs the same for a trained model) explains texts of the given corpus cut at each length: one
label, and a whole path (the best label of each depth, one batched Captum call). Median over texts
long enough to fill the length.

    python benchmarks/explain_speed.py --taxonomy ../shared/data/benchmarks/wos1k/taxonomy.tsv \
        --data ../shared/data/benchmarks/wos1k/test.jsonl --lengths 128,256 --texts 10 [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpt_core.classifier import model_scores  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.decoding import argmax_path_decode  # noqa: E402
from hpt_core.explain import explain  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.methods import resolve_method  # noqa: E402
from hpt_core.model import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taxonomy", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--lengths", default="128,256")
    parser.add_argument("--texts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    hierarchy = LabelHierarchy.read(args.taxonomy)
    documents = read_corpus(args.data, hierarchy)
    for length in [int(x) for x in args.lengths.split(",")]:
        model = build_model(resolve_method("hpt", recipe="small-data", backbone=args.backbone, max_length=length),
                            hierarchy).eval()
        texts = [d.text for d in documents if len(model.tokenize([d.text])[0]) + 2 + 2 * hierarchy.max_depth + 1
                 >= length][: args.texts + 1]
        label = hierarchy.labels[0]
        explain(model, texts[0], label, n_steps=args.steps)  # warm-up
        one, whole_path, deltas = [], [], []
        for text in texts[1:]:
            started = time.perf_counter()
            explain(model, text, label, n_steps=args.steps)
            one.append(time.perf_counter() - started)
            # The path: the best label of each depth along the best path (one label per depth). An untrained
            # model's consistent decision keeps dozens of labels, which a trained one does not.
            scores = model_scores(model, [text]).numpy()
            path = [hierarchy.labels[i] for i in np.flatnonzero(argmax_path_decode(scores, hierarchy)[0])]
            started = time.perf_counter()
            explanations = explain(model, text, path, n_steps=args.steps)
            whole_path.append(time.perf_counter() - started)
            deltas += [e.relative_delta for e in explanations]
        print(json.dumps({
            "max_length": length, "texts": len(one), "steps": args.steps, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "median_s_one_label": round(statistics.median(one), 2),
            "median_s_path": round(statistics.median(whole_path), 2), "labels_per_path": len(explanations),
            "median_relative_delta": round(statistics.median(deltas), 4),
        }), flush=True)


if __name__ == "__main__":
    main()
