"""What to label next, measured with a simulated annotator (issue 23): the pool is a training set,
the oracle its gold labels. From zero labels (the zero-shot scores choose the first batch), rounds of
``--batch`` documents up to ``--budget`` of the pool; after each round the learner is fitted on the
labelled documents and dev and test macro-F1 are recorded, for each strategy and seed (each seed
draws its pool: 90 % of the training set; the budget is a share of the whole training set).

    python benchmarks/active_learning.py --corpus amazon531 --out runs/al-amazon531
    python benchmarks/active_learning.py --corpus 20ng --out runs/al-20ng
    python benchmarks/active_learning.py --table runs/al-20ng runs/al-amazon531 --plot docs/active_learning.png

Strategies (``hpt_core.suggest``, as the CLI and the Label page offer them): ``margin+diverse`` and
``margin`` (the closest call between siblings on each text's best path, spread out in TF-IDF space or
not), ``flat-margin`` (plain uncertainty: the best label's score minus the runner-up's over the whole
tree, small-text's BreakingTies on our scores) and ``random``.

The learner is the pipeline's lexical channel fitted as ridge regression (``--lexical-fit ridge``:
``hpt_core.lexical``, a few seconds a round, its decision rule chosen on dev as a run chooses it),
not HPT retrained: a round of HPT costs minutes on this CPU, and 3 strategies × 3 seeds × 20 rounds
would take days. What is measured is therefore how well each strategy picks documents for a linear
learner on our scores; the same ranking functions serve the app's Label page with the run's model.

Run it alone for the timings; the F1 figures do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpt_core.data import read_corpus  # noqa: E402
from hpt_core.decoding import DECISIONS, decide  # noqa: E402
from hpt_core.hierarchy import LabelHierarchy  # noqa: E402
from hpt_core.metrics import macro_f1, micro_f1  # noqa: E402
from hpt_core.suggest import suggest  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"
CORPORA = {"20ng": "train", "amazon531": "train", "wos1k": "train"}
TESTS = {"20ng": "test2k"}
STRATEGIES = ("margin+diverse", "margin", "flat-margin", "random")  # hpt_core.suggest's, best first
#: Each seed's pool: this share of the training set, drawn with the seed.
POOL_SHARE = 0.9


def choose(strategy: str, scores: np.ndarray | None, texts: list[str], hierarchy, n: int, seed: int) -> list[int]:
    """n positions of the unlabelled pool ``texts`` to label next (``scores`` (N, C): the learner's)."""
    n = min(n, len(texts))
    if strategy == "random" or scores is None:
        return np.random.default_rng(seed).permutation(len(texts))[:n].tolist()
    return [s.index for s in suggest(scores, texts, hierarchy, n=n, strategy=strategy, seed=seed)]


class Learner:
    """The lexical channel (ridge) fitted on the labelled documents, its rule chosen on dev."""

    def __init__(self, hierarchy, dev_texts, dev_gold):
        self.hierarchy, self.dev_texts, self.dev_gold = hierarchy, dev_texts, dev_gold
        self.groups = np.asarray(hierarchy.depths) - 1

    def fit(self, texts, gold, seed: int):
        from hpt_core.lexical import fit_lexical_channel

        self.channel, _ = fit_lexical_channel(texts, gold, self.groups, self.dev_texts, self.dev_gold,
                                              seed=seed, fitter="ridge")
        dev = self.scores(self.dev_texts)
        figures = {rule: macro_f1(self.dev_gold, decide(dev, self.hierarchy, rule)) for rule in DECISIONS}
        self.rule = max(DECISIONS, key=lambda r: (figures[r], -DECISIONS.index(r)))
        return self

    def scores(self, texts) -> np.ndarray:
        return self.channel.scores(list(texts)).numpy()


def figures(gold, scores, hierarchy, rule) -> dict:
    kept = decide(scores, hierarchy, rule)
    return {"macro_f1": round(100 * macro_f1(gold, kept), 2), "micro_f1": round(100 * micro_f1(gold, kept), 2)}


def zero_shot_scores(hierarchy, pool_texts, dev_docs, cache: Path) -> np.ndarray:
    """The zero-shot classifier's decision scores of the pool (its threshold chosen on dev); cached."""
    if cache.is_file():
        return np.load(cache)
    from hpt_core.zero_shot import ZeroShotClassifier

    clf = ZeroShotClassifier.from_backbone(hierarchy)
    clf.fit_threshold(dev_docs)
    scores = clf.scores(pool_texts).astype(np.float32)
    np.save(cache, scores)
    return scores


def simulate(corpus: str, strategy: str, seed: int, batch: int, budget: float, out: Path, record_to,
             cold_start: str = "zero-shot") -> None:
    """One strategy and seed from zero labels to ``budget`` of the pool; each round's record is
    handed to ``record_to`` as it ends. ``cold_start``: what picks the first batch — the strategy on
    the zero-shot scores, or ``"random"`` (the strategy's name then says so)."""
    hierarchy = LabelHierarchy.read(SHARED / corpus / "taxonomy.tsv")
    pool = everything = read_corpus(SHARED / corpus / f"{CORPORA[corpus]}.jsonl", hierarchy)
    dev = read_corpus(SHARED / corpus / "dev.jsonl", hierarchy)
    test = read_corpus(SHARED / corpus / f"{TESTS.get(corpus, 'test')}.jsonl", hierarchy)
    target = rounds_target(budget, len(pool))
    # Each seed draws its own pool, 90 % of the training set: the margin strategies are deterministic
    # given their pool, so without this their seeds would repeat one curve.
    kept = np.sort(np.random.default_rng(seed).permutation(len(pool))[:int(POOL_SHARE * len(pool))])
    pool = [pool[i] for i in kept]
    texts = [d.text for d in pool]
    gold = hierarchy.multi_hot([d.labels for d in pool])
    dev_gold, test_gold = hierarchy.multi_hot([d.labels for d in dev]), hierarchy.multi_hot([d.labels for d in test])
    learner = Learner(hierarchy, [d.text for d in dev], dev_gold)
    labelled: list[int] = []
    scores = None if strategy == "random" or cold_start == "random" else zero_shot_scores(
        hierarchy, [d.text for d in everything], dev, out / f"{corpus}-zero-shot.npy")[kept]
    name = strategy if cold_start == "zero-shot" or strategy == "random" else f"{strategy}, random first batch"
    round_ = 0
    while len(labelled) < target:
        started = time.perf_counter()
        unlabelled = np.setdiff1d(np.arange(len(pool)), labelled)
        picked = choose(strategy, None if scores is None else scores[unlabelled], [texts[i] for i in unlabelled],
                        hierarchy, min(batch, target - len(labelled)), seed * 1000 + round_)
        labelled += unlabelled[picked].tolist()
        chosen_s = time.perf_counter() - started
        started = time.perf_counter()
        learner.fit([texts[i] for i in labelled], gold[labelled], seed)
        fit_s = time.perf_counter() - started
        round_ += 1
        record = {"corpus": corpus, "strategy": name, "seed": seed, "round": round_, "labelled": len(labelled),
                  "rule": learner.rule, "dev": figures(dev_gold, learner.scores(learner.dev_texts), hierarchy, learner.rule),
                  "test": figures(test_gold, learner.scores([d.text for d in test]), hierarchy, learner.rule),
                  "select_seconds": round(chosen_s, 2), "fit_seconds": round(fit_s, 2)}
        record_to(record)
        if strategy != "random" and len(labelled) < target:
            rest = np.setdiff1d(np.arange(len(pool)), labelled)
            scores = np.zeros((len(pool), len(hierarchy.labels)), dtype=np.float32)
            scores[rest] = learner.scores([texts[i] for i in rest])


def rounds_target(budget: float, n_train: int) -> int:
    """Labels at the end: ``budget`` of the training set, at most the seed's pool (``POOL_SHARE``)."""
    return min(math.ceil(budget * n_train), int(POOL_SHARE * n_train))


def curves(records: list[dict], split: str = "test") -> dict:
    """{(corpus, strategy): [(labelled, mean, std, n seeds)]} over seeds."""
    by: dict = {}
    for r in records:
        by.setdefault((r["corpus"], r["strategy"]), {}).setdefault(r["labelled"], []).append(r[split]["macro_f1"])
    return {key: [(n, float(np.mean(v)), float(np.std(v)), len(v)) for n, v in sorted(points.items())]
            for key, points in by.items()}


def labels_to_reach(curve, goal: float) -> int | None:
    """The fewest labels at which a mean curve reaches ``goal`` (None: never)."""
    return next((n for n, mean, _, _ in curve if mean >= goal - 1e-9), None)


def table(folders: list[Path], plot: Path | None) -> None:
    records = [json.loads(line) for folder in folders for line in (folder / "records.jsonl").read_text().splitlines()
               if line.strip()]
    for split in ("dev", "test"):
        lines = curves(records, split)
        for corpus in sorted({c for c, _ in lines}):
            random_curve = lines.get((corpus, "random"))
            final = random_curve[-1] if random_curve else None
            print(f"\n{corpus}, {split} macro-F1 (mean ± std over seeds) by labelled documents")
            print("| strategy | " + " | ".join(str(n) for n, *_ in next(iter(
                v for (c, _), v in lines.items() if c == corpus))) + " | labels to reach random's final |")
            for (c, strategy), curve in sorted(lines.items()):
                if c != corpus:
                    continue
                need = labels_to_reach(curve, final[1]) if final else None
                share = f"{need} ({100 * need / final[0]:.0f} %)" if need and final else "never"
                print(f"| {strategy} | " + " | ".join(f"{m:.2f} ± {s:.2f}" for _, m, s, _ in curve) + f" | {share} |")
    if plot is not None:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        lines = curves(records, "test")
        corpora = sorted({c for c, _ in lines})
        fig = make_subplots(rows=1, cols=len(corpora), subplot_titles=[f"{c}: test macro-F1" for c in corpora])
        colours = {"margin+diverse": "#d62728", "margin": "#ff7f0e", "flat-margin": "#1f77b4", "random": "#7f7f7f",
                   "margin, random first batch": "#2ca02c"}
        for col, corpus in enumerate(corpora, start=1):
            for (c, strategy), curve in sorted(lines.items()):
                if c != corpus:
                    continue
                x = [n for n, *_ in curve]
                fig.add_trace(go.Scatter(x=x, y=[m for _, m, _, _ in curve], name=strategy, legendgroup=strategy,
                                         showlegend=col == 1, line=dict(color=colours.get(strategy)),
                                         error_y=dict(type="data", array=[s for _, _, s, _ in curve], visible=True)),
                              row=1, col=col)
            fig.update_xaxes(title_text="labelled documents", row=1, col=col)
        fig.update_layout(width=1100, height=420, template="plotly_white", margin=dict(t=40, b=50, l=50, r=20))
        fig.write_image(str(plot))
        print(f"\nplot: {plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=list(CORPORA), default=None)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--cold-start", choices=["zero-shot", "random"], default="zero-shot",
                        help="what picks the first batch: the strategy on the zero-shot scores (default) or random")
    parser.add_argument("--batch", type=int, default=50, help="documents labelled a round")
    parser.add_argument("--budget", type=float, default=0.10,
                        help="stop at this share of the training set labelled (at most the pool: 90 %%)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for records.jsonl (a rerun continues it) and the zero-shot cache")
    parser.add_argument("--table", nargs="+", type=Path, default=None, help="print the tables of these folders")
    parser.add_argument("--plot", type=Path, default=None, help="with --table: the test curves as an image")
    args = parser.parse_args()
    if args.table:
        table(args.table, args.plot)
        return
    if args.corpus is None or args.out is None:
        parser.error("--corpus and --out (or --table)")
    if not (SHARED / args.corpus / "taxonomy.tsv").is_file():
        print(f"skipped: {SHARED / args.corpus} is absent", file=sys.stderr)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    # A rerun continues: the (strategy, seed) runs already complete in records.jsonl are kept and
    # skipped, a partial one is dropped and run again (never two copies of one point in the means).
    n_train = sum(1 for line in (SHARED / args.corpus / f"{CORPORA[args.corpus]}.jsonl").open(encoding="utf-8")
                  if line.strip())
    rounds = math.ceil(rounds_target(args.budget, n_train) / args.batch)
    path = args.out / "records.jsonl"
    earlier = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.is_file() else []
    count: dict = {}
    for r in earlier:
        count[(r["strategy"], r["seed"])] = count.get((r["strategy"], r["seed"]), 0) + 1
    done = {key for key, n in count.items() if n == rounds}
    path.write_text("".join(json.dumps(r) + "\n" for r in earlier if (r["strategy"], r["seed"]) in done), encoding="utf-8")
    with path.open("a", encoding="utf-8") as sink:
        def record_to(record: dict) -> None:
            print(json.dumps(record), flush=True)
            sink.write(json.dumps(record) + "\n")
            sink.flush()

        for strategy in args.strategies:
            for seed in args.seeds:
                name = strategy if args.cold_start == "zero-shot" or strategy == "random" else \
                    f"{strategy}, random first batch"
                if (name, seed) in done:
                    continue
                simulate(args.corpus, strategy, seed, args.batch, args.budget, args.out, record_to, args.cold_start)


if __name__ == "__main__":
    main()
