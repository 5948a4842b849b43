"""The cost table of docs/benchmarks.md (issue 25): wall time and peak memory of each phase of the
default pipeline (the small-data recipe) at N training documents × C labels, and each phase's
fitted exponent in N and C.

Cells (``--cells``, default all nine): N ∈ {1000, 3000, 10000} × C ∈ {38, 531, 5060}:

* C = 38: 20ng's training texts and labels (``train.jsonl``, 10,183 documents);
* C = 531: Amazon-531's training documents, then (past its 3,538) 20ng training texts with a random
  Amazon-531 leaf path each;
* C = 5,060: 20ng training texts with a random leaf path of a generated depth-4 tree (10·5·10·9,
  ``benchmarks/synthetic.py``).

Dev is 1,000 documents in every cell (20ng dev; Amazon-531 dev; 20ng dev texts on the generated
tree), so the phases that read dev cost the same across N. Each cell runs in its own process
(peak memory is that process's ``ru_maxrss`` after each phase: the peak *so far*). Phases:

* ``tokenising`` the training texts;
* ``lexical C grid`` and ``lexical out-of-fold``: the lexical channel's fits (training's
  ``stacking.fit_lexical``, by the recipe's ``lexical_fit``: the C grid on dev — for the ridge, with
  its Gram matrix — then the folds, and, above the recipe's ``fit_documents``, the scores of the
  documents outside the fitting sample);
* ``training epoch``: ``--steps`` real optimiser steps (batch 16, length-grouped, bf16 autocast
  where native, AdamW), batches spread evenly over the epoch, timed and scaled (mean) to one
  epoch of ⌈N / 16⌉ steps — *extrapolated*, stated so;
* ``dev evaluation``: the model's scores on the 1,000 dev documents (what each epoch's dev pass costs);
* ``training (default epochs)``: (epoch + dev evaluation) times the epochs the recipe gives the
  cell on a CPU (``TrainConfig.cpu_token_budget``): the model's own training time;
* ``blend fit``: the classical blend's fit (frozen-encoder embeddings of train and dev, the grid,
  the model's weight on dev) on the untrained model's dev scores;
* ``decision``: choosing the decision rule on dev;
* ``scoring 1,000`` and ``predict one``: ``Predictor`` on 1,000 dev texts (model, lexical channel
  and blend) and on one text (median of 5).

    python benchmarks/costs.py --out runs/costs                       # all nine cells, alone
    python benchmarks/costs.py --cells 1000x38,3000x38 --out runs/costs
    python benchmarks/costs.py --table runs/costs                     # the markdown table and exponents

Each cell writes ``<out>/<N>x<C>.json``; ``--table`` reads whatever cells exist.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hpt_core.config import LEXICAL_FITTERS  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "benchmarks"
SIZES = (1000, 3000, 10000)
LABELS = (38, 531, 5060)
DEV = 1000
PHASES = ("tokenising", "lexical C grid", "lexical out-of-fold", "training epoch", "dev evaluation",
          "training (default epochs)", "blend fit", "decision", "scoring 1,000", "predict one")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _cell_data(n: int, c: int, work: Path):
    """(taxonomy path, train documents, dev documents) as dicts for the cell (see the docstring)."""
    rng = random.Random(0)
    ng_train = _jsonl(SHARED / "20ng" / "train.jsonl")
    rng.shuffle(ng_train)
    ng_dev = _jsonl(SHARED / "20ng" / "dev.jsonl")[:DEV]
    if c == 38:
        return SHARED / "20ng" / "taxonomy.tsv", ng_train[:n], ng_dev
    if c == 531:
        from hpt_core.hierarchy import LabelHierarchy

        taxonomy = SHARED / "amazon531" / "taxonomy.tsv"
        real = _jsonl(SHARED / "amazon531" / "train.jsonl")
        h = LabelHierarchy.read(taxonomy)
        leaves = h.leaves()
        extra = [{"text": d["text"], "labels": list(h.path(rng.choice(leaves)))} for d in ng_train[: max(0, n - len(real))]]
        return taxonomy, (real + extra)[:n], _jsonl(SHARED / "amazon531" / "dev.jsonl")[:DEV]
    import synthetic
    from hpt_core.hierarchy import LabelHierarchy

    taxonomy = synthetic.write_tree(work / "tree5060", (10, 5, 10, 9))
    h = LabelHierarchy.read(taxonomy)
    leaves = h.leaves()
    relabel = lambda docs: [{"text": d["text"], "labels": list(h.path(rng.choice(leaves)))} for d in docs]  # noqa: E731
    return taxonomy, relabel(ng_train[:n]), relabel(ng_dev)


def run_cell(n: int, c: int, steps: int, work: Path, lexical_fit: str | None = None) -> dict:
    """Every phase of the default pipeline on one cell, in this process; the cell's JSON is
    rewritten after each phase, so a cell stopped by ``--cell-timeout`` keeps what it measured."""
    import numpy as np
    import torch

    from hpt_core.batching import LengthGroupedSampler
    from hpt_core.blend import path_ends
    from hpt_core.classifier import HTCClassifier
    from hpt_core.config import RunConfig, DataSpec
    from hpt_core.recipes import pipeline_recipe, train_recipe
    from hpt_core.data import Document
    from hpt_core.evaluation import candidate_decisions, choose_decision
    from hpt_core.hierarchy import LabelHierarchy
    from hpt_core import kernel_ridge
    from hpt_core.lexical import C_GRID, RIDGE_FITTERS
    from hpt_core.methods import resolve_method
    from hpt_core.model import build_model
    from hpt_core.predict import Predictor
    from hpt_core.finishing import pretrained_copy
    from hpt_core.stacking import fit_lexical
    from hpt_core.training import _optimizer, native_bf16, within_cpu_budget

    out = {"N": n, "C": c, "steps_timed": steps, "phases": {}}

    def record(phase: str, seconds: float, **extra) -> None:
        out["phases"][phase] = {"seconds": round(seconds, 2), "peak_rss_gb_so_far": round(_peak_gb(), 2), **extra}
        print(f"{n}x{c} {phase}: {seconds:.1f} s, peak {_peak_gb():.2f} GB", file=sys.stderr, flush=True)
        (work / f"{n}x{c}.json").write_text(json.dumps(out, indent=2))

    taxonomy, train_raw, dev_raw = _cell_data(n, c, work)
    h = LabelHierarchy.read(taxonomy)
    train = [Document(d["text"], list(d["labels"])) for d in train_raw]
    dev = [Document(d["text"], list(d["labels"])) for d in dev_raw]
    out["labels"] = len(h.labels)
    out["multi_path_train_documents"] = sum(len(e) > 1 for e in path_ends(train, h))
    config = RunConfig(data=DataSpec("t", "a", "b"), model=resolve_method("hpt", recipe="small-data"),
                       train=train_recipe("small-data"), pipeline=pipeline_recipe(
                           "small-data", **({"lexical_fit": lexical_fit} if lexical_fit else {})))
    model = build_model(config.model, h)
    classifier = HTCClassifier(model)
    bf16 = native_bf16("cpu")

    started = time.perf_counter()
    windows, _, _ = model.tokenize_windows([d.text for d in train])
    record("tokenising", time.perf_counter() - started)
    epoch_tokens = sum(sum(len(w) for w in doc) for doc in windows)
    epochs = within_cpu_budget(config, epoch_tokens, "cpu").train.epochs
    out["epoch_tokens"] = epoch_tokens

    marks = {}
    started = time.perf_counter()
    classifier.lexical, oof = fit_lexical(model, train, dev, 0, torch.device("cpu"), bf16,
                                      on_step=lambda done, total, detail: marks.__setitem__(done, time.perf_counter()),
                                      max_documents=config.train.fit_documents, fitter=config.pipeline.lexical_fit)
    # the ridge fitters report the Gram matrix, then each C; the logistic fitter each C of its grid
    grid_done = marks[1 + len(kernel_ridge.C_GRID) if config.pipeline.lexical_fit in RIDGE_FITTERS else len(C_GRID)]
    out["lexical_fit"] = config.pipeline.lexical_fit
    record("lexical C grid", grid_done - started, features=len(classifier.lexical.vocabulary))
    record("lexical out-of-fold", time.perf_counter() - grid_done)
    blend_encoder = pretrained_copy(model)

    targets = torch.tensor(h.multi_hot([d.labels for d in train]), dtype=torch.float32)
    lengths = [sum(len(w) for w in doc) for doc in windows]
    order = list(LengthGroupedSampler(lengths, 16, 0))
    optimizer = _optimizer(model, config)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    model.train()
    times = []
    batches = [order[i:i + 16] for i in range(0, len(order), 16)]
    # batches spread evenly over the epoch (its batches are sorted by length within mega-batches:
    # consecutive ones would all be short or all long); the first warms up and is not timed
    for k in range(steps + 1):
        rows = batches[(k * len(batches)) // (steps + 1)]
        batch = model.collate_documents([windows[i] for i in rows])
        batch["score_offset"] = oof[rows]
        step_started = time.perf_counter()
        with autocast:
            loss = model(batch, targets[rows])["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if k:
            times.append(time.perf_counter() - step_started)
    per_step = float(np.mean(times))  # the mean: an epoch is the sum of its steps, long and short
    epoch = per_step * math.ceil(n / 16)
    record("training epoch", epoch, extrapolated_from_steps=steps, seconds_per_step=round(per_step, 3))
    model.eval()

    started = time.perf_counter()
    dev_scores = classifier.predict_scores([d.text for d in dev], batch_size=64).numpy()
    dev_seconds = time.perf_counter() - started
    record("dev evaluation", dev_seconds, documents=len(dev))
    record("training (default epochs)", (epoch + dev_seconds) * epochs, epochs=epochs)

    from hpt_core.blend import fit_classical_blend

    dev_y = h.multi_hot([d.labels for d in dev])
    started = time.perf_counter()
    fitted = fit_classical_blend([d.text for d in train], path_ends(train, h), [d.text for d in dev], dev_y, dev_scores,
                                 h, blend_encoder, rules=candidate_decisions(dev_y, h),
                                 max_documents=config.train.fit_documents)
    record("blend fit", time.perf_counter() - started)
    if fitted is not None:
        classifier.blend = fitted[0]
        classifier.blend.model_weight = min(classifier.blend.model_weight, 0.5)  # kept, so that scoring pays for it

    started = time.perf_counter()
    choose_decision(dev_y, dev_scores, h)
    record("decision", time.perf_counter() - started)

    predictor = Predictor(classifier)
    texts = [d.text for d in dev]
    started = time.perf_counter()
    predictor.scores(texts)
    record("scoring 1,000", time.perf_counter() - started, documents=len(texts))
    one = []
    for text in texts[:5]:
        started = time.perf_counter()
        predictor.scores([text])
        one.append(time.perf_counter() - started)
    record("predict one", float(np.median(one)))
    fits = out["phases"]["lexical C grid"]["seconds"] + out["phases"]["lexical out-of-fold"]["seconds"] \
        + out["phases"]["blend fit"]["seconds"]
    out["fits_share_of_training"] = round(fits / out["phases"]["training (default epochs)"]["seconds"], 3)
    out["complete"] = True
    (work / f"{n}x{c}.json").write_text(json.dumps(out, indent=2))
    return out


def exponents(cells: list[dict]) -> dict:
    """Per phase, the least-squares fit of log(seconds) = a + b·log N + c·log C over the cells."""
    import numpy as np

    out = {}
    for phase in PHASES:
        rows = [(cell["N"], cell["C"], cell["phases"][phase]["seconds"]) for cell in cells
                if phase in cell["phases"] and cell["phases"][phase]["seconds"] > 0]
        ns, cs = {r[0] for r in rows}, {r[1] for r in rows}
        if len(rows) < 2:
            continue
        design = [[1.0] + ([math.log(r[0])] if len(ns) > 1 else []) + ([math.log(r[1])] if len(cs) > 1 else []) for r in rows]
        coef, *_ = np.linalg.lstsq(np.asarray(design), np.log([r[2] for r in rows]), rcond=None)
        coef = list(coef[1:])
        out[phase] = {"N": round(coef.pop(0), 2) if len(ns) > 1 else None, "C": round(coef.pop(0), 2) if len(cs) > 1 else None}
    return out


def table(out_dir: Path) -> str:
    cells = sorted((json.loads(p.read_text()) for p in out_dir.glob("*x*.json")), key=lambda c: (c["C"], c["N"]))
    if not cells:
        return "no cells measured"
    head = "| phase | " + " | ".join(f"{c['N']:,} × {c['labels']:,}" for c in cells) + " | exponent N / C |"
    lines = [head, "|" + "---|" * (len(cells) + 2)]
    fitted = exponents(cells)
    for phase in PHASES:
        values = []
        for cell in cells:
            p = cell["phases"].get(phase)
            values.append("—" if p is None else f"{p['seconds']:.1f} s / {p['peak_rss_gb_so_far']:.1f} GB")
        e = fitted.get(phase, {})
        exp = " / ".join("—" if e.get(k) is None else f"{e[k]:.2f}" for k in ("N", "C"))
        lines.append(f"| {phase} | " + " | ".join(values) + f" | {exp} |")
    lines.append("| lexical + blend ÷ training | " + " | ".join(
        f"{100 * c['fits_share_of_training']:.0f} %" if "fits_share_of_training" in c else "—" for c in cells) + " | |")
    stopped = [f"{c['N']:,} × {c['labels']:,}" for c in cells if not c.get("complete")]
    if stopped:
        lines.append("")
        lines.append(f"Stopped by --cell-timeout before the end (— = not reached): {', '.join(stopped)}.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "costs")
    parser.add_argument("--cells", default=",".join(f"{n}x{c}" for c in LABELS for n in SIZES),
                        help="comma-separated NxC cells (default: all nine)")
    parser.add_argument("--steps", type=int, default=8, help="training steps timed per cell (the epoch is extrapolated)")
    parser.add_argument("--cell-timeout", type=float, default=None,
                        help="stop a cell after this many seconds (its phases so far are kept)")
    parser.add_argument("--table", type=Path, help="print the table of the cells in this folder and exit")
    parser.add_argument("--lexical-fit", choices=list(LEXICAL_FITTERS), default=None,
                        help="the lexical channel's fitter (default: the recipe's)")
    parser.add_argument("--one-cell", help=argparse.SUPPRESS)  # the child process's own cell
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one_cell:
        n, c = (int(v) for v in args.one_cell.split("x"))
        run_cell(n, c, args.steps, args.out, args.lexical_fit)
        return 0
    for cell in args.cells.split(","):  # one process per cell: its own peak memory
        started = time.perf_counter()
        try:
            code = subprocess.call([sys.executable, __file__, "--one-cell", cell.strip(), "--out", str(args.out),
                                    "--steps", str(args.steps)]
                                   + (["--lexical-fit", args.lexical_fit] if args.lexical_fit else []), timeout=args.cell_timeout)
        except subprocess.TimeoutExpired:
            code = "timed out"
        print(f"cell {cell}: exit {code}, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(table(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
