"""What the classical blend's new fitter changes (issue 25): its classifier alone (TF-IDF + frozen
encoder embeddings, one softmax over path ends, multi-path documents as k rows of weight 1/k),
fitted over the blend's grids as before this change (scikit-learn's lbfgs, up to 2,000 iterations,
C ∈ {1, 10, 100, 1000}, one warm-started path over C per embedding weight) and as now
(``hpt_core.blend``: the bounded torch L-BFGS of ``hpt_core.linear_fit``, ``blend.C_GRID``). Both
read the same features (embedded once, not timed); printed per corpus and setting: the seconds of
the grid's fits, the chosen C and w, and the classifier's dev micro / macro-F1 at that choice — the
figure the blend's grid is chosen by.

    python benchmarks/blend_fit_budget.py [--data 20ng:train_lr wos1k:train amazon531:train] [--settings before now]

Run alone: the fits use both cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core import blend  # noqa: E402
from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"
BEFORE_C_GRID = (1.0, 10.0, 100.0, 1000.0)


def _decided(hierarchy, labels) -> np.ndarray:
    return hierarchy.multi_hot([[] if label == blend.NO_LABEL else [label] for label in labels])


def before(features, targets, weights, dev_features, dev_y, hierarchy) -> tuple:
    """Session 8's grid: scikit-learn's lbfgs, a warm-started path over C. Returns (figure, C, predictions)."""
    from sklearn.linear_model import LogisticRegression

    model, best = LogisticRegression(max_iter=2000, warm_start=True), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in BEFORE_C_GRID:
            model.set_params(C=c).fit(features, targets, sample_weight=weights)
            predicted = model.predict(dev_features)
            figure = macro_f1(dev_y, _decided(hierarchy, predicted))
            if best is None or figure > best[0]:
                best = (figure, c, copy.deepcopy(predicted))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["20ng:train_lr", "wos1k:train", "amazon531:train"])
    parser.add_argument("--settings", nargs="+", default=["before", "now"], choices=["before", "now"])
    parser.add_argument("--max-iter", type=int, default=blend.MAX_ITER, help="'now' with another L-BFGS budget")
    parser.add_argument("--history", type=int, default=blend.HISTORY)
    parser.add_argument("--max-weights", type=int, default=blend.MAX_WEIGHTS,
                        help="'now' with another bound on the TF-IDF weights (columns = this // classes)")
    parser.add_argument("--embedding-weights", default=",".join(map(str, blend.EMBEDDING_WEIGHTS)))
    args = parser.parse_args(argv)
    # the fit reads these from the module at each call
    blend.MAX_ITER, blend.HISTORY, blend.MAX_WEIGHTS = args.max_iter, args.history, args.max_weights
    embedding_weights = tuple(float(w) for w in args.embedding_weights.split(","))
    from scipy import sparse

    from hpt_core.backbone import load_backbone
    from hpt_core.config import HPTConfig
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(HPTConfig().backbone)
    encoder = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, blend.encoder_max_length(mlm.base_model))
    for item in args.data:
        name, split = item.split(":")
        h = LabelHierarchy.read(SHARED / name / "taxonomy.tsv")
        train, dev = (read_corpus(SHARED / name / f"{s}.jsonl", h) for s in (split, "dev"))
        dev_y = h.multi_hot([d.labels for d in dev])
        texts, dev_texts = [d.text for d in train], [d.text for d in dev]
        embedded, dev_embedded = blend.embed_frozen(encoder, texts), blend.embed_frozen(encoder, dev_texts)

        # the frozen encoder's embeddings, computed once for both settings
        cached = SimpleNamespace(width=encoder.width, max_length=encoder.max_length, encoder=encoder.encoder,
                                 embed=lambda batch, bf16=False, progress=None, _t=texts, _e=embedded, _d=dev_embedded:
                                 _e if batch == _t else _d)

        for setting in args.settings:
            started = time.perf_counter()
            if setting == "now":
                fitted, _ = blend.fit_classical_blend(texts, blend.path_ends(train, h), dev_texts, dev_y,
                                                      np.zeros(dev_y.shape, dtype=np.float32), h, cached,
                                                      model_weights=(1.0,), embedding_weights=embedding_weights)
                seconds = time.perf_counter() - started
                c, w = fitted.c, fitted.embedding_weight
                # the classifier's own decision: its most probable class, a path end with its ancestors
                class_p = fitted.class_probabilities_of(fitted._vectorizer.transform(dev_texts), dev_embedded)
                decided = blend.subtree_matrix(fitted.classes, h).toarray()[class_p.argmax(1)].astype(dev_y.dtype)
                extra = {"iterations_of_chosen_fit": fitted.choice["iterations"]}
            else:
                ends = blend.path_ends(train, h)
                rows = np.asarray([i for i, e in enumerate(ends) for _ in (e or [None])])
                targets = [label for e in ends for label in (e or [blend.NO_LABEL])]
                weights = np.asarray([1.0 / max(len(e), 1) for e in ends for _ in (e or [None])])
                vectorizer, tfidf = blend.fit_vectorizer(texts, len(set(targets)))
                dev_tfidf = vectorizer.transform(dev_texts)
                best = None
                for w in embedding_weights:
                    feats = sparse.hstack([tfidf, sparse.csr_matrix(embedded * w)], format="csr")[rows]
                    dev_feats = sparse.hstack([dev_tfidf, sparse.csr_matrix(dev_embedded * w)], format="csr")
                    figure, c, predicted = before(feats, targets, None if np.all(weights == 1) else weights,
                                                  dev_feats, dev_y, h)
                    if best is None or figure > best[0]:
                        best = (figure, c, w, predicted)
                seconds = time.perf_counter() - started
                _, c, w, predicted = best
                decided = _decided(h, predicted)
                extra = {}
            print(json.dumps({"data": item, "setting": setting, "fit_seconds": round(seconds, 1), "C": c, "w": w,
                              "dev_micro_f1": round(100 * micro_f1(dev_y, decided), 2),
                              "dev_macro_f1": round(100 * macro_f1(dev_y, decided), 2),
                              **({"max_iter": args.max_iter, "history": args.history, "max_weights": args.max_weights,
                                  "embedding_weights": embedding_weights} if setting == "now" else {}), **extra}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
