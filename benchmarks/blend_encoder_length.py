"""How many tokens the classical blend's frozen encoder should read: the blend fitted on a finished
run's training set with the encoder reading 256 tokens (the baseline's) and 128 tokens, each chosen
on the run's dev file as training chooses (C, w, then the model's weight α); dev figures only.
A length of 0 fits the blend without the encoder (TF-IDF only: what it would cost nothing to run).
``--encoder finetuned`` embeds with the run's fine-tuned encoder instead of a frozen copy of the
pretrained one (what a blend that reuses HPT's own encoder pass would see).

    python benchmarks/blend_encoder_length.py runs/20ng-cpu-s6 [--lengths 256,128,64,0] [--encoder finetuned]

Prints per length: the fit's seconds, the chosen C, w and α, the blend's dev macro-F1 by α and the
best classical dev macro-F1. The model's dev scores are computed once (float32, without a blend).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core.backbone import load_backbone  # noqa: E402
from hpt_core.blend import EMBEDDING_WEIGHTS, fit_classical_blend, leaf_targets  # noqa: E402
from hpt_core.config import RunConfig  # noqa: E402
from hpt_core.decoding import DECISIONS  # noqa: E402
from hpt_core.classifier import HTCClassifier  # noqa: E402
from hpt_core.sentence import FrozenSentenceEncoder  # noqa: E402
from hpt_core.run_data import load_run_data  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--lengths", default="256,128")
    parser.add_argument("--encoder", choices=["pretrained", "finetuned"], default="pretrained")
    args = parser.parse_args(argv)
    run = Path(args.run_dir)
    hierarchy, train, dev, _ = load_run_data(RunConfig.from_json(run / "run.json"))
    model = HTCClassifier.from_pretrained(run / "model")
    started = time.time()
    dev_scores = model.predict_scores([d.text for d in dev], blend=False).numpy()
    print(f"dev scores: {time.time() - started:.1f} s")
    gold = hierarchy.multi_hot([d.labels for d in dev])
    mlm, tokenizer = load_backbone(model.config.backbone)  # the pretrained backbone, as training copies it
    rules = DECISIONS if model.decision in ("auto", *DECISIONS) else (model.decision,)
    for length in (int(x) for x in args.lengths.split(",")):
        # length 0: the embeddings weighted 0 (computed over [CLS] [SEP], then ignored): TF-IDF alone
        encoder = (FrozenSentenceEncoder(model.model.mlm.base_model, model.tokenizer, max(length, 2)) if args.encoder == "finetuned"
                   else FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, max(length, 2)))
        started = time.time()
        blend, _ = fit_classical_blend([d.text for d in train], leaf_targets(train, hierarchy)[0], [d.text for d in dev],
                                       gold, dev_scores, hierarchy, encoder, rules=rules,
                                       embedding_weights=(0.0,) if length == 0 else EMBEDDING_WEIGHTS)
        print(json.dumps({"encoder": args.encoder, "length": length, "fit_seconds": round(time.time() - started, 1), "C": blend.c,
                          "w": blend.embedding_weight, "alpha": blend.model_weight,
                          "dev_macro_f1_by_alpha": blend.choice["dev_macro_f1_by_model_weight"],
                          "best_classical_dev_macro_f1": max(blend.choice["dev_macro_f1_classical_by_C_w"].values())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
