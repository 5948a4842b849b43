"""``python -m hpt_core``: import data, train, evaluate, predict, inspect label words, run ablations.

Every subcommand has ``--help``; bad input exits with status 2 and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import warnings
from pathlib import Path

from hpt_core.cli_options import (DECISION_CHOICES, FORMATS, add_training_options, configs_from_args, model_overrides, name_list,
                                  pipeline_overrides, positive_fraction, probability, seed_list, seed_number)
from hpt_core.config import PRECISIONS
from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_output_path, check_text, read_text
from hpt_core.methods import METHODS, applicable_overrides, resolve_method
from hpt_core.suggest import STRATEGIES as SUGGEST_STRATEGIES


class _ProgressBar:
    """A tqdm bar over optimiser steps, and over the parts of each long phase around them (the
    lexical channel's fits, tokenising, the blend's grid, the final evaluation), with its ETA
    (shown on a terminal only; the run log has a line for each)."""

    def __enter__(self):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=None, unit="step", dynamic_ncols=True, disable=None)
        self.showing = None
        return self

    def update(self, record: dict) -> None:
        showing = record.get("phase", "training") if record["kind"] == "phase" else "training"
        if showing != self.showing:  # a new phase: its own bar, its own rate and ETA
            self.showing = showing
            self.bar.reset(total=record.get("total") if record["kind"] == "phase" else record["total_steps"])
            self.bar.unit = "part" if record["kind"] == "phase" else "step"
            self.bar.set_description(showing, refresh=False)
        if record["kind"] == "phase":
            self.bar.total = record["total"]
            self.bar.n = record["done"]
            self.bar.set_postfix_str(record.get("detail", ""), refresh=False)
            self.bar.refresh()
            return
        self.bar.total = record["total_steps"]
        self.bar.n = record["step"]
        # Epoch results reach the terminal through the training log; the bar shows steps and loss.
        if record["kind"] == "step" and record.get("smoothed_loss") is not None:
            self.bar.set_postfix(epoch=record["epoch"], loss=f"{record['smoothed_loss']:.3f}", refresh=False)
        self.bar.refresh()

    def __exit__(self, *exc):
        self.bar.close()


def _device_queue(device: str):
    """The machine's queue for the device (shared with the app's jobs); under ``accelerate launch``
    only the first process of the machine waits in it, the others wait for that one."""
    import contextlib
    import os

    from hpt_core import runs
    from hpt_core.devices import resolve_device

    if os.environ.get("LOCAL_RANK", "0") != "0":
        return contextlib.nullcontext()
    resolved = resolve_device(device)
    return runs.device_lock(resolved, on_wait=lambda: print(
        f"waiting for the {resolved} device: another training holds it", file=sys.stderr))


def _cmd_train(args) -> int:
    from hpt_core.training import train

    config, _, _ = configs_from_args(args, args.method)
    check_output_path(args.run_dir, "run folder")
    with _device_queue(config.train.device), _ProgressBar() as bar:
        metrics = train(config, args.run_dir, on_progress=bar.update)
    dev = metrics.get("dev", {})
    print(f"best epoch {metrics.get('best_epoch')}: dev micro-F1 {100 * dev.get('micro_f1', 0):.2f} macro-F1 {100 * dev.get('macro_f1', 0):.2f}; model in {Path(args.run_dir) / 'model'}")
    return 0


def _cmd_evaluate(args) -> int:
    from hpt_core.evaluation import evaluate_run

    if args.errors:  # the same scores give the figures and the error table
        from hpt_core.error_analysis import analyse_run, check_table_path, write_table

        check_table_path(args.errors)
        analysis, report = analyse_run(args.run_dir, args.data, progress=True)
        write_table(analysis.documents, args.errors)
        wrong = int((~analysis.documents["correct"]).sum())
        print(f"error table: {wrong} of {len(analysis.documents)} documents with errors, written to {args.errors}",
              file=sys.stderr)
    else:
        report = evaluate_run(args.run_dir, args.data, progress=True)
    from hpt_core.decoding import decision_name

    rows = [(decision_name(report.get("decision", "threshold")), report), ("hierarchy-consistent", report["consistent"])]
    if args.zero_shot:
        from hpt_core.zero_shot import evaluate_beside_run

        report["zero_shot"] = evaluate_beside_run(args.run_dir, args.data)
        rows.append(("zero-shot (no training; threshold on the run's dev file)", report["zero_shot"]))
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"documents {report['n_documents']}")
    for name, r in rows:
        print(f"{name}: micro-F1 {100 * r['micro_f1']:.2f}  macro-F1 {100 * r['macro_f1']:.2f} "
              f"(all-labels convention {100 * r['macro_f1_all_labels']:.2f})  hierarchical F1 {100 * r['hierarchical_f1']:.2f}  "
              f"path consistency {100 * r['path_consistency']:.1f}%")
        print("  per-depth macro-F1: " + ", ".join(f"{d}: {100 * v:.2f}" for d, v in r["per_depth_macro_f1"].items() if v is not None))
        print("  macro-F1 by training-frequency quintile (rarest first): "
              + ", ".join("-" if v is None else f"{100 * v:.2f}" for v in r["frequency_quintile_macro_f1"]))
    return 0


def _cmd_predict(args) -> int:
    from hpt_core.predict import Predictor, abstained

    if args.input is not None or args.output is not None:
        return _predict_corpus(args)
    if args.file is not None:
        path = Path(args.file)
        numbered = [(n, line) for n, line in enumerate(read_text(path).split("\n"), start=1) if line.strip()]
        for n, line in numbered:
            check_text(line, path, n)
        texts = [line for _, line in numbered]
        if not texts:
            raise HPTInputError("no text in file (one text per line expected)", path)
    else:
        texts = [check_text(args.text, "--text")]
    predictor = Predictor.from_run(args.run_dir, precision=args.precision)
    _say_if_uncalibrated(predictor, args.abstain_below)
    for p in predictor.predict(texts, progress=len(texts) > 1):
        if args.json:
            record = {"text": p.text, "labels": p.labels, "consistent_labels": p.consistent_labels,
                      "paths": p.paths, "scores": p.scores, "confidence": p.confidence(predictor.hierarchy),
                      "document_confidence": p.document_confidence, "warnings": p.warnings,
                      "familiarity": p.familiarity, "tokens_total": p.tokens_total, "tokens_read": p.tokens_read, "windows": p.windows}
            if args.abstain_below is not None:
                record["abstained"] = abstained(p, args.abstain_below)
            print(json.dumps(record))
        else:
            paths = " | ".join(" > ".join(path) for path in p.paths) or "(no label above 0)"
            sure = "" if p.document_confidence is None else f"\tconfidence {p.document_confidence:.2f}"
            flag = "(abstain) " if args.abstain_below is not None and abstained(p, args.abstain_below) else ""
            print(f"{flag}{paths}{sure}\t{p.text[:80]}")
            for warning in p.warnings:
                print(f"  warning: {warning}", file=sys.stderr)
    return 0


def _say_if_uncalibrated(predictor, abstain_below: float | None) -> None:
    """A model folder from before calibration has no confidence to abstain by: say so once."""
    if predictor.calibration is None and abstain_below is not None:
        print("note: this model folder has no calibration.json (trained before calibration existed; "
              "`python -m hpt_core decide --run-dir R` adds it): --abstain-below flags nothing", file=sys.stderr)


def _predict_corpus(args) -> int:
    """``predict --input --output``: the corpus streamed a chunk at a time (``hpt_core.stream_predict``),
    with a progress bar and its ETA, resuming after what the output already holds."""
    from tqdm.auto import tqdm

    from hpt_core.predict import Predictor
    from hpt_core.stream_predict import predict_file

    from hpt_core.stream_predict import merge_parts

    if args.input is None or args.output is None:
        raise HPTInputError("--input and --output go together (a corpus in, its predictions out)")
    # Under `accelerate launch --num_processes K` each process predicts its share of the chunks on its
    # own device and the first merges them; a plain run is one process on the default device.
    import torch
    from accelerate import PartialState

    # cpu=True where there is no GPU: accelerate then joins the launcher's processes over gloo (else it
    # would see K separate single processes, each writing the whole output)
    state = PartialState(cpu=not torch.cuda.is_available())
    device = None if state.num_processes == 1 else str(state.device)
    predictor = Predictor.from_run(args.run_dir, device=device, precision=args.precision)
    if state.is_main_process:
        _say_if_uncalibrated(predictor, args.abstain_below)
    with tqdm(unit="text", dynamic_ncols=True, disable=None if state.is_main_process else True) as bar:
        def progress(done: int, total: int, seconds: float) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        summary = predict_file(predictor, args.input, args.output, on_progress=progress,
                               abstain_below=args.abstain_below, rank=state.process_index, world=state.num_processes)
    if state.num_processes > 1:
        state.wait_for_everyone()
        if not state.is_main_process:
            return 0
        total = summary["input_texts"]  # counted once, by predict_file
        if not Path(args.output).exists():  # else merged by an earlier launch, which this one repeats
            merge_parts(args.output, total, state.num_processes)
        print(f"{total:,} texts predicted by {state.num_processes} processes into {args.output} "
              f"(this process: {summary['predicted']:,} in {summary['seconds']:.0f} s)")
        return 0
    resumed = f" (resumed after {summary['resumed_from']:,})" if summary["resumed_from"] else ""
    print(f"{summary['predicted']:,} texts predicted{resumed} into {args.output}: {summary['total']:,} in all "
          f"({summary['seconds']:.0f} s)")
    return 0


def _cmd_suggest(args) -> int:
    from hpt_core.inputs import require_file
    from hpt_core.suggest import suggest_for_run
    from hpt_core.uploads import texts_upload

    path = require_file(args.pool)
    pool = texts_upload(path.read_bytes(), path.suffix.lower(), label=str(path), max_bytes=2 ** 40, max_texts=10 ** 9)
    suggestions = suggest_for_run(args.run_dir, pool.texts, n=args.n, strategy=args.strategy, seed=args.seed,
                                  progress=not args.json)
    if args.json:
        print(json.dumps([{**s.to_dict(), "line": pool.lines[s.index]} for s in suggestions]))
        return 0
    print(f"{len(suggestions)} of {len(pool.texts):,} texts to label next ({args.strategy}); margin: the best label's "
          "score minus its best sibling's at the closest call")
    for rank, s in enumerate(suggestions, start=1):
        call = f"depth {s.depth}: {s.chosen} vs {s.runner_up}" if s.runner_up else "no choice on the path"
        print(f"{rank}\tline {pool.lines[s.index]}\tmargin {s.margin:.3f}\t{call}\t{' > '.join(s.path)}\t{s.text[:80]}")
    return 0


def _cmd_serve(args) -> int:
    from hpt_core.serve import ServeLimits, serve

    if not 1 <= args.port <= 65535:
        raise HPTInputError(f"--port must be between 1 and 65535; got {args.port}")
    if args.max_batch < 1 or args.max_texts < 1 or args.max_chars < 1 or args.max_wait_ms < 0:
        raise HPTInputError("--max-batch, --max-texts and --max-chars must be positive, --max-wait-ms not negative")
    serve(args.run_dir, host=args.host, port=args.port, device=args.device, precision=args.precision,
          max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
          limits=ServeLimits(max_texts=args.max_texts, max_chars=args.max_chars))
    return 0


def _cmd_explain(args) -> int:
    from hpt_core.explain import explain, summary_line
    from hpt_core.predict import load_run_model

    model = load_run_model(args.run_dir)
    explanations = explain(model, args.text, args.label, n_steps=args.steps)
    if args.json:
        print(json.dumps([e.to_dict() for e in explanations]))
        return 0
    print(f"{explanations[0].method}; baseline: {explanations[0].baseline}; {args.steps} steps")
    for e in explanations:
        print(summary_line(e))
        print("  " + ", ".join(f"{word} {value:+.3f}" for word, value in e.top_words(args.top)))
        if e.lexical_terms or abs(e.blend_shift) > 5e-4:  # the whole score decided on, as parts that add up
            parts = " + ".join(f"{name} {value:+.3f}" for name, value in e.parts().items() if value)
            print(f"  whole score {e.document_score:+.3f} = {parts}")
            if e.lexical_terms:
                print("  lexical channel: " + ", ".join(f"{t} {v:+.3f}" for t, v in e.lexical_terms[:args.top]))
    return 0


def _cmd_neighbours(args) -> int:
    from hpt_core.neighbours import label_word_neighbours
    from hpt_core.predict import load_run_model

    model = load_run_model(args.run_dir).model
    result = label_word_neighbours(model, args.k, [args.label] if args.label is not None else None)
    if args.json:
        print(json.dumps({label: [{"token": t, "similarity": s} for t, s in items] for label, items in result.items()}))
    else:
        for label, items in result.items():
            print(f"{' / '.join(model.hierarchy.path(label))}: " + ", ".join(t for t, _ in items))
    return 0


def _kept_inputs(data, out_dir: str | Path):
    """``data`` with every input that is not a regular file (a pipe, ``/dev/stdin``, a process
    substitution) read once and kept as a file under ``out_dir/inputs/``: each of the runs, and a
    resumed one, reads its inputs again, and a pipe can be read only once."""
    import stat

    from hpt_core.inputs import read_bytes

    kept = {}
    for name in ("taxonomy", "train", "dev", "test", "descriptions"):
        path = getattr(data, name)
        if path is None:
            continue
        try:
            regular = stat.S_ISREG(Path(path).stat().st_mode)
        except OSError:
            regular = True  # missing: the usual error comes later
        if not regular:
            target = Path(out_dir) / "inputs" / f"{name}{Path(path).suffix or ('.tsv' if name == 'taxonomy' else '.jsonl')}"
            content = read_bytes(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            kept[name] = str(target)
    return data.replace(**kept) if kept else data


def _cmd_ablate(args) -> int:
    from hpt_core.experiments import run_ablation
    from hpt_core.zero_shot import ZERO_SHOT

    methods = name_list(args.methods, "--methods")
    for m in methods:
        if m not in METHODS and m != ZERO_SHOT:
            raise HPTInputError(f"unknown method {m!r}; choose from {', '.join([*METHODS, ZERO_SHOT])}")
    check_output_path(args.out)
    trained = [m for m in methods if m != ZERO_SHOT]  # zero-shot needs no training configuration
    _, data, train = configs_from_args(args, (trained or ["hpt"])[0])
    overrides = model_overrides(args)
    for m in trained:  # reject an option that fits no method before any training starts
        resolve_method(m, recipe=args.recipe, **applicable_overrides(m, overrides))
    data = _kept_inputs(data, args.out)
    with _device_queue(train.device), _ProgressBar() as bar:
        table = run_ablation(data, methods, args.out, train, on_progress=bar.update, recipe=args.recipe, **overrides,
                             **pipeline_overrides(args))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"table saved to {Path(args.out) / 'ablation.csv'}")
    return 0


def _cmd_low_resource(args) -> int:
    from hpt_core.experiments import run_low_resource

    seeds = seed_list(args.seeds)
    check_output_path(args.out)
    _, data, train = configs_from_args(args, args.method)
    for seed in seeds:  # every seed is checked before the first run starts
        train.replace(seed=seed)
    overrides = {**model_overrides(args), **pipeline_overrides(args)}
    data = _kept_inputs(data, args.out)
    with _device_queue(train.device), _ProgressBar() as bar:
        summary = run_low_resource(data, args.method, args.fraction, seeds, args.out, train, on_progress=bar.update,
                                   recipe=args.recipe, **overrides)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


def _cmd_import(args) -> int:
    from hpt_core.data import import_corpus

    dataset = import_corpus(args.taxonomy, args.corpus, args.output, format=args.format, seed=args.seed,
                            on_unknown="skip" if args.skip_unknown else "error")
    counts = ", ".join(f"{k} {len(v)}" for k, v in dataset.splits.items())
    print(f"wrote {args.output}: taxonomy.tsv ({len(dataset.hierarchy.labels)} labels, depth {dataset.hierarchy.max_depth}); {counts}")
    return 0


def _cmd_decide(args) -> int:
    from hpt_core.decoding import decision_name
    from hpt_core.finishing import choose_run_decision

    metrics = choose_run_decision(args.run_dir, args.decision)
    rule = metrics["dev"]["decision"]
    chosen = metrics.get("decision")
    print(f"decision rule: {decision_name(rule)}"
          + (" (dev macro-F1 " + ", ".join(f"{decision_name(r)} {100 * f:.2f}" for r, f in chosen["dev_macro_f1"].items()) + ")"
             if chosen else ""))
    for split in ("dev", "test"):
        if split in metrics:
            print(f"{split}: micro-F1 {100 * metrics[split]['micro_f1']:.2f}  macro-F1 {100 * metrics[split]['macro_f1']:.2f}")
    return 0


def _cmd_familiarity(args) -> int:
    from hpt_core.finishing import familiarity_run

    metrics = familiarity_run(args.run_dir, familiarity=not args.off)
    check = metrics.get("familiarity")
    if check is None:
        print("no familiarity check" + ("" if args.off else ": it could not be fitted (see the log)"))
    else:
        print(f"familiarity check: a text is unusual below {check['threshold']:.3f}, dev's 1st percentile of the mean "
              f"similarity to its {check['k']} closest of {check['reference_documents']:,} training texts "
              f"(dev's median: {check['median']:.3f})")
    return 0


def _cmd_blend(args) -> int:
    from hpt_core.finishing import blend_run

    metrics = blend_run(args.run_dir, None if args.blend == "none" else args.blend)
    fitted = metrics.get("blend")
    if fitted is None:
        print("no blend: the model's own scores decide")
    elif "skipped" in fitted:
        print(f"blend skipped: {fitted['skipped']}")
    else:
        print(f"classical blend: C {fitted['C']:g}, w {fitted['embedding_weight']:g}, the model's weight "
              f"{fitted['model_weight']:g} (dev macro-F1 by weight: "
              + ", ".join(f"{a}: {100 * f:.2f}" for a, f in fitted["dev_macro_f1_by_model_weight"].items())
              + f"), fitted in {fitted['seconds']:.0f} s")
    for split in ("dev", "test"):
        if split in metrics:
            print(f"{split}: micro-F1 {100 * metrics[split]['micro_f1']:.2f}  macro-F1 {100 * metrics[split]['macro_f1']:.2f}")
    return 0


def _cmd_run_job(args) -> int:
    from hpt_core.training import run_job
    from hpt_core.zero_shot import is_zero_shot_run, run_job as run_zero_shot_job

    # A job's stderr is its train.log, where training logs with timestamps itself: a second,
    # plain copy of every line through the console handler would double the log.
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)
    (run_zero_shot_job if is_zero_shot_run(args.run_dir) else run_job)(args.run_dir)
    return 0


def _cmd_run_experiment(args) -> int:
    from hpt_core.experiments import run_experiment_job

    run_experiment_job(args.experiment_dir)
    return 0


def _cmd_methods(args) -> int:
    from hpt_core.methods import describe

    for name in METHODS:
        print(f"{name:18s} {describe(name)}")
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit status 2), like every other input error."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m hpt_core", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model into a run folder (resumes when the folder has a checkpoint)")
    add_training_options(p)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--method", default="hpt", choices=list(METHODS), help="HPT, an ablation or a baseline")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run's best model on a corpus")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--errors", metavar="FILE",
                   help="also write every document's gold and predicted paths, scores and errors (missed, spurious, "
                        "wrong sibling, right parent wrong child) to FILE (.csv, .tsv or .jsonl)")
    p.add_argument("--zero-shot", action="store_true",
                   help="also evaluate the zero-shot predictor (label names against the text with the bundled "
                        "encoder, threshold chosen on the run's dev file): key zero_shot")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="predict labels for texts")
    p.add_argument("--run-dir", required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--text")
    group.add_argument("--file", help="a text file, one text per line")
    group.add_argument("--input", help="a corpus of any size (.jsonl with a 'text' field, .txt one text a line, "
                                       ".csv/.tsv with a 'text' column), predicted a chunk at a time into --output")
    p.add_argument("--output", help="with --input: the JSON Lines predictions, one a text in input order; an "
                                    "existing file is continued where it stops (resume after an interruption)")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.add_argument("--abstain-below", type=probability, default=None, metavar="CONFIDENCE",
                   help="flag texts whose calibrated confidence (how often such a prediction was right on dev) "
                        "is below this, between 0 and 1: 'abstained': true in JSON, '(abstain)' before the "
                        "path in text output — texts to route to a person")
    p.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                   help="arithmetic of the model's own scores: fp32 (the default: the scores evaluate reports), "
                        "bf16 autocast, or auto = bf16 where the device computes it natively (about a third "
                        "faster on such a CPU, more on a GPU; scores differ in the second or third digit)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("suggest", help="which unlabelled texts to label next: those the run's model is least "
                                       "sure of, read on the tree (the closest call between sibling labels)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--pool", required=True, help="unlabelled texts: .txt (one a line), .csv/.tsv with a 'text' "
                                                 "column, or .jsonl with a 'text' field")
    p.add_argument("--n", type=int, default=50, help="how many to suggest")
    p.add_argument("--strategy", choices=list(SUGGEST_STRATEGIES), default="margin",
                   help="margin: the closest call between siblings on the best path (default); margin+diverse: "
                        "the same, spread out in TF-IDF space; flat-margin: the two best leaves anywhere in the "
                        "tree (plain uncertainty); random: a seeded sample (the baseline)")
    p.add_argument("--seed", type=int, default=0, help="for --strategy random")
    p.add_argument("--json", action="store_true", help="one JSON list (line numbers of the pool file included)")
    p.set_defaults(func=_cmd_suggest)

    p = sub.add_parser("serve", help="an HTTP prediction server for a run (POST /predict, /explain; "
                                     "GET /health, /labels; docs at /docs)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only) unless you mean otherwise")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default=None, help="cpu or cuda (default: a GPU when there is one)")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    p.add_argument("--max-batch", type=int, default=32, help="texts of concurrent requests scored together")
    p.add_argument("--max-wait-ms", type=float, default=5.0,
                   help="how long a request waits for others to share its batch")
    p.add_argument("--max-texts", type=int, default=64, help="texts a request may hold")
    p.add_argument("--max-chars", type=int, default=20_000, help="characters a text may hold")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("explain", help="which words of a text raised or lowered a label's score (Captum)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--label", action="append",
                   help="label to explain (repeatable); default: the predicted path, one label per depth")
    p.add_argument("--steps", type=int, default=20, help="integration steps (more: smaller convergence delta, slower)")
    p.add_argument("--top", type=int, default=10, help="words listed per label (text output)")
    p.add_argument("--json", action="store_true", help="one JSON list: per label the words, attributions and delta")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("neighbours", help="nearest vocabulary words of the learned label words (Table 4)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--label")
    p.add_argument("-k", type=int, default=8)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_neighbours)

    p = sub.add_parser("ablate", help="train several methods on the same data and seed; print the comparison table")
    add_training_options(p)
    p.add_argument("--methods", required=True,
                   help="comma-separated, e.g. hpt,rm-injection,vanilla; zero-shot adds the untrained predictor")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("low-resource", help="train on a seeded fraction of train for several seeds; mean ± std")
    add_training_options(p)
    p.set_defaults(low_resource=None)
    p.add_argument("--method", default="hpt", choices=list(METHODS))
    p.add_argument("--fraction", type=positive_fraction, default=0.1)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_low_resource)

    p = sub.add_parser("import", help="convert a taxonomy + corpus into taxonomy.tsv + train/dev/test JSON Lines")
    p.add_argument("--taxonomy", help="label tree (optional for 20 Newsgroups, whose tree comes from the group names)")
    p.add_argument("--corpus", required=True)
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("--output", required=True)
    p.add_argument("--seed", type=seed_number, default=0, help="seeds the train/dev/test split")
    p.add_argument("--skip-unknown", action="store_true",
                   help="drop documents whose labels are not in the taxonomy (one warning) instead of stopping")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("methods", help="list the methods (HPT, ablations, baselines)")
    p.set_defaults(func=_cmd_methods)

    p = sub.add_parser("decide", help="choose a finished run's decision rule (thresholds, one path or top-down paths) on its dev "
                                      "file, or set it; updates the model folder and metrics.json")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--decision", choices=DECISION_CHOICES, default="auto")
    p.set_defaults(func=_cmd_decide)

    p = sub.add_parser("blend", help="fit a finished run's classical blend (TF-IDF + sentence embeddings into a "
                                     "logistic regression, mixed with the model's scores, the weight chosen on dev), "
                                     "or remove it; updates the model folder and metrics.json")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--blend", choices=["classical", "none"], default="classical")
    p.set_defaults(func=_cmd_blend)

    p = sub.add_parser("familiarity", help="fit a finished run's familiarity check (how like the training texts a "
                                           "text is, a warning below dev's 1st percentile), or remove it; updates "
                                           "the model folder and metrics.json, no score changes")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--off", action="store_true", help="remove the check instead")
    p.set_defaults(func=_cmd_familiarity)

    # internal: the app's background jobs. No help= at all: argparse lists a subcommand whose help
    # is SUPPRESS as "==SUPPRESS==", and leaves one without help out of the list
    p = sub.add_parser("run-job")
    p.add_argument("run_dir")
    p.set_defaults(func=_cmd_run_job)

    p = sub.add_parser("run-experiment")
    p.add_argument("experiment_dir")
    p.set_defaults(func=_cmd_run_experiment)
    return parser


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Library warnings (e.g. skipped documents) are messages for the user, not code locations.
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            return args.func(args)
    except HPTInputError as err:
        # One line, whatever a library message held (file names and labels are shown with repr).
        print("error: " + re.sub(r"\s*[\r\n]+\s*", " ", str(err)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:
        # A full disk or a folder we may not write, met by any write of any command: one line
        # naming the file, never a traceback. Every save is durable (the previous copy stays
        # loadable), so the same command goes on once there is room.
        from hpt_core.durable import STORAGE_ERRORS, error_number, reason

        code = error_number(err)
        if code not in STORAGE_ERRORS:
            raise
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"error: {where}{reason(code)}; nothing written is half-done — free space (or fix the permission) "
              "and run the same command again", file=sys.stderr)
        return 1
