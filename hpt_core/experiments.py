"""Experiment runners: the ablation table (Table 3) and the low-resource setting (Figure 4).

Both are loops over ``training.train`` with configurations from ``methods``; their tables are built
from the runs' ``metrics.json`` files, so the app can show the same tables for runs trained elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hpt_core import runs
from hpt_core.config import DEFAULT_BACKBONE, DataSpec, RunConfig, TrainConfig
from hpt_core.methods import METHODS, describe, resolve_method
from hpt_core.training import train
from hpt_core.zero_shot import ZERO_SHOT, ZeroShotConfig, evaluate_into


def method_description(method: str) -> str:
    """The one-line description of a method of the registry, or of the zero-shot predictor."""
    if method == ZERO_SHOT:
        return "zero-shot: label names against the text with the bundled encoder, top-down; no training"
    return describe(method) if method in METHODS else ""


def run_metrics(run_dir: str | Path) -> dict:
    return runs.read_json(Path(run_dir) / runs.METRICS, {}) or {}


def comparison_table(run_dirs: list[str | Path], split: str = "test", reference: str = "hpt") -> pd.DataFrame:
    """One row per run: micro/macro-F1 (%), per-depth macro-F1, and deltas against the ``reference`` method.

    ``split`` is ``"test"`` or ``"dev"`` (falls back to dev when a run has no test figures).
    """
    rows = []
    for run_dir in run_dirs:
        metrics = run_metrics(run_dir)
        report = metrics.get(split) or metrics.get("dev")
        if not report:
            continue
        config = runs.read_json(Path(run_dir) / runs.RUN_CONFIG, {}) or {}
        method = metrics.get("method") or config.get("model", {}).get("method", "?")
        row = {
            "run": Path(run_dir).name, "method": method, "split": split if metrics.get(split) else "dev",
            "micro_f1": 100 * report["micro_f1"], "macro_f1": 100 * report["macro_f1"],
            "macro_f1_all_labels": 100 * report["macro_f1_all_labels"],
            "consistent_micro_f1": 100 * report["consistent"]["micro_f1"],
            "consistent_macro_f1": 100 * report["consistent"]["macro_f1"],
            "hierarchical_f1": 100 * report["hierarchical_f1"], "path_consistency": 100 * report["path_consistency"],
            "train_seconds": metrics.get("train_seconds"),
            "train_docs_per_s": metrics.get("train_docs_per_s"),
            "best_epoch": metrics.get("best_epoch"), "epochs_run": metrics.get("epochs_run"),
        }
        for depth, value in report["per_depth_macro_f1"].items():
            row[f"depth_{depth}_macro_f1"] = None if value is None else 100 * value
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty and reference in set(table["method"]):
        ref = table[table["method"] == reference].iloc[0]
        table["delta_micro_f1"] = table["micro_f1"] - ref["micro_f1"]
        table["delta_macro_f1"] = table["macro_f1"] - ref["macro_f1"]
    return table


def run_ablation(data: DataSpec, methods: list[str], out_dir: str | Path, train_config: TrainConfig | None = None,
                 on_progress=None, recipe: str | None = None, **model_overrides) -> pd.DataFrame:
    """Train each method on the same data and seed into ``out_dir/<method>``; return and save the table.

    ``recipe`` names the model options applied to each method where they fit (``resolve_method``);
    ``train_config`` carries the training side.

    Finished runs are skipped, so an interrupted ablation picks up where it stopped.
    """
    out_dir = Path(out_dir)
    train_config = train_config or TrainConfig()
    run_dirs = []
    for method in methods:
        run_dir = out_dir / method
        run_dirs.append(run_dir)
        if runs.run_status(run_dir).get("state") == "completed" and run_metrics(run_dir):
            continue
        if method == ZERO_SHOT:  # no training: label names against the text, threshold on dev
            evaluate_into(data, run_dir, ZeroShotConfig(backbone=model_overrides.get("backbone", DEFAULT_BACKBONE),
                                                        max_length=model_overrides.get("max_length", 256)))
            continue
        config = RunConfig(data=data, model=resolve_method(method, recipe, **model_overrides), train=train_config,
                           name=method)
        train(config, run_dir, on_progress=on_progress)
    table = comparison_table(run_dirs, "test" if data.test else "dev")
    table.insert(2, "description", [method_description(m) for m in table["method"]])
    table.to_csv(out_dir / "ablation.csv", index=False)
    return table


def low_resource_summary(run_dirs: list[str | Path], split: str = "test") -> pd.DataFrame:
    """Mean ± std over seeds, per (method, fraction): the paper's Figure 4.

    Columns ``<figure>_mean``, ``<figure>_std`` (sample standard deviation) and ``<figure>_count`` for
    micro/macro-F1, their hierarchy-consistent versions, each depth's macro-F1 and training seconds.
    """
    table = comparison_table(run_dirs, split)
    if table.empty:
        return table
    fractions, seeds = [], []
    for run_dir in run_dirs:
        if not run_metrics(run_dir):
            continue
        config = runs.read_json(Path(run_dir) / runs.RUN_CONFIG, {}) or {}
        fractions.append(config.get("train", {}).get("low_resource") or 1.0)
        seeds.append(config.get("train", {}).get("seed"))
    table["fraction"], table["seed"] = fractions, seeds
    figures = ["micro_f1", "macro_f1", "consistent_micro_f1", "consistent_macro_f1", "train_seconds",
               *sorted(c for c in table.columns if c.startswith("depth_"))]
    grouped = table.groupby(["method", "fraction"])[figures]
    summary = grouped.agg(["mean", "std", "count"]).reset_index()
    summary.columns = ["_".join(c).strip("_") for c in summary.columns]
    return summary


def run_low_resource(data: DataSpec, method: str, fraction: float, seeds: list[int], out_dir: str | Path,
                     train_config: TrainConfig | None = None, on_progress=None, recipe: str | None = None,
                     **model_overrides) -> pd.DataFrame:
    """Train ``method`` on a seeded ``fraction`` of train once per seed; return mean ± std."""
    out_dir = Path(out_dir)
    base = train_config or TrainConfig()
    run_dirs = []
    for seed in seeds:
        run_dir = out_dir / f"{method}-{fraction:g}-seed{seed}"
        run_dirs.append(run_dir)
        if runs.run_status(run_dir).get("state") == "completed" and run_metrics(run_dir):
            continue
        config = RunConfig(data=data, model=resolve_method(method, recipe, **model_overrides),
                           train=base.replace(seed=seed, low_resource=fraction), name=run_dir.name)
        train(config, run_dir, on_progress=on_progress)
    summary = low_resource_summary(run_dirs, "test" if data.test else "dev")
    summary.to_csv(out_dir / f"low-resource-{method}-{fraction:g}.csv", index=False)
    return summary
