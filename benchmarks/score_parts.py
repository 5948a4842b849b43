"""What each part of a trained model's scores is worth: the model alone, its lexical channel alone,
their sum, and — with a classical blend — the classical classifier alone and the blend of it with
the sum (what the model decides on), under both decision rules (scores > 0, one best path), on the
run's dev and test files.

    python benchmarks/score_parts.py runs/20ng-default            # a Markdown table
    python benchmarks/score_parts.py runs/20ng-default --json

The model's part is what ``HTCClassifier.model_scores`` gives (for a model trained with a channel, the
residual it learned on top of the channel's out-of-fold scores: weak on its own by design).
Computed in float32, as ``evaluate`` computes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core.config import RunConfig  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.decoding import DECISIONS, decide  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402
from hpt_core.predict import load_run_model  # noqa: E402


def score_parts(run_dir: str | Path) -> dict:
    """``{split: {part: {rule: [micro, macro]}}}`` in %, parts ``model``, ``channel``, ``sum`` and,
    with a blend, ``classical`` (its label probabilities as log-odds) and ``blended``."""
    import numpy as np

    run_dir = Path(run_dir)
    config = RunConfig.from_json(run_dir / "run.json")
    model = load_run_model(run_dir)
    h = model.hierarchy
    out = {}
    for split in ("dev", "test"):
        path = getattr(config.data, split)
        if not path:
            continue
        docs = read_corpus(path, h)
        texts = [d.text for d in docs]
        gold = h.multi_hot([d.labels for d in docs])
        own = model.model_scores(texts).numpy()
        parts = {"model": own}
        if model.lexical is not None:
            channel = model.lexical.scores(texts).numpy()
            parts.update(channel=channel, sum=own + channel)
        if model.blend is not None:
            from hpt_core.blend import blended_scores

            probabilities = model.blend.probabilities(texts)  # one frozen-encoder pass for both parts
            q = np.clip(probabilities.astype(np.float64), 1e-12, 1 - 1e-12)
            parts["classical"] = np.log(q) - np.log1p(-q)
            parts["blended"] = blended_scores(parts.get("sum", own), probabilities, model.blend.model_weight)
        out[split] = {name: {rule: [round(100 * micro_f1(gold, decide(s, h, rule)), 2),
                                    round(100 * macro_f1(gold, decide(s, h, rule)), 2)] for rule in DECISIONS}
                      for name, s in parts.items()}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = score_parts(args.run_dir)
    if args.json:
        print(json.dumps(result))
        return 0
    print("| split | part | scores > 0: micro / macro | one best path: micro / macro |")
    print("|---|---|---|---|")
    for split, parts in result.items():
        for name, by_rule in parts.items():
            print(f"| {split} | {name} | {by_rule['threshold'][0]:.2f} / {by_rule['threshold'][1]:.2f} "
                  f"| {by_rule['path'][0]:.2f} / {by_rule['path'][1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
