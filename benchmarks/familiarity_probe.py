"""Can a warning tell a text unlike the training texts? Measured on a finished run (issue 21).

The calibrated confidence does not: a cake recipe read 0.497 on the WOS model against a real
abstract's 0.208 (``benchmarks/calibration.py --probe``), and the share of known words does not
separate it either (69 % against 72 % for the least covered WOS dev document). This measures the
next candidate: a text's mean cosine similarity to its ``k`` nearest training documents in an
encoder's space, with the threshold at the ``quantile`` of dev's own similarities (dev documents
are new to the model, as a user's texts are), and reports

* how many test documents that threshold flags (in-distribution texts wrongly called unfamiliar),
* each probe text's similarity and whether it is flagged.

Encoders: ``pretrained`` — the frozen pretrained backbone's mean-pooled sentence embedding of the
first 128 tokens (what the classical blend embeds with, so a default run computes the training
side already); ``model`` — the trained model's mean text state (the text tokens' final hidden
states, as the text residual pools them).

    python benchmarks/familiarity_probe.py runs/s13-wos runs/s12-20ng-lr-cold runs/s13-amazon-reblend --json

Nothing is written; the run folders are read only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core.backbone import load_backbone  # noqa: E402
from hpt_core.classifier import HTCClassifier  # noqa: E402
from hpt_core.config import RunConfig  # noqa: E402
from hpt_core.pooling import masked_mean  # noqa: E402
from hpt_core.run_data import load_run_data  # noqa: E402
from hpt_core.sentence import FrozenSentenceEncoder  # noqa: E402

PROBES = {
    "cake recipe": "Preheat the oven to 180 degrees. Cream the butter and sugar, beat in the eggs one at a time, "
                   "fold in the flour and bake for 25 minutes until golden.",
    "phone review": "Great phone, the battery lasts two days and the camera is sharp, but the case scratches easily. "
                    "Shipping was fast.",
    "football report": "The striker scored twice in the second half as the home side came back to win the league "
                       "match 3-2.",
    "WOS abstract": "Due to the complex in building experiment environment, difficulty to analysis correctness and "
                    "performance of algorithm in algorithm design experiment in information science courses. In this "
                    "paper, a web-based virtual lab platform for algorithm learning was designed and developed.",
    "chat message": "omg cant believe its monday again lol",
}


def normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def model_states(model, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """The trained model's mean text state (N, d) of each text's first window."""
    out = []
    with torch.inference_mode():
        ids = model.tokenize(texts)
        for start in range(0, len(ids), batch_size):
            batch = model.collate(ids[start:start + batch_size])
            out.append(masked_mean(model.encode(batch), batch["text_mask"]).float().numpy())
    return normalised(np.concatenate(out))


def nearest(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine similarity (N,) of each query to its ``k`` most similar reference rows."""
    similarities = queries @ reference.T
    k = min(k, reference.shape[0])
    return np.sort(np.partition(similarities, -k, axis=1)[:, -k:], axis=1).mean(axis=1)


def measure(run_dir: Path, encoder: str, k: int, quantile: float) -> dict:
    config = RunConfig.from_json(run_dir / "run.json")
    _, train, dev, test = load_run_data(config)
    if encoder == "pretrained":
        mlm, tokenizer = load_backbone(config.model.backbone)
        frozen = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, 128)
        embed = lambda texts: normalised(np.asarray(frozen.embed(texts), dtype=np.float32))  # noqa: E731
    else:
        model = HTCClassifier.from_pretrained(run_dir / "model").model.eval()
        embed = lambda texts: model_states(model, texts)  # noqa: E731
    reference = embed([d.text for d in train])
    dev_similarity = nearest(embed([d.text for d in dev]), reference, k)
    threshold = float(np.quantile(dev_similarity, quantile))
    test_similarity = nearest(embed([d.text for d in test]), reference, k) if test else np.zeros(0)
    probes = nearest(embed(list(PROBES.values())), reference, k)
    return {"run": run_dir.name, "encoder": encoder, "k": k, "quantile": quantile, "train_documents": len(train),
            "dev_documents": len(dev), "threshold": round(threshold, 4),
            "dev_median": round(float(np.median(dev_similarity)), 4),
            "test_flagged_share": round(float(np.mean(test_similarity < threshold)), 4) if test else None,
            "probes": {name: {"similarity": round(float(s), 4), "flagged": bool(s < threshold)}
                       for name, s in zip(PROBES, probes)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--encoder", choices=["pretrained", "model"], action="append")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--quantile", type=float, default=0.01)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = [measure(run, encoder, args.k, args.quantile) for run in args.runs
               for encoder in (args.encoder or ["pretrained", "model"])]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for r in results:
        flagged = ", ".join(f"{n} {p['similarity']:.3f}{' (flagged)' if p['flagged'] else ''}" for n, p in r["probes"].items())
        print(f"{r['run']} [{r['encoder']}] threshold {r['threshold']:.3f} (dev median {r['dev_median']:.3f}); "
              f"test flagged {r['test_flagged_share']}; {flagged}")


if __name__ == "__main__":
    main()
