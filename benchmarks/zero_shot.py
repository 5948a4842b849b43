"""Zero-shot figures (no training documents): label texts against documents with the bundled encoder.

    python benchmarks/zero_shot.py --taxonomy ../shared/data/benchmarks/20ng/taxonomy.tsv \
        --dev ../shared/data/benchmarks/20ng/dev.jsonl --test ../shared/data/benchmarks/20ng/test2k.jsonl

Documents are encoded once. On dev, every combination of label text (name / path) and routing
(label / subtree) gets its threshold and its dev macro-F1; the combination with the best dev
macro-F1 (or the one given with --label-text/--routing) is then evaluated once on test, with the
threshold chosen on dev. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.decoding import consistent_decode  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.metrics import evaluation_report  # noqa: E402
from hpt_core.zero_shot import (ZeroShotClassifier, ZeroShotConfig, choose_threshold, decision_scores,  # noqa: E402
                                label_texts, top_down_decision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taxonomy", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--descriptions", help="JSON {label: description}")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--label-text", choices=["name", "path"], help="fix it instead of choosing on dev")
    parser.add_argument("--routing", choices=["label", "subtree"], help="fix it instead of choosing on dev")
    args = parser.parse_args()

    hierarchy = LabelHierarchy.read(args.taxonomy)
    if args.descriptions:
        hierarchy = hierarchy.with_descriptions(LabelHierarchy.read_descriptions(args.descriptions))
    dev, test = read_corpus(args.dev, hierarchy), read_corpus(args.test, hierarchy)
    started = time.time()
    classifier = ZeroShotClassifier.from_backbone(hierarchy, ZeroShotConfig(backbone=args.backbone,
                                                                           max_length=args.max_length))
    dev_vectors = classifier.encode([d.text for d in dev])
    test_vectors = classifier.encode([d.text for d in test])
    encode_s = time.time() - started
    dev_gold = hierarchy.multi_hot([d.labels for d in dev])
    test_gold = hierarchy.multi_hot([d.labels for d in test])
    zeros = [0] * len(hierarchy.labels)

    choices = []
    for label_text in [args.label_text] if args.label_text else ["name", "path"]:
        label_vectors = classifier.encode(label_texts(hierarchy, label_text))
        for routing in [args.routing] if args.routing else ["label", "subtree"]:
            config = ZeroShotConfig(backbone=args.backbone, max_length=args.max_length, label_text=label_text,
                                    routing=routing)
            classifier.config = config
            dev_routing = classifier.routing_scores(dev_vectors @ label_vectors.T)
            threshold, dev_macro = choose_threshold(dev_routing, dev_gold, hierarchy)
            dev_report = evaluation_report(dev_gold, top_down_decision(dev_routing, hierarchy, threshold), hierarchy, zeros)
            row = {"split": "dev", "label_text": label_text, "routing": routing, "threshold": round(threshold, 4),
                   "micro_f1": round(100 * dev_report["micro_f1"], 2), "macro_f1": round(100 * dev_macro, 2)}
            print(json.dumps(row), flush=True)
            choices.append((dev_macro, config.replace(threshold=threshold), label_vectors))

    _, best, label_vectors = max(choices, key=lambda item: item[0])
    classifier.config = best
    routing = classifier.routing_scores(test_vectors @ label_vectors.T)
    kept = top_down_decision(routing, hierarchy, best.threshold)
    report = evaluation_report(test_gold, decision_scores(routing, kept, best.threshold), hierarchy, zeros)
    assert (consistent_decode(kept, hierarchy) == kept).all()
    print(json.dumps({
        "split": "test", "documents": len(test), "label_text": best.label_text, "routing": best.routing,
        "threshold": round(best.threshold, 4), "micro_f1": round(100 * report["micro_f1"], 2),
        "macro_f1": round(100 * report["macro_f1"], 2),
        "per_depth_macro_f1": {d: round(100 * v, 2) for d, v in report["per_depth_macro_f1"].items()},
        "hierarchical_f1": round(100 * report["hierarchical_f1"], 2),
        "encode_seconds": round(encode_s, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
