"""Speed and memory figures of docs/benchmarks.md (issue 11), measured in ONE run so ratios share the machine's load.

Parts (``--parts``, all by default):

- ``attention``: peak memory of one backbone forward + backward at 16 × 512 tokens with attention
  dropout 0.1 (the backbone's) and 0 (PyTorch's fused CPU attention kernel has no dropout).
- ``padding``: padding fraction of one epoch of training batches, random vs length-grouped (WOS, 512 and 256 tokens).
- ``training``: real training (``python -m hpt_core train --max-steps N`` on WOS texts) in a child
  process at 512 and 256 tokens, today's defaults against the old ones (random batches, the
  backbone's attention dropout): training docs/s (steps only, and metrics.json's end-to-end
  ``train_docs_per_s``) and the child's peak resident memory (``os.wait4`` rusage).
- ``step``: one HPT training step (forward + backward, template, graph, scoring, ZMLCE, MLM) against
  one bare encoder forward + backward on the same batch at 512 tokens (no optimiser update in either):
  ``2 × --repeats`` pairs, alternating which goes first; the median of the pairs' ratios.
- ``latency``: single-text ``Predictor`` latency at 128 tokens (median).
- ``batch``: batch prediction of 20ng test documents (``predict_scores``: tokenising, sorted batches,
  template, scoring, input order restored) against the bare encoder's forward on the same token ids
  in the same sorted batches; the bare encoder in input order (what sorting buys); HPT with whole-document windows.
- ``labels``: a generated 5,060-label depth-4 tree against the 141-label WOS tree, same texts and
  batch: model build time, training docs/s and peak memory (child processes), evaluation time,
  ``Predictor`` latency, label-word neighbours time.

    python benchmarks/speed.py --out runs/speed            # everything but labels: ~25 min on a 2-core CPU alone
    python benchmarks/speed.py --parts step,latency         # a few minutes

``--backbone`` takes a model folder (``benchmarks/synthetic.py backbone`` writes a random bert-base)
and ``--device cuda`` runs it on a GPU (``benchmarks/gpu_speed.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hpt_core.batching import epoch_batches, padding_fraction, random_order, sorted_batches  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.evaluation import evaluate_model  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.methods import resolve_method  # noqa: E402
from hpt_core.model import build_model  # noqa: E402
from hpt_core.predict import Predictor  # noqa: E402
from hpt_core.batching import LengthGroupedSampler  # noqa: E402
import synthetic  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _model(args, hierarchy, max_length: int, **options):
    config = resolve_method("hpt", recipe=args.recipe, backbone=args.backbone, max_length=max_length, **options)
    return build_model(config, hierarchy).to(args.device)


def _training_autocast(device: str):
    """The autocast training runs under by default (``TrainConfig.precision="auto"``) on ``device``."""
    from hpt_core.devices import resolve_precision

    return torch.autocast(device, dtype=torch.bfloat16, enabled=resolve_precision("auto", device) == "bf16")


def _attach_default_channel(model, args, n_train: int = 300, n_dev: int = 100):
    """Fit the model's lexical channel (the recipe's: TF-IDF by default; with ``tfidf+sentence`` a
    frozen encoder too) and its classical blend (the recipe's) on a slice of 20ng's training and dev
    files and attach them, with training's own helpers: what a trained model scores with. Their
    cost per text hardly depends on how many documents they were fitted on."""
    import numpy as np

    from hpt_core.blend import fit_classical_blend, leaf_targets
    from hpt_core.finishing import pretrained_copy
    from hpt_core.stacking import fit_lexical

    from hpt_core.classifier import HTCClassifier
    from hpt_core.recipes import pipeline_recipe

    pipeline = pipeline_recipe(args.recipe)
    classifier = HTCClassifier(model, pipeline=pipeline)
    if pipeline.lexical_channel is None and pipeline.blend is None:  # --recipe paper: neither
        return classifier
    h = model.hierarchy
    train = read_corpus(args.ng / "train_lr.jsonl", h)[:n_train]
    dev = read_corpus(args.ng / "dev.jsonl", h)[:n_dev]
    with torch.inference_mode(False), torch.enable_grad():  # L-BFGS needs gradients (batch() runs in inference mode)
        if pipeline.lexical_channel is not None:
            classifier.lexical, _ = fit_lexical(model, train, dev, 0, torch.device(args.device), False, n_folds=2,
                                                 kind=pipeline.lexical_channel)
        if pipeline.blend is not None:
            # Training fits the blend on the whole grid and keeps it only when dev prefers it; here
            # one grid point, always kept: its cost per text is the same.
            dev_scores = np.zeros((len(dev), len(h.labels)), dtype=np.float32)
            classifier.blend, _ = fit_classical_blend([d.text for d in train], leaf_targets(train, h)[0], [d.text for d in dev],
                                                 h.multi_hot([d.labels for d in dev]), dev_scores, h,
                                                 pretrained_copy(model).to(args.device), c_grid=(100.0,),
                                                 embedding_weights=(1.0,))
    return classifier


def _on(batch: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


# ---- parts ---------------------------------------------------------------------------------------
def padding(args) -> dict:
    hierarchy = LabelHierarchy.read(args.wos / "taxonomy.tsv")
    texts = [d.text for d in read_corpus(args.wos / "train.jsonl", hierarchy)]
    out = {}
    for max_length in (512, 256):
        model = _model(args, hierarchy, max_length)
        lengths = [len(ids) + 2 + len(model.layout.slots) + 1 for ids in model.tokenize(texts)]
        grouped = epoch_batches(list(LengthGroupedSampler(lengths, args.batch_size, seed=0)), args.batch_size)
        at_random = epoch_batches(random_order(len(lengths), 0), args.batch_size)
        out[str(max_length)] = {"random": padding_fraction(lengths, at_random),
                                "length_grouped": padding_fraction(lengths, grouped),
                                "median_tokens": statistics.median(lengths)}
    return out


def _start_child(args, run_dir: Path, taxonomy: Path, train: Path, dev: Path, max_length: int, extra: list[str]) -> dict:
    """Start one ``python -m hpt_core train`` in a child process."""
    cmd = [sys.executable, "-m", "hpt_core", "train", "--taxonomy", str(taxonomy), "--train", str(train),
           "--dev", str(dev), "--backbone", args.backbone, "--max-length", str(max_length),
           "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--device", args.device,
           "--run-dir", str(run_dir), *extra]
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    stderr = run_dir.parent / f"{run_dir.name}.stderr"
    with open(stderr, "w") as f:
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=f)
    return {"child": child, "cmd": cmd, "run_dir": run_dir, "stderr": stderr, "started": time.perf_counter(),
            "max_length": max_length, "extra": extra}


def _finish_child(job: dict) -> dict:
    """Wait for a child started by ``_start_child``: its figures and its own peak resident memory."""
    _, status, usage = os.wait4(job["child"].pid, 0)  # this child's own rusage
    wall = time.perf_counter() - job["started"]
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(job['cmd'])} failed:\n{job['stderr'].read_text()[-2000:]}")
    run_dir = job["run_dir"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    steps = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    last_step = [r for r in steps if r["kind"] == "step"][-1]
    return {"max_length": job["max_length"], "options": " ".join(job["extra"]) or "defaults", "wall_s": wall,
            "step_docs_per_s": last_step["docs_per_s"], "train_docs_per_s": metrics["train_docs_per_s"],
            "peak_rss_gb": usage.ru_maxrss / 1024 ** 2}  # ru_maxrss is in KiB on Linux


def _train_child(args, run_dir, taxonomy, train, dev, max_length, extra) -> dict:
    return _finish_child(_start_child(args, run_dir, taxonomy, train, dev, max_length, extra))


def training(args) -> list[dict]:
    """Today's defaults, the defaults in float32 (where the defaults train in bf16) and the old
    defaults (random batches, attention dropout 0.1, float32) side by side: the trainings run at the
    same time, so that all see the same machine load (``--sequential``: one by one, each alone)."""
    from hpt_core.devices import resolve_precision

    rows = []
    before = ["--batching", "random", "--attention-dropout", "0.1", "--precision", "fp32"]
    work = Path(tempfile.mkdtemp(dir=args.out, prefix="training-"))
    fp32 = [["--precision", "fp32"]] if resolve_precision("auto", args.device) == "bf16" else []
    for max_length in args.lengths:
        variants = [[], *fp32] + ([] if args.no_before else [before])
        jobs = []
        for i, extra in enumerate(variants):
            jobs.append(_start_child(args, work / f"{max_length}-{i}" / "run", args.wos / "taxonomy.tsv",
                                     args.wos / "train.jsonl", args.wos / "dev.jsonl", max_length, extra))
            if args.sequential:
                rows.append(_finish_child(jobs.pop()))
        rows += [_finish_child(job) for job in jobs]
        for row in rows[-len(variants):]:
            print(f"  training {row}", file=sys.stderr)
    return rows


def step(args) -> dict:
    hierarchy = LabelHierarchy.read(args.wos / "taxonomy.tsv")
    docs = read_corpus(args.wos / "train.jsonl", hierarchy)[: args.batch_size]
    model = _model(args, hierarchy, 512).train()
    batch = _on(model.collate(model.tokenize([d.text for d in docs])), args.device)
    labels = torch.tensor(hierarchy.multi_hot([d.labels for d in docs]), dtype=torch.float32, device=args.device)
    autocast = _training_autocast(args.device)  # both steps at the training precision

    def hpt_step():
        with autocast:
            loss = model(batch, labels)["loss"]
        loss.backward()
        model.zero_grad(set_to_none=True)

    def bare_step():
        # The same token ids (template slots as placeholders) through the bare encoder.
        with autocast:
            out = model.mlm.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out.last_hidden_state.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)

    # Paired and alternated (HPT then bare, bare then HPT, ...): each pair shares the machine's
    # load of its moment, and the median of the pairs' ratios is robust to a slow moment — a ratio
    # of two medians taken minutes apart moved between 1.02 and 1.24 on this shared machine.
    hpt_step(), bare_step()  # warm-up
    hpt, bare = [], []
    for i in range(2 * args.repeats):
        first, second = ((hpt_step, hpt), (bare_step, bare)) if i % 2 == 0 else ((bare_step, bare), (hpt_step, hpt))
        for fn, times in (first, second):
            _sync(args.device)
            started = time.perf_counter()
            fn()
            _sync(args.device)
            times.append(time.perf_counter() - started)
    ratios = [h / b for h, b in zip(hpt, bare)]
    return {"batch_shape": list(batch["input_ids"].shape), "pairs": len(ratios),
            "hpt_step_s": statistics.median(hpt), "bare_step_s": statistics.median(bare),
            "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
            "hpt_docs_per_s": len(docs) / statistics.median(hpt)}


def latency(args) -> dict:
    hierarchy = LabelHierarchy.read(args.ng / "taxonomy.tsv")
    texts = [d.text for d in read_corpus(args.ng / "test2k.jsonl", hierarchy)][: args.latency_texts]
    model = _model(args, hierarchy, 128)
    out = _latency(Predictor(model), texts, args.device)
    # The reference in the same run: the bare encoder on the same text (tokenising included), so the
    # figure reads as a ratio on a shared machine whose speed varies by 1.3x from hour to hour.
    encoder, tokenizer = model.mlm.base_model, model.tokenizer

    class _Bare:
        @torch.inference_mode()
        def predict(self, batch):
            encoder(**tokenizer(batch, return_tensors="pt", truncation=True, max_length=128).to(args.device))

    out["bare_encoder"] = _latency(_Bare(), texts, args.device)
    out["ratio_to_bare_encoder"] = out["median_ms"] / out["bare_encoder"]["median_ms"]
    # The default model also scores with its lexical channel (TF-IDF) and its classical blend (TF-IDF
    # plus one frozen-encoder forward): "with_default_channel" is the default model's whole latency.
    out["with_default_channel"] = _latency(Predictor(_attach_default_channel(model, args)), texts, args.device)
    return out


def _latency(predictor, texts, device) -> dict:
    predictor.predict([texts[0]])  # warm-up
    times = []
    for text in texts:
        _sync(device)
        started = time.perf_counter()
        predictor.predict([text])
        _sync(device)
        times.append(time.perf_counter() - started)
    return {"median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * sorted(times)[int(0.9 * len(times)) - 1],
            "n": len(times)}


@torch.inference_mode()
def batch(args) -> dict:
    hierarchy = LabelHierarchy.read(args.ng / "taxonomy.tsv")
    texts = [d.text for d in read_corpus(args.ng / "test2k.jsonl", hierarchy)][: args.predict_docs]
    model = _model(args, hierarchy, args.predict_length).eval()
    encoder = model.mlm.base_model
    ids = model.tokenize(texts)
    lengths = [len(x) for x in ids]

    def bare(batches):
        for members in batches:
            rows = [[model.tokenizer.cls_token_id, *ids[i], model.tokenizer.sep_token_id] for i in members]
            width = max(len(r) for r in rows)
            input_ids = torch.tensor([r + [0] * (width - len(r)) for r in rows], device=args.device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=args.device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device == "cuda"):
                encoder(input_ids=input_ids, attention_mask=mask)

    def timed(fn) -> float:
        _sync(args.device)
        started = time.perf_counter()
        fn()
        _sync(args.device)
        return time.perf_counter() - started

    from hpt_core.classifier import as_classifier

    def hpt(m):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device == "cuda"):
            as_classifier(m).predict_scores(texts, batch_size=args.eval_batch_size)

    sorted_order = sorted_batches(lengths, args.eval_batch_size)
    input_order = epoch_batches(range(len(texts)), args.eval_batch_size)
    bare(sorted_order[:1])  # warm-up
    out = {"documents": len(texts), "max_length": args.predict_length, "batch_size": args.eval_batch_size,
           "hpt_s": timed(lambda: hpt(model)), "bare_sorted_s": timed(lambda: bare(sorted_order)),
           "bare_input_order_s": timed(lambda: bare(input_order))}
    out["ratio_hpt_to_bare"] = out["hpt_s"] / out["bare_sorted_s"]
    out["hpt_docs_per_s"] = len(texts) / out["hpt_s"]
    # The default model scores with its lexical channel and its classical blend too (one more encoder
    # forward per document): "with_default_channel" is the default model's whole time.
    with_channel = _attach_default_channel(_model(args, hierarchy, args.predict_length).eval(), args)
    out["with_default_channel_s"] = timed(lambda: hpt(with_channel))
    out["ratio_with_channel_to_bare"] = out["with_default_channel_s"] / out["bare_sorted_s"]
    del with_channel
    if args.windows > 1:
        model.config = model.config.replace(max_windows=args.windows, window_overlap=min(64, args.predict_length // 4))
        windows, _, _ = model.tokenize_windows(texts)
        out["windows"] = {"max_windows": args.windows, "overlap": model.config.window_overlap,
                          "windows_per_doc": sum(len(w) for w in windows) / len(texts),
                          "hpt_s": timed(lambda: hpt(model))}
        out["windows"]["ratio_to_one_window"] = out["windows"]["hpt_s"] / out["hpt_s"]
    return out


def labels(args) -> dict:
    """5,060 labels (depth 4) against the WOS tree (141 labels): same texts, same batch and length."""
    work = Path(tempfile.mkdtemp(dir=args.out, prefix="labels-"))
    big = synthetic.write_tree(work / "t5k", tuple(args.tree_sizes))
    trees = {"wos": args.wos / "taxonomy.tsv", "synthetic": big}
    out = {}
    for name, taxonomy in trees.items():
        folder = work / name
        folder.mkdir(exist_ok=True)
        if name == "wos":
            train, dev = args.wos / "train.jsonl", args.wos / "dev.jsonl"
        else:
            train = synthetic.write_corpus(taxonomy, args.wos / "train.jsonl", 400, folder / "train.jsonl", seed=1)
            dev = synthetic.write_corpus(taxonomy, args.wos / "dev.jsonl", 99, folder / "dev.jsonl", seed=2)
        hierarchy = LabelHierarchy.read(taxonomy)
        started = time.perf_counter()
        model = _model(args, hierarchy, args.labels_length)
        row = {"labels": len(hierarchy.labels), "depth": hierarchy.max_depth, "build_s": time.perf_counter() - started}
        dev_docs = read_corpus(dev, hierarchy)
        counts = torch.zeros(len(hierarchy.labels), dtype=torch.long).numpy()
        started = time.perf_counter()
        evaluate_model(model, dev_docs, counts, args.eval_batch_size)
        row["evaluate_s"] = time.perf_counter() - started
        row["latency"] = _latency(Predictor(model), [d.text for d in dev_docs[:20]], args.device)
        from hpt_core.neighbours import label_word_neighbours

        started = time.perf_counter()
        label_word_neighbours(model, 8)
        row["neighbours_all_labels_s"] = time.perf_counter() - started
        del model
        row["training"] = _train_child(args, folder / "run", taxonomy, train, dev, args.labels_length, [])
        out[name] = row
        print(f"  labels {name}: {row}", file=sys.stderr)
    for key in ("build_s", "evaluate_s"):
        out[f"ratio_{key}"] = out["synthetic"][key] / out["wos"][key]
    out["ratio_latency"] = out["synthetic"]["latency"]["median_ms"] / out["wos"]["latency"]["median_ms"]
    t_big, t_wos = out["synthetic"]["training"], out["wos"]["training"]
    out["ratio_step_time"] = t_wos["step_docs_per_s"] / t_big["step_docs_per_s"]
    return out


def attention(args) -> dict:
    """Peak memory of one forward + backward of the backbone on 16 × 512 tokens, attention dropout
    0.1 against 0, each in a fresh child process: where training memory at 512 tokens goes."""
    out = {}
    for dropout in (0.1, 0.0):
        code = (
            "import resource, sys, torch; sys.path.insert(0, sys.argv[1]);"
            "from hpt_core.backbone import load_backbone, set_attention_dropout;"
            "mlm, _ = load_backbone(sys.argv[2]); set_attention_dropout(mlm, float(sys.argv[3])); mlm.train();"
            "ids = torch.randint(1000, 2000, (16, 512)); base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            "mlm.base_model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.pow(2).mean().backward();"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024 ** 2)"
        )
        result = subprocess.run([sys.executable, "-c", code, str(ROOT), args.backbone, str(dropout)],
                                capture_output=True, text=True, check=True)
        out[f"dropout_{dropout}_peak_increase_gb"] = float(result.stdout.strip().splitlines()[-1])
    return out


def metrics(args) -> dict:
    """``evaluation_report`` alone (no model) on 100 random documents: 5,060 labels against 1,560 and 141."""
    import numpy as np

    from hpt_core.metrics import evaluation_report

    work = Path(tempfile.mkdtemp(dir=args.out, prefix="metrics-"))
    out = {}
    for name, taxonomy in (("wos", args.wos / "taxonomy.tsv"),
                           ("1560", synthetic.write_tree(work / "t1560", (10, 5, 10, 2))),
                           ("5060", synthetic.write_tree(work / "t5060", tuple(args.tree_sizes)))):
        hierarchy = LabelHierarchy.read(taxonomy)
        rng = np.random.default_rng(0)
        leaves = hierarchy.leaves()
        gold = hierarchy.multi_hot([hierarchy.path(leaves[rng.integers(len(leaves))]) for _ in range(100)])
        scores = rng.normal(size=gold.shape).astype(np.float32)
        started = time.perf_counter()
        evaluation_report(gold, scores, hierarchy, np.ones(len(hierarchy.labels), dtype=np.int64))
        out[name] = {"labels": len(hierarchy.labels), "evaluation_report_s": time.perf_counter() - started}
    return out


PARTS = {"metrics": metrics, "attention": attention, "padding": padding, "training": training, "step": step, "latency": latency, "batch": batch, "labels": labels}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--out", default=os.environ.get("OUT") or "runs/speed", help="results (speed.json) and scratch runs")
    parser.add_argument("--wos", type=Path, default=SHARED / "wos1k")
    parser.add_argument("--ng", type=Path, default=SHARED / "20ng")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--recipe", default="small-data")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--lengths", default="512,256", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--steps", type=int, default=12, help="optimiser steps of each real training")
    parser.add_argument("--no-before", action="store_true", help="skip the old-defaults training rows")
    parser.add_argument("--sequential", action="store_true", help="the two training rows one after the other")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="step: 2 × this many timed pairs")
    parser.add_argument("--latency-texts", type=int, default=100)
    parser.add_argument("--predict-docs", type=int, default=2000)
    parser.add_argument("--predict-length", type=int, default=256)
    parser.add_argument("--windows", type=int, default=4, help="max_windows of the windowed batch-prediction row (1: skip)")
    parser.add_argument("--labels-length", type=int, default=256)
    parser.add_argument("--tree-sizes", default="10,5,10,9", type=lambda s: [int(x) for x in s.split(",")])
    args = parser.parse_args(argv)
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    result = {"device": args.device, "threads": torch.get_num_threads(), "backbone": args.backbone,
              "recipe": args.recipe, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for part in args.parts.split(","):
        started = time.perf_counter()
        result[part] = PARTS[part](args)
        print(f"{part} ({time.perf_counter() - started:.0f} s): {json.dumps(result[part])}", file=sys.stderr)
        (args.out / "speed.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
