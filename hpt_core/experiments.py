"""Experiment runners: the ablation table (Table 3) and the low-resource setting (Figure 4).

Both are loops over ``training.train`` with configurations from ``methods``; their tables are built
from the runs' ``metrics.json`` files, so the app can show the same tables for runs trained elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hpt_core import runs
from hpt_core.config import DataSpec, RunConfig, TrainConfig
from hpt_core.methods import describe, resolve_method
from hpt_core.training import train


def run_metrics(run_dir: str | Path) -> dict:
    return runs.read_json(Path(run_dir) / runs.METRICS, {}) or {}


def dataset_of(config: dict) -> str:
    """A run's dataset as a short name: the folder of its taxonomy, with the train file's name when
    that is not ``train`` (``20ng (train_lr)``), so runs on different data never share a name."""
    data = (config or {}).get("data") or {}
    taxonomy, train = data.get("taxonomy"), data.get("train")
    if not taxonomy:
        return "?"
    name = Path(taxonomy).resolve().parent.name
    stem = Path(train).name.split(".")[0] if train else "train"
    return name if stem == "train" else f"{name} ({stem})"


def comparison_table(run_dirs: list[str | Path], split: str = "test", reference: str = "hpt") -> pd.DataFrame:
    """One row per run, like the paper's Table 3: grouped by dataset and split, the ``reference``
    method's row first in each group, each figure (%) followed by its Δ against that row.

    ``split`` is ``"test"`` or ``"dev"`` (falls back to dev when a run has no test figures). Runs on
    different datasets (or splits) are never compared with each other: each group has its own
    reference, and a group without a ``reference`` run has no Δ (empty cells).
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
            "dataset": dataset_of(config), "split": split if metrics.get(split) else "dev",
            "run": Path(run_dir).name, "method": method,
            "micro_f1": 100 * report["micro_f1"], "macro_f1": 100 * report["macro_f1"],
            "macro_f1_all_labels": 100 * report["macro_f1_all_labels"],
            "consistent_micro_f1": 100 * report["consistent"]["micro_f1"],
            "consistent_macro_f1": 100 * report["consistent"]["macro_f1"],
            "hierarchical_f1": 100 * report["hierarchical_f1"], "path_consistency": 100 * report["path_consistency"],
        }
        for depth, value in report["per_depth_macro_f1"].items():
            row[f"depth_{depth}_macro_f1"] = None if value is None else 100 * value
        row.update(train_seconds=metrics.get("train_seconds"), train_docs_per_s=metrics.get("train_docs_per_s"),
                   best_epoch=metrics.get("best_epoch"), epochs_run=metrics.get("epochs_run"))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # Groups in order of first appearance; within a group the first reference run leads.
    group = list(zip(table["dataset"], table["split"]))
    first_seen = {key: i for i, key in reversed(list(enumerate(group)))}
    table["_group"] = [first_seen[key] for key in group]
    table["_lead"] = [0 if m == reference else 1 for m in table["method"]]
    table = table.sort_values(["_group", "_lead"], kind="stable").drop(columns=["_lead"]).reset_index(drop=True)
    if reference in set(table["method"]):
        figures = ["micro_f1", "macro_f1"]
        deltas = {f"delta_{f}": [] for f in figures}
        for key, part in table.groupby("_group", sort=False):
            refs = part[part["method"] == reference]
            for f in figures:
                values = part[f] - refs.iloc[0][f] if len(refs) else pd.Series([None] * len(part), index=part.index)
                deltas[f"delta_{f}"].append(values)
        for f in figures:
            table.insert(table.columns.get_loc(f) + 1, f"delta_{f}", pd.concat(deltas[f"delta_{f}"]).astype(float))
    return table.drop(columns=["_group"])


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
        config = RunConfig(data=data, model=resolve_method(method, recipe, **model_overrides), train=train_config,
                           name=method)
        train(config, run_dir, on_progress=on_progress)
    table = comparison_table(run_dirs, "test" if data.test else "dev")
    table.insert(table.columns.get_loc("method") + 1, "description", [describe(m) for m in table["method"]])
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
    fraction_of = dict(zip([Path(p).name for p in run_dirs if run_metrics(p)], fractions))
    seed_of = dict(zip([Path(p).name for p in run_dirs if run_metrics(p)], seeds))
    table["fraction"], table["seed"] = table["run"].map(fraction_of), table["run"].map(seed_of)
    figures = ["micro_f1", "macro_f1", "consistent_micro_f1", "consistent_macro_f1", "train_seconds",
               *sorted(c for c in table.columns if c.startswith("depth_"))]
    # Seeds are averaged only within one dataset and split: runs on other data are other groups.
    grouped = table.groupby(["dataset", "split", "method", "fraction"], sort=False)[figures]
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
