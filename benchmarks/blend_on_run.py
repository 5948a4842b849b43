"""The classical blend refitted on a finished run under several fit budgets: what each budget gives
on dev (what training would choose by) and on test (reported only, never chosen by).

    python benchmarks/blend_on_run.py runs/s9-20ng-lr-default [--max-iter 50,100,200] [--history 5] [--fit-documents 0,4000]

The run's model (with its lexical channel, without its blend) scores dev and test once; then for
each budget the blend is fitted as training fits it (path ends as targets, C and w on the
classifier's dev macro-F1, the model's weight α and the decision rule on the blend's dev macro-F1)
(``--fit-documents``: on a seeded sample of at most that many training documents, as training's
``TrainConfig.fit_documents``; 0: every document) and one JSON line is printed: the fit's seconds and iterations, C / w / α, dev macro-F1 by α, the
chosen rule, and dev and test micro / macro-F1 of the blended, decided scores. Alone on the CPU for
the seconds to mean anything; the F1 figures do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core import blend as blend_module  # noqa: E402
from hpt_core.backbone import load_backbone  # noqa: E402
from hpt_core.blend import blended_scores, encoder_max_length, fit_classical_blend, path_ends  # noqa: E402
from hpt_core.config import RunConfig  # noqa: E402
from hpt_core.decoding import decide  # noqa: E402
from hpt_core.evaluation import candidate_decisions, choose_decision  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402
from hpt_core.classifier import HTCClassifier  # noqa: E402
from hpt_core.run_data import load_run_data  # noqa: E402
from hpt_core.sentence import FrozenSentenceEncoder  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--max-iter", default="50,100,200", help="the classifier's L-BFGS iteration budgets to try")
    parser.add_argument("--history", type=int, default=blend_module.HISTORY)
    parser.add_argument("--fit-documents", default="0", help="fitting-sample sizes to try (0: every document)")
    args = parser.parse_args(argv)
    run = Path(args.run_dir)
    hierarchy, train, dev, test = load_run_data(RunConfig.from_json(run / "run.json"))
    model = HTCClassifier.from_pretrained(run / "model")
    started = time.time()
    dev_scores = model.predict_scores([d.text for d in dev], blend=False).numpy()
    test_scores = model.predict_scores([d.text for d in test], blend=False).numpy()
    print(f"model scores on dev and test: {time.time() - started:.1f} s", flush=True)
    dev_y, test_y = hierarchy.multi_hot([d.labels for d in dev]), hierarchy.multi_hot([d.labels for d in test])
    rules = candidate_decisions(dev_y, hierarchy)
    alone, by_rule = choose_decision(dev_y, dev_scores, hierarchy)
    print(json.dumps({"setting": "model alone", "rule": alone, "dev_macro_f1": round(by_rule[alone], 4),
                      "test_micro_f1": round(micro_f1(test_y, decide(test_scores, hierarchy, alone)), 4),
                      "test_macro_f1": round(macro_f1(test_y, decide(test_scores, hierarchy, alone)), 4)}), flush=True)
    mlm, tokenizer = load_backbone(model.config.backbone)  # the pretrained backbone, as training copies it
    encoder = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, encoder_max_length(mlm.base_model))
    targets = path_ends(train, hierarchy)
    blend_module.HISTORY = args.history
    seed = RunConfig.from_json(run / "run.json").train.seed
    settings = [(int(m), int(f)) for m in args.max_iter.split(",") for f in args.fit_documents.split(",")]
    for max_iter, fit_documents in settings:
        blend_module.MAX_ITER = max_iter
        started = time.time()
        blend, dev_q = fit_classical_blend([d.text for d in train], targets, [d.text for d in dev], dev_y, dev_scores,
                                           hierarchy, encoder, rules=rules, max_documents=fit_documents or None,
                                           seed=seed)
        seconds = time.time() - started
        dev_blended = blended_scores(dev_scores, dev_q, blend.model_weight)
        rule, by_rule = choose_decision(dev_y, dev_blended, hierarchy)
        test_blended = blended_scores(test_scores, blend.probabilities([d.text for d in test]), blend.model_weight)
        test_decided = decide(test_blended, hierarchy, rule)
        print(json.dumps({"setting": f"max_iter={max_iter},history={args.history},fit_documents={fit_documents or 'all'}",
                          "fit_seconds": round(seconds, 1),
                          "iterations": blend.choice["iterations"], "C": blend.c, "w": blend.embedding_weight,
                          "alpha": blend.model_weight, "dev_macro_f1_by_alpha": blend.choice["dev_macro_f1_by_model_weight"],
                          "best_classical_dev_macro_f1": max(blend.choice["dev_macro_f1_classical_by_C_w"].values()),
                          "rule": rule, "dev_macro_f1": round(by_rule[rule], 4),
                          "test_micro_f1": round(micro_f1(test_y, test_decided), 4),
                          "test_macro_f1": round(macro_f1(test_y, test_decided), 4)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
