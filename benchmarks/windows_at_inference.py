"""What reading whole documents at prediction time buys a model trained on first windows only.

A finished run (trained with ``max_windows=1``, the default) scores its dev and test files again with
up to N windows per document (overlap 64 tokens, window scores pooled per label by max or mean),
with nothing retrained: the quality of each setting on dev and test and its time against the first
window alone. Choose a setting by dev; test is reported beside it. (Training with windows —
``benchmarks/windows.sh`` — is the full answer: the model then learns from pooled scores.)

    python benchmarks/windows_at_inference.py --run-dir runs/20ng-cpu-default --windows 1,2,4 [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpt_core.config import RunConfig  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.decoding import decide  # noqa: E402
from hpt_core.decoding import model_decision  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402
from hpt_core.predict import load_run_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--windows", default="1,2,4")
    parser.add_argument("--pooling", default="max,mean")
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    config = RunConfig.from_json(Path(args.run_dir) / "run.json")
    model = load_run_model(args.run_dir)
    h = model.hierarchy
    trained = model.config
    splits = {split: read_corpus(getattr(config.data, split), h) for split in ("dev", "test") if getattr(config.data, split)}
    rows, first_seconds = [], None
    for n in [int(x) for x in args.windows.split(",")]:
        for pooling in (["max"] if n == 1 else args.pooling.split(",")):
            model.config = trained.replace(max_windows=n, window_overlap=min(args.overlap, trained.max_length // 4),
                                           window_pooling=pooling)
            row = {"max_windows": n, "pooling": pooling if n > 1 else "-"}
            seconds = 0.0
            for split, docs in splits.items():
                texts = [d.text for d in docs]
                started = time.perf_counter()
                scores, reading = model.predict_scores(texts, return_reading=True)
                seconds += time.perf_counter() - started
                predicted = decide(scores.numpy(), h, model_decision(model))
                y = h.multi_hot([d.labels for d in docs])
                row[f"{split}_micro_f1"] = round(100 * micro_f1(y, predicted), 2)
                row[f"{split}_macro_f1"] = round(100 * macro_f1(y, predicted), 2)
                row[f"{split}_windows_per_doc"] = round(sum(r["windows"] for r in reading) / len(reading), 2)
            first_seconds = first_seconds or seconds
            row["seconds"] = round(seconds, 1)
            row["time_vs_first_window"] = round(seconds / first_seconds, 2)
            rows.append(row)
            print(json.dumps(row) if args.json else
                  f"windows {n} {row['pooling']:>4}: dev {row['dev_micro_f1']:.2f} / {row['dev_macro_f1']:.2f}"
                  + (f"  test {row['test_micro_f1']:.2f} / {row['test_macro_f1']:.2f}" if "test" in splits else "")
                  + f"  ({row.get('test_windows_per_doc', row['dev_windows_per_doc'])} windows per document, "
                    f"{row['time_vs_first_window']}× the time)", flush=True)
    best = max(rows, key=lambda r: (r["dev_macro_f1"], -r["max_windows"]))
    print(f"chosen on dev: windows {best['max_windows']} {best['pooling']}" if not args.json else json.dumps({"chosen": best}))


if __name__ == "__main__":
    main()
