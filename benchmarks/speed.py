"""Speed figures quoted in docs/benchmarks.md.

1. The cost of HPT's extras: one HPT training step (forward + backward with template, graph
   injection, label scoring, ZMLCE and MLM losses) against one bare encoder forward + backward on
   the same batch. Neither includes the optimiser update, which is the same for both.
2. Single-text prediction latency through ``Predictor`` (median over many texts).

    python benchmarks/speed.py --taxonomy ../shared/data/benchmarks/20ng/taxonomy.tsv \
        --data ../shared/data/benchmarks/20ng/dev.jsonl [--backbone minilm] [--max-length 256] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.config import RECIPES  # noqa: E402
from hpt_core.methods import resolve_method  # noqa: E402
from hpt_core.model import build_model  # noqa: E402
from hpt_core.predict import Predictor  # noqa: E402


def _median_seconds(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def training_step_ratio(model, texts, targets, repeats: int) -> dict:
    model.train()
    batch = model.collate(model.tokenize(texts))
    labels = torch.tensor(targets, dtype=torch.float32)

    def hpt_step():
        model(batch, labels)["loss"].backward()
        model.zero_grad(set_to_none=True)

    def bare_step():
        # The same token ids (template slots as placeholders) through the bare encoder.
        out = model.mlm.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out.last_hidden_state.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)

    hpt, bare = [], []
    for _ in range(2):  # interleave to share any drift in machine load
        hpt.append(_median_seconds(hpt_step, repeats))
        bare.append(_median_seconds(bare_step, repeats))
    hpt_s, bare_s = min(hpt), min(bare)
    return {"batch_shape": list(batch["input_ids"].shape), "hpt_step_s": hpt_s, "bare_step_s": bare_s,
            "ratio": hpt_s / bare_s, "train_docs_per_s_forward_backward": len(texts) / hpt_s}


def prediction_latency(predictor: Predictor, texts, repeats: int) -> dict:
    times = []
    predictor.predict([texts[0]])  # warm-up
    for text in texts[:repeats]:
        started = time.perf_counter()
        predictor.predict([text])
        times.append(time.perf_counter() - started)
    return {"median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * sorted(times)[int(0.9 * len(times)) - 1],
            "n": len(times)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taxonomy", required=True)
    parser.add_argument("--data", required=True, help="JSON Lines corpus whose texts are used")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--method", default="hpt")
    parser.add_argument("--recipe", default="paper", choices=list(RECIPES),
                        help="model options of this recipe (paper: the figures in docs/benchmarks.md)")
    parser.add_argument("--max-length", type=int, default=256, help="training-step comparison length")
    parser.add_argument("--latency-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-texts", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    hierarchy = LabelHierarchy.read(args.taxonomy)
    docs = read_corpus(args.data, hierarchy)
    texts = [d.text for d in docs]
    model = build_model(resolve_method(args.method, recipe=args.recipe, backbone=args.backbone, max_length=args.max_length), hierarchy)
    result = {"threads": torch.get_num_threads(), "method": args.method, "max_length": args.max_length}
    result["training_step"] = training_step_ratio(
        model, texts[: args.batch_size], hierarchy.multi_hot([d.labels for d in docs[: args.batch_size]]), args.repeats)
    model.config = model.config.replace(max_length=args.latency_length)
    result["latency"] = {"max_length": args.latency_length,
                         **prediction_latency(Predictor(model), texts, args.latency_texts)}
    if args.json:
        print(json.dumps(result))
    else:
        step = result["training_step"]
        print(f"training step, batch {step['batch_shape']}: HPT {step['hpt_step_s']:.3f} s, bare encoder "
              f"{step['bare_step_s']:.3f} s, ratio {step['ratio']:.3f}")
        lat = result["latency"]
        print(f"single-text prediction at {lat['max_length']} tokens: median {lat['median_ms']:.1f} ms, "
              f"p90 {lat['p90_ms']:.1f} ms over {lat['n']} texts ({result['threads']} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
