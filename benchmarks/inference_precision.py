"""What bfloat16 would buy at prediction time on this machine, one text at a time (issue 11's
latency): the frozen encoder of the classical blend (128 tokens) in float32, under bf16 autocast
(how it runs where the CPU has native bf16) and with its weights stored in bf16; a trained HPT
model's own scores in float32 (how `Predictor` runs by default) and under bf16 autocast.

    python benchmarks/inference_precision.py --run-dir runs/20ng-cpu-s6 [--texts 60] [--agreement 1000]

Median milliseconds per text over the first N 20ng test texts (each cut to 700 characters for the
HPT model: about 150 tokens), and the smallest cosine between bf16 and float32 embeddings.
``--agreement N``: the first N test documents predicted by ``Predictor`` with ``precision="fp32"``
and ``"bf16"`` (the whole default model): time, micro / macro-F1, and how many label sets agree.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core.backbone import load_backbone  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.classifier import HTCClassifier  # noqa: E402
from hpt_core.sentence import FrozenSentenceEncoder  # noqa: E402


def _median_ms(fn, texts) -> float:
    fn(texts[0])  # warm-up
    times = []
    for text in texts:
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/benchmarks/20ng"))
    parser.add_argument("--texts", type=int, default=60)
    parser.add_argument("--agreement", type=int, default=0,
                        help="also predict this many test documents in float32 and in bf16 and compare")
    args = parser.parse_args(argv)
    hierarchy = LabelHierarchy.read(Path(args.data) / "taxonomy.tsv")
    texts = [d.text for d in read_corpus(Path(args.data) / "test2k.jsonl", hierarchy)][: args.texts]
    mlm, tokenizer = load_backbone("minilm")
    encoder = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, 128)
    in_bf16 = FrozenSentenceEncoder(copy.deepcopy(encoder.encoder).to(torch.bfloat16), tokenizer, 128)
    print("frozen encoder, 128 tokens: float32", _median_ms(lambda t: encoder.embed([t]), texts), "ms;",
          "bf16 autocast", _median_ms(lambda t: encoder.embed([t], bf16=True), texts), "ms;",
          "bf16 weights", _median_ms(lambda t: in_bf16.embed([t], bf16=True), texts), "ms")
    full, half = encoder.embed(texts[:20]), encoder.embed(texts[:20], bf16=True)
    print("smallest cosine, bf16 autocast vs float32:", round(float((full * half).sum(1).min()), 6))
    model = HTCClassifier.from_pretrained(Path(args.run_dir) / "model").eval()

    def own_scores(text: str, precision: str):
        return model.model_scores([text[:700]], precision=precision)

    print("HPT's own scores: float32", _median_ms(lambda t: own_scores(t, "fp32"), texts), "ms;",
          "bf16 autocast", _median_ms(lambda t: own_scores(t, "bf16"), texts), "ms")
    if args.agreement:
        # what --precision bf16 changes in whole predictions (the default model: lexical channel, blend)
        from hpt_core.metrics import macro_f1, micro_f1
        from hpt_core.predict import Predictor

        docs = read_corpus(Path(args.data) / "test2k.jsonl", hierarchy)[: args.agreement]
        gold = hierarchy.multi_hot([d.labels for d in docs])
        decided = {}
        for precision in ("fp32", "bf16"):
            predictor = Predictor(model, precision=precision)
            started = time.perf_counter()
            predictions = predictor.predict([d.text for d in docs], batch_size=64)
            seconds = time.perf_counter() - started
            decided[precision] = hierarchy.multi_hot([p.labels for p in predictions])
            print(f"Predictor, {precision}: {len(docs)} test documents in {seconds:.1f} s, micro / macro-F1 "
                  f"{100 * micro_f1(gold, decided[precision]):.2f} / {100 * macro_f1(gold, decided[precision]):.2f}")
        same = int((decided["fp32"] == decided["bf16"]).all(1).sum())
        print(f"identical label sets: {same} of {len(docs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
