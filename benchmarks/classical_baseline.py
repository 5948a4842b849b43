"""The classical baselines HPT is compared against: sparse and dense features into one multiclass
logistic regression over leaves (what a practitioner tries in one minute).

Three systems (``--system``), the same protocol for each:

* ``tfidf``: TF-IDF over word unigrams and bigrams (``sublinear_tf=True``, ``min_df=2``), fitted
  on the training file; C from ``C_GRID``.
* ``embeddings``: the bundled MiniLM's mean-pooled, L2-normalised sentence embedding of the first
  256 tokens (``--encoder`` another backbone); C from ``WIDE_C_GRID``.
* ``tfidf+embeddings``: both, side by side (``[tfidf | w × embedding]``); C from ``WIDE_C_GRID``
  and the embedding weight w from ``EMBEDDING_WEIGHTS``, chosen together on dev.
  ``--system all`` (the default) runs the three.

Common to the three:

* ONE multiclass :class:`~sklearn.linear_model.LogisticRegression` over leaf paths: the
  target of a document is its deepest label (the benchmark documents each have one path);
* on a **multi-path** training set (some document has several path ends: RCV1, NYT, Amazon-531),
  where one class per document cannot express two paths, one-vs-rest binary logistic regressions
  over every label that has a training document (liblinear), each label's probability read as a
  score (its logit), and the decision rule chosen on dev like ``hpt_core``'s ``auto``: scores
  above 0, one best path, or top-down complete paths (``--one-path`` keeps the multiclass model,
  the behaviour before session 8, and reports how many documents lost a path);
* ``C`` (and w) chosen on the dev file by dev macro-F1 (the benchmark's "present" rule), the
  model trained on the training file only;
* the predicted label expanded to its ancestors and scored on the test file with
  :func:`hpt_core.metrics.evaluation_report`.

Usage (from the repository root)::

    python benchmarks/classical_baseline.py --taxonomy ../shared/data/benchmarks/wos1k/taxonomy.tsv \\
        --train ../shared/data/benchmarks/wos1k/train.jsonl \\
        --dev ../shared/data/benchmarks/wos1k/dev.jsonl \\
        --test ../shared/data/benchmarks/wos1k/test.jsonl [--json]

It prints a small table per system (chosen C and w, micro/macro-F1 in %, per-depth macro-F1,
wall time), or with ``--json`` one JSON object per system.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository's hpt_core importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joblib import Parallel, delayed  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from hpt_core.blend import leaf_targets  # noqa: E402
from hpt_core.data import label_counts, low_resource_sample, read_corpus  # noqa: E402
from hpt_core.errors import HPTInputError  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.metrics import evaluation_report, macro_f1  # noqa: E402

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
#: The grids of the dense rows (issue 8's protocol): C for the LR, w for the embedding block.
WIDE_C_GRID = (1.0, 10.0, 100.0, 1000.0)
EMBEDDING_WEIGHTS = (0.5, 1.0, 2.0)
SYSTEMS = ("tfidf", "embeddings", "tfidf+embeddings")
SYSTEM_NAMES = {
    "tfidf": "tfidf(1-2gram, sublinear, min_df=2) + multiclass logistic regression over leaves",
    "embeddings": "mean-pooled L2-normalised encoder embeddings (first 256 tokens) + multiclass logistic regression over leaves",
    "tfidf+embeddings": "[tfidf | w x encoder embeddings] + multiclass logistic regression over leaves",
}


def _fit(x, targets, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000).fit(x, targets)


class _OneVsRest:
    """Binary logistic regressions, one per label column of a multi-hot ``y`` (N, C) that has both
    classes; ``scores(x)`` (N, C) are their logits (constant columns: a large negative or positive score)."""

    def __init__(self, x, y: np.ndarray, c: float):
        import warnings

        self.n_labels, self.models, self.constant = y.shape[1], {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for j in range(y.shape[1]):
                column = y[:, j]
                if column.min() == column.max():
                    self.constant[j] = 20.0 if column[0] else -20.0
                else:
                    self.models[j] = LogisticRegression(C=c, solver="liblinear").fit(x, column)

    def scores(self, x) -> np.ndarray:
        out = np.zeros((x.shape[0], self.n_labels), dtype=np.float32)
        for j, value in self.constant.items():
            out[:, j] = value
        for j, model in self.models.items():
            out[:, j] = model.decision_function(x)
        return out


def sentence_embeddings(texts: list[str], encoder: str = "minilm", max_length: int = 256, batch_size: int = 32) -> np.ndarray:
    """Mean-pooled (over the attention mask), L2-normalised final hidden states of ``encoder`` for
    the first ``max_length`` tokens of each text: (N, d) float32. Sentence-transformers' pooling."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from hpt_core.backbone import resolve_backbone
    from hpt_core.sentence import embed_texts

    path = resolve_backbone(encoder)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval().to(device)
    return embed_texts(model, tokenizer, list(texts), max_length, batch_size)


def run_baseline(taxonomy, train, dev, test, c_grid=None, n_jobs=None, low_resource=None, seed=42,
                 system: str = "tfidf", encoder: str = "minilm", embedding_weights=EMBEDDING_WEIGHTS,
                 one_path: bool = False) -> dict:
    """Fit the baseline ``system`` on ``train``, choose C (and w) on ``dev``, evaluate on ``test``.

    ``c_grid``: the C values tried (default ``C_GRID`` for ``tfidf``, ``WIDE_C_GRID`` otherwise);
    ``encoder``: the backbone of the embedding rows (``"minilm"``, the bundled one, or a folder);
    ``embedding_weights``: the w tried for ``tfidf+embeddings``.

    ``low_resource``: fit on the seeded sample of train that ``hpt_core`` training draws with the
    same fraction and seed (so the two systems see the same documents).

    ``n_jobs`` processes fit the grid's models (default: one per core, at most one per C).
    Returns a JSON-ready dict: ``system``, ``C`` and ``w`` (chosen), ``dev_macro_f1_by_C``, document
    and feature counts, ``multi_path_documents`` per split, ``test`` (the
    :func:`~hpt_core.metrics.evaluation_report` of the test file) and ``wall_time_s``.
    """
    if system not in SYSTEMS:
        raise HPTInputError(f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}")
    if c_grid is None:
        c_grid = C_GRID if system == "tfidf" else WIDE_C_GRID
    weights = tuple(embedding_weights) if system == "tfidf+embeddings" else (None,)
    if n_jobs is None:
        n_jobs = max(1, min(len(c_grid) * len(weights), os.cpu_count() or 1))
    start = time.perf_counter()
    hierarchy = LabelHierarchy.read(taxonomy)
    train_docs = read_corpus(train, hierarchy)
    if low_resource is not None and low_resource < 1.0:
        train_docs = low_resource_sample(train_docs, low_resource, seed)
    dev_docs = read_corpus(dev, hierarchy)
    test_docs = read_corpus(test, hierarchy)

    train_targets, train_multi = leaf_targets(train_docs, hierarchy)
    if any(t is None for t in train_targets):
        n = sum(t is None for t in train_targets)
        raise HPTInputError(
            f"{n} training document(s) have no label; the baseline needs one per document", train
        )
    _, dev_multi = leaf_targets(dev_docs, hierarchy)
    _, test_multi = leaf_targets(test_docs, hierarchy)

    y_dev = hierarchy.multi_hot([d.labels for d in dev_docs])
    y_test = hierarchy.multi_hot([d.labels for d in test_docs])

    texts = {"train": [d.text for d in train_docs], "dev": [d.text for d in dev_docs], "test": [d.text for d in test_docs]}
    blocks: dict[str, list] = {split: [] for split in texts}
    if system in ("tfidf", "tfidf+embeddings"):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        blocks["train"].append(vectorizer.fit_transform(texts["train"]))
        blocks["dev"].append(vectorizer.transform(texts["dev"]))
        blocks["test"].append(vectorizer.transform(texts["test"]))
    if system in ("embeddings", "tfidf+embeddings"):
        for split in texts:
            blocks[split].append(sentence_embeddings(texts[split], encoder))

    def features(split: str, w):
        """The split's design matrix; the embedding block (the last one) scaled by ``w``."""
        parts = blocks[split]
        if len(parts) == 1:
            return parts[0]
        return sparse.hstack([parts[0], sparse.csr_matrix(parts[1] * w)], format="csr")

    def expand(predicted_leaves) -> np.ndarray:
        return hierarchy.multi_hot([[label] for label in predicted_leaves])

    grid = [(float(c), w) for w in weights for c in c_grid]
    if train_multi and not one_path:
        return _multi_path_baseline(system, hierarchy, train_docs, dev_docs, test_docs, features, grid, n_jobs,
                                    {"train": train_multi, "dev": dev_multi, "test": test_multi}, start)
    # One fit per (C, w), spread over the cores (lbfgs with default tolerance: the figures quoted
    # in the docs come from this exact setting).
    models = Parallel(n_jobs=n_jobs)(
        delayed(_fit)(features("train", w), train_targets, c) for c, w in grid
    )
    dev_macro: dict[str, float] = {}
    best_c, best_w, best_score, best_model = None, None, -1.0, None
    for (c, w), model in zip(grid, models):
        score = macro_f1(y_dev, expand(model.predict(features("dev", w))))
        dev_macro[repr(c) if w is None else f"C={c!r},w={w!r}"] = score
        if score > best_score:  # ties keep the earlier (smaller) C, then the smaller w
            best_c, best_w, best_score, best_model = c, w, score, model

    y_pred = expand(best_model.predict(features("test", best_w)))
    scores = np.where(y_pred > 0, 1.0, -1.0)
    report = evaluation_report(y_test, scores, hierarchy, label_counts(train_docs, hierarchy))
    return {
        "system": system,
        "description": SYSTEM_NAMES[system],
        "C": best_c,
        "w": best_w,
        "dev_macro_f1_by_C": dev_macro,
        "n_train": len(train_docs),
        "n_dev": len(dev_docs),
        "n_test": len(test_docs),
        "n_features": int(features("train", best_w).shape[1]),
        "multi_path_documents": {"train": train_multi, "dev": dev_multi, "test": test_multi},
        "test": report,
        "wall_time_s": round(time.perf_counter() - start, 2),
    }


def _multi_path_baseline(system, hierarchy, train_docs, dev_docs, test_docs, features, grid, n_jobs,
                         multi_path: dict, start: float) -> dict:
    """One-vs-rest over every label (see the module docstring), C (and w) and the decision rule
    chosen together on dev macro-F1."""
    from hpt_core.decoding import decide
    from hpt_core.evaluation import candidate_decisions

    y_train = hierarchy.multi_hot([d.labels for d in train_docs])
    y_dev = hierarchy.multi_hot([d.labels for d in dev_docs])
    y_test = hierarchy.multi_hot([d.labels for d in test_docs])
    # max_nbytes=None: no read-only memory maps, which liblinear cannot take
    models = Parallel(n_jobs=n_jobs, max_nbytes=None)(delayed(_OneVsRest)(features("train", w), y_train, c) for c, w in grid)
    rules = candidate_decisions(y_dev, hierarchy)
    dev_macro, best = {}, None
    for (c, w), model in zip(grid, models):
        dev_scores = model.scores(features("dev", w))
        for rule in rules:
            score = macro_f1(y_dev, decide(dev_scores, hierarchy, rule))
            dev_macro[f"C={c!r}" + ("" if w is None else f",w={w!r}") + f",{rule}"] = score
            if best is None or score > best[0]:  # ties keep the earlier grid point and rule
                best = (score, c, w, rule, model)
    _, c, w, rule, model = best
    test_scores = model.scores(features("test", w))
    report = evaluation_report(y_test, test_scores, hierarchy, label_counts(train_docs, hierarchy), rule)
    return {
        "system": system, "description": SYSTEM_NAMES[system] + ", one-vs-rest over labels (multi-path)",
        "C": c, "w": w, "decision": rule, "dev_macro_f1_by_C": dev_macro,
        "n_train": len(train_docs), "n_dev": len(dev_docs), "n_test": len(test_docs),
        "n_features": int(features("train", w).shape[1]), "multi_path_documents": multi_path,
        "test": report, "wall_time_s": round(time.perf_counter() - start, 2),
    }


def format_table(result: dict) -> str:
    rep = result["test"]
    rows = [
        ("system", result["system"]),
        ("C (chosen on dev)", f"{result['C']:g}"),
        ("test micro-F1 (%)", f"{100 * rep['micro_f1']:.2f}"),
        ("test macro-F1 (%)", f"{100 * rep['macro_f1']:.2f}"),
    ]
    if result.get("w") is not None:
        rows.insert(2, ("w (chosen on dev)", f"{result['w']:g}"))
    if result.get("decision"):
        rows.insert(2, ("decision (chosen on dev)", result["decision"]))
    if rep.get("multi_path") is not None:
        rows.append(("test multi-path documents micro / macro-F1 (%)",
                     f"{100 * rep['multi_path']['micro_f1']:.2f} / {100 * rep['multi_path']['macro_f1']:.2f}"))
    for depth, value in rep["per_depth_macro_f1"].items():
        rows.append((f"  depth {depth} macro-F1 (%)", f"{100 * value:.2f}"))
    rows += [
        ("documents train/dev/test", f"{result['n_train']}/{result['n_dev']}/{result['n_test']}"),
        ("wall time (s)", f"{result['wall_time_s']:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taxonomy", required=True, help="HiAGM taxonomy file (taxonomy.tsv)")
    parser.add_argument("--train", required=True, help="training corpus (JSON Lines)")
    parser.add_argument("--dev", required=True, help="dev corpus, used to choose C")
    parser.add_argument("--test", required=True, help="test corpus, evaluated once")
    parser.add_argument("--low-resource", type=float, default=None,
                        help="fit on a seeded sample of this fraction of train (the one hpt_core train --low-resource draws)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the low-resource sample")
    parser.add_argument("--system", choices=[*SYSTEMS, "all"], default="all",
                        help="which baseline: TF-IDF, encoder embeddings, or both as one feature vector (default: all three)")
    parser.add_argument("--encoder", default="minilm", help="backbone of the embedding rows (default: the bundled MiniLM)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per system instead of tables")
    parser.add_argument("--one-path", action="store_true",
                        help="on multi-path data keep the multiclass leaf model (one path per document), as before session 8")
    args = parser.parse_args(argv)
    systems = SYSTEMS if args.system == "all" else (args.system,)
    try:
        results = [run_baseline(args.taxonomy, args.train, args.dev, args.test, low_resource=args.low_resource,
                                seed=args.seed, system=system, encoder=args.encoder, one_path=args.one_path)
                   for system in systems]
    except HPTInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        print("\n\n".join(format_table(result) for result in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
