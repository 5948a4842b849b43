"""The model card: a ``README.md`` in every trained model folder that says what the model is, what
it was trained on, how well it did and where it should not be trusted — Hugging Face's model card
layout (YAML metadata, then prose), written from the run's own records, so that a folder shared
without its run still explains itself.

Written when training ends and again by ``decide`` and ``blend`` (which change the figures);
:func:`model_card` is the pure part (records in, markdown out).
"""

from __future__ import annotations

from pathlib import Path

from hpt_core.config import LEXICAL_FITTERS, saved_pipeline

CARD = "README.md"


def _pct(value) -> str:
    return "–" if value is None else f"{100 * float(value):.2f}"


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def _tree_words(hierarchy) -> dict:
    """The label tree's size and shape."""
    leaves = hierarchy.leaves() if callable(getattr(hierarchy, "leaves", None)) else []
    top = sum(1 for d in hierarchy.depths if d == 1)
    return {"labels": len(hierarchy.labels), "depth": hierarchy.max_depth, "leaves": len(leaves), "top": top}


def _figures_rows(metrics: dict) -> list[str]:
    rows = []
    for split in ("dev", "test"):
        report = metrics.get(split)
        if not isinstance(report, dict):
            continue
        depths = report.get("per_depth_macro_f1") or {}
        rows.append(f"| {split} | {report.get('n_documents', '–')} | {_pct(report.get('micro_f1'))} | "
                    f"{_pct(report.get('macro_f1'))} | {_pct(report.get('hierarchical_f1'))} | "
                    + " / ".join(_pct(depths[d]) for d in sorted(depths, key=int)) + " |")
    return rows


def model_card(config: dict, metrics: dict, hierarchy, name: str = "model") -> str:
    """The card's markdown from a run's ``run.json`` (``config``), ``metrics.json`` (``metrics``)
    and its label tree. Pure: nothing is read or written."""
    model, train, data = config.get("model") or {}, config.get("train") or {}, config.get("data") or {}
    pipeline = saved_pipeline(config)
    tree = _tree_words(hierarchy)
    backbone = model.get("backbone") or "minilm"
    blend = metrics.get("blend") or {}
    lexical = metrics.get("lexical_channel") or {}
    # the rule the figures were decided by (``decide`` may have set it after training)
    decision = (metrics.get("test") or metrics.get("dev") or {}).get("decision") or pipeline["decision"] or "threshold"
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else None
    quintiles = (test or metrics.get("dev") or {}).get("frequency_quintile_macro_f1") or []
    multi = (test or {}).get("multi_path") or {}
    files = {k: Path(v).name for k, v in data.items() if v}
    lines = [
        "---",
        "library_name: hpt_core",
        "pipeline_tag: text-classification",
        "tags: [hierarchical-text-classification, prompt-tuning, hpt]",
        *([f"base_model: {backbone}"] if "/" in backbone or backbone.startswith("bert") else []),
        "metrics: [micro-f1, macro-f1, hierarchical-f1]",
        "---",
        "",
        f"# {name}: a hierarchical text classifier (HPT)",
        "",
        f"Hierarchy-aware Prompt Tuning (Wang et al., EMNLP 2022), method `{model.get('method', 'hpt')}`, "
        f"on the `{backbone}` encoder reading {model.get('max_length', 256)} tokens of each text"
        + (f" (up to {model['max_windows']} windows)" if (model.get("max_windows") or 1) > 1 else "") + ".",
        "",
        "## Label tree",
        "",
        f"{tree['labels']:,} labels in {tree['depth']} levels ({tree['top']} at the top, {tree['leaves']:,} leaves). "
        "The model predicts only these labels; a text about anything else still gets the closest of them.",
        "",
        "## What decides",
        "",
        f"- the model's label scores{' plus a TF-IDF lexical channel over the whole text' if pipeline['lexical_channel'] else ''}"
        + (f" ({LEXICAL_FITTERS.get(pipeline.get('lexical_fit'), 'logistic')}, fitted on "
           f"{lexical['fit_documents']:,} training documents)" if lexical.get("fit_documents") else "") + ";",
        *([f"- blended with a classical TF-IDF + sentence-embedding classifier, the model's weight "
           f"{blend['model_weight']:g} (chosen on dev)" + (f", fitted on {blend['fit_documents']:,} training documents"
                                                          if blend.get("fit_documents") else "") + ";"]
          if "model_weight" in blend and "skipped" not in blend else []),
        f"- decision rule `{decision}` (scores above 0, one best path, or top-down paths).",
        "",
        "## Training data",
        "",
        f"{_count(metrics.get('train_documents'))} training documents (`{files.get('train', '–')}`), "
        f"dev `{files.get('dev', '–')}`" + (f", test `{files['test']}`" if files.get("test") else "")
        + f"; taxonomy `{files.get('taxonomy', '–')}`.",
        "",
        "## Results",
        "",
        "| split | documents | micro-F1 | macro-F1 | hierarchical F1 | macro-F1 by depth |",
        "|---|---|---|---|---|---|",
        *(_figures_rows(metrics) or ["| – | – | – | – | – | – |"]),
        "",
    ]
    if multi:
        lines += [f"On the {multi.get('n_documents')} test documents with several paths: micro-F1 "
                  f"{_pct(multi.get('micro_f1'))}, macro-F1 {_pct(multi.get('macro_f1'))}.", ""]
    lines += [
        "## Training procedure",
        "",
        f"Recipe settings: learning rate {train.get('lr')} (new parameters {train.get('new_params_lr') or train.get('lr')}), "
        f"batch {train.get('batch_size')}, epochs run: {metrics.get('epochs_run', '–')} (best: {metrics.get('best_epoch', '–')}), "
        f"{metrics.get('steps', '–')} steps, seed {train.get('seed')}, on {metrics.get('device', '–')} "
        f"({metrics.get('precision', '–')}); {float(metrics.get('run_seconds') or metrics.get('train_seconds') or 0):.0f} s in all.",
        "",
        "## Intended use and limitations",
        "",
        "- Classifying texts like the training data into this label tree. The figures above hold for the dev "
        "and test files named, not for other sources, periods or languages: evaluate on your own data first "
        "(`python -m hpt_core evaluate --run-dir RUN --data yours.jsonl`).",
    ]
    if quintiles and quintiles[0] is not None:
        lines.append(f"- Rare labels are weaker: macro-F1 on the fifth of labels with the fewest training documents "
                     f"{_pct(quintiles[0])}, on the most frequent fifth {_pct(quintiles[-1])}.")
    calibration = (metrics.get("calibration") or {}).get("test") or {}
    if calibration.get("ece") is not None:
        lines.append(f"- Scores are not probabilities; a score above 0 means the label is predicted. The confidence "
                     f"shown with each prediction is calibrated on dev (`calibration.json`, per depth): its expected "
                     f"calibration error on test is {calibration['ece']:.3f} over {calibration.get('labels')} decided labels.")
    else:
        lines.append("- Scores are not calibrated probabilities; a score above 0 means the label is predicted.")
    familiarity = metrics.get("familiarity") or {}
    if familiarity.get("threshold") is not None:
        lines.append(f"- A text unlike every training text still gets labels. Each prediction says how like them it is "
                     f"(`familiarity.json`: the mean similarity to its {familiarity.get('k')} closest training texts) "
                     f"and warns below {familiarity['threshold']:.2f}, a similarity that "
                     f"{100 * (1 - float(familiarity.get('quantile', 0.01))):.0f} % of dev's documents reach.")
    lines += [
        "- The model repeats the biases of its training labels and of its pretrained encoder.",
        "",
        "## How to use",
        "",
        "```python",
        "from hpt_core.predict import Predictor",
        "",
        'predictor = Predictor.from_pretrained("path/to/this/folder")',
        'print(predictor.predict(["a text to classify"])[0].paths)',
        "```",
        "",
        "or `python -m hpt_core predict --run-dir path/to/this/folder --text \"…\"` (a Hub name works too); "
        "`python -m hpt_core serve --run-dir RUN` serves it over HTTP.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(run_dir: str | Path) -> Path | None:
    """Write ``model/README.md`` of a finished run from its records (atomically: a reader sees the
    old card or the new one). Returns its path, or ``None`` when the run has no model or metrics."""
    import json

    from hpt_core import runs
    from hpt_core.hierarchy import LabelHierarchy, atomic_write_text

    run_dir = Path(run_dir)
    model_dir = run_dir / runs.MODEL_DIR
    metrics = runs.read_json(run_dir / runs.METRICS)
    config = runs.read_json(run_dir / runs.RUN_CONFIG)
    if not isinstance(metrics, dict) or not isinstance(config, dict) or not (model_dir / "hierarchy.json").is_file():
        return None
    hierarchy = LabelHierarchy.from_dict(json.loads((model_dir / "hierarchy.json").read_text(encoding="utf-8")))
    text = model_card(config, metrics, hierarchy, name=config.get("name") or run_dir.name)
    return atomic_write_text(model_dir / CARD, text)
