"""How well the calibrated confidence holds on finished runs: fitted on dev as training fits it,
checked on test — without changing the runs.

    python benchmarks/calibration.py runs/s10-wos-default runs/s9-20ng-lr-default [--json]

For each run its best model (with its lexical channel and blend, under its decision rule) scores
dev and test once; the per-depth calibration (``hpt_core.calibration``) is fitted on dev and
evaluated on dev and on test. Printed: the expected calibration error (ECE, 10 bins) over every
decided label and per depth, the raw sigmoid's ECE beside it (what the page showed before), and
the precision/coverage of abstaining below 0.5, 0.7 and 0.9 on test, each depth's Platt
coefficients (score, margin), and with ``--probe TEXT`` that text's confidence (an off-topic text
should read low). The figures do not depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core.calibration import decided_label_features, evaluate_calibration, expected_calibration_error, fit_calibration  # noqa: E402
from hpt_core.config import RunConfig  # noqa: E402
from hpt_core.decoding import decide_consistently, model_decision  # noqa: E402
from hpt_core.evaluation import gold_and_scores  # noqa: E402
from hpt_core.classifier import HTCClassifier  # noqa: E402
from hpt_core.run_data import load_run_data  # noqa: E402


def raw_sigmoid_ece(y_true, scores, hierarchy, decision: str) -> float:
    """The ECE of sigmoid(score) as the confidence of each decided label: the uncalibrated figure."""
    decided = decide_consistently(scores, hierarchy, decision)
    rows, cols, *_ = decided_label_features(scores, decided, hierarchy)
    probability = 1.0 / (1.0 + np.exp(-np.clip(scores[rows, cols], -60, 60)))
    return expected_calibration_error(probability, np.asarray(y_true).astype(bool)[rows, cols])


def measure(run_dir: Path, probes: list[str] = ()) -> dict:
    config = RunConfig.from_json(run_dir / "run.json")
    _, _, dev_docs, test_docs = load_run_data(config)
    model = HTCClassifier.from_pretrained(run_dir / "model")
    decision = model_decision(model)
    dev_y, dev_scores = gold_and_scores(model, dev_docs, config.train.eval_batch_size, True)
    test_y, test_scores = gold_and_scores(model, test_docs, config.train.eval_batch_size, True)
    calibration = fit_calibration(dev_y, dev_scores, model.hierarchy, decision)
    test = evaluate_calibration(calibration, test_y, test_scores, model.hierarchy, decision)
    pick = {p["threshold"]: p for p in test["curve"]}
    return {"run": run_dir.name, "decision": decision, "dev_documents": len(dev_docs), "test_documents": len(test_docs),
            "dev_ece": calibration.dev["ece"], "test_ece": test["ece"],
            "test_ece_by_depth": {d: part["ece"] for d, part in test["by_depth"].items()},
            "test_raw_sigmoid_ece": round(raw_sigmoid_ece(test_y, test_scores, model.hierarchy, decision), 4),
            "dev_raw_sigmoid_ece": round(raw_sigmoid_ece(dev_y, dev_scores, model.hierarchy, decision), 4),
            "test_abstain": {str(t): {"coverage": pick[t]["coverage"], "precision": pick[t]["precision"]}
                             for t in (0.0, 0.5, 0.7, 0.9)},
            "coefficients_by_depth": {str(d): part.get("coef", part.get("rate")) for d, part in calibration.by_depth.items()},
            "probes": probe_confidences(model, calibration, decision, probes)}


def probe_confidences(model, calibration, decision: str, texts) -> dict:
    """Each probe text's document confidence (its least sure decided label) under ``calibration``."""
    if not texts:
        return {}
    scores = model.predict_scores(list(texts)).numpy()
    decided = decide_consistently(scores, model.hierarchy, decision)
    _, documents = calibration.confidences(scores, decided, model.hierarchy)
    return {text[:60]: round(float(c), 4) for text, c in zip(texts, documents)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    parser.add_argument("--probe", action="append", default=[], metavar="TEXT",
                        help="also print this text's calibrated confidence (repeatable): e.g. an off-topic text")
    args = parser.parse_args(argv)
    for run in args.runs:
        result = measure(Path(run), args.probe)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{result['run']}: ECE dev {result['dev_ece']:.4f} test {result['test_ece']:.4f} "
                  f"(by depth {result['test_ece_by_depth']}; raw sigmoid: dev {result['dev_raw_sigmoid_ece']:.4f}, "
                  f"test {result['test_raw_sigmoid_ece']:.4f}); abstaining on test: {result['test_abstain']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
