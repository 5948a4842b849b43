"""Experiments: methods × seeds × training fractions, the ablation table (Table 3) and Figure 4.

One definition, :class:`Experiment`, plans the runs of the CLI's ``ablate`` (one seed, all of train)
and ``low-resource`` (one method, one fraction) and of the app's one-click experiment (everything
at once, as one background job that queues its runs). Runs are ``training.train`` with
configurations from ``methods``; tables are built from the runs' ``metrics.json`` files, so the
app can show the same tables for runs trained elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hpt_core import runs
from hpt_core.config import (DEFAULT_BACKBONE, DataSpec, PipelineConfig, RunConfig, TrainConfig, saved_pipeline,
                             split_model_fields)
from hpt_core.recipes import pipeline_recipe
from hpt_core.errors import HPTInputError
from hpt_core.methods import ABLATIONS, BASELINES, METHODS, applicable_overrides, describe, resolve_method
from hpt_core.training import train
from hpt_core.zero_shot import ZERO_SHOT, ZeroShotConfig, evaluate_into, prepare_run


def method_description(method: str) -> str:
    """The one-line description of a method of the registry, or of the zero-shot predictor."""
    if method == ZERO_SHOT:
        return "zero-shot: label names against the text with the bundled encoder, top-down; no training"
    return describe(method) if method in METHODS else ""


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


#: What besides the method, the seed and the training fraction makes a run what it is. Runs that
#: differ in any of these are different experiments: never averaged as if they were seeds, and shown
#: beside their figures so that no Δ silently compares a 2-step test run with a real one.
SETTINGS = ("recipe", "epochs", "max_steps", "max_length", "lexical_channel", "lexical_fit", "blend", "backbone", "start")


def recipe_of(config: dict) -> str:
    """The recipe (``recipes.RECIPES``) whose training, model and pipeline settings a run's ``run.json`` has
    (the options a recipe sets, at the recipe's value or, where another recipe sets them, at the
    default), or ``"custom"`` when none matches."""
    from hpt_core.config import HPTConfig
    from hpt_core.recipes import RECIPES, recipe_model_options

    model, train = (config or {}).get("model") or {}, (config or {}).get("train") or {}
    pipeline = saved_pipeline(config)
    train_keys = set().union(*(r.train for r in RECIPES.values()))
    model_keys = set().union(*(recipe_model_options(name, model) for name in RECIPES))
    pipeline_keys = set().union(*(r.pipeline for r in RECIPES.values()))
    train_defaults, model_defaults, pipeline_defaults = TrainConfig(), HPTConfig(), PipelineConfig()
    for name, recipe in RECIPES.items():
        want_train = {k: recipe.train.get(k, getattr(train_defaults, k)) for k in train_keys}
        options = recipe_model_options(name, model)
        want_model = {k: options.get(k, getattr(model_defaults, k)) for k in model_keys}
        want_pipeline = {k: recipe.pipeline.get(k, getattr(pipeline_defaults, k)) for k in pipeline_keys}
        # a setting missing from run.json came after the run (run.json records every field): it matches
        if all(train.get(k, getattr(train_defaults, k)) == v for k, v in want_train.items() if not train or k in train) \
                and all(model.get(k, getattr(model_defaults, k)) == v for k, v in want_model.items()) \
                and all(pipeline[k] == v for k, v in want_pipeline.items()):
            return name
    return "custom"


def run_settings(config: dict) -> dict:
    """A run's ``SETTINGS`` from its ``run.json`` (as resolved: ``epochs`` after the CPU token
    budget), each a plain value (never ``None``, so that tables group and show them)."""
    model, train = (config or {}).get("model") or {}, (config or {}).get("train") or {}
    pipeline = saved_pipeline(config)
    backbone = str(model.get("backbone") or DEFAULT_BACKBONE)
    if model.get("method") == ZERO_SHOT:  # nothing trained: no recipe, no epochs (run.json keeps TrainConfig's defaults)
        return {"recipe": "none", "epochs": 0, "max_steps": "", "max_length": int(model.get("max_length", 256)),
                "lexical_channel": "none", "lexical_fit": "none", "blend": "none",
                "backbone": Path(backbone).name if Path(backbone).is_absolute() else backbone, "start": "pretrained"}
    return {"recipe": recipe_of(config), "epochs": int(train.get("epochs", TrainConfig.epochs)),
            "max_steps": "" if train.get("max_steps") is None else int(train["max_steps"]),
            "max_length": int(model.get("max_length", 256)), "lexical_channel": pipeline.get("lexical_channel") or "none",
            # a channel fitted another way is another experiment (runs before session 16: logistic)
            "lexical_fit": pipeline.get("lexical_fit") if pipeline.get("lexical_channel") else "none",
            "blend": pipeline.get("blend") or "none",
            "backbone": Path(backbone).name if Path(backbone).is_absolute() else backbone,
            # a warm start (hpt_core.warm_start) learnt from another run first: never one seed of a fresh run
            "start": f"from {Path(train['init_from']).parent.name or train['init_from']}" if train.get("init_from")
            else "pretrained"}


def comparison_table(run_dirs: list[str | Path], split: str = "test", reference: str = "hpt",
                     reference_run: str | None = None) -> pd.DataFrame:
    """One row per run, like the paper's Table 3: grouped by dataset and split, the reference row
    first in each group, each figure (%) followed by its Δ against that row, then the settings that
    make each run what it is (``SETTINGS``, seed, fraction, decision rule, blend weight).

    The reference of a group is ``reference_run`` (a run's folder name) where the group has it, else
    its best run of method ``reference`` (highest macro-F1: a short test run never becomes the
    reference of a real one by coming first); column ``reference`` marks it. ``split`` is ``"test"``
    or ``"dev"`` (falls back to dev when a run has no test figures). Runs on different datasets (or
    splits) are never compared with each other: each group has its own reference, and a group
    without one has no Δ (empty cells).
    """
    rows = []
    for run_dir in run_dirs:
        metrics = run_metrics(run_dir)
        report = metrics.get(split) or metrics.get("dev")
        if not report:
            continue
        config = runs.read_json(Path(run_dir) / runs.RUN_CONFIG, {}) or {}
        method = metrics.get("method") or config.get("model", {}).get("method", "?")
        train = config.get("train") or {}
        row = {
            "dataset": dataset_of(config), "split": split if metrics.get(split) else "dev",
            "run": Path(run_dir).name, "method": method,
            "micro_f1": 100 * report["micro_f1"], "macro_f1": 100 * report["macro_f1"],
            **run_settings(config), "seed": None if method == ZERO_SHOT else train.get("seed"),
            "fraction": train.get("low_resource") or 1.0,
            # each run may decide by its own rule (chosen on dev under the small-data recipe)
            "decision": "top-down" if method == "zero-shot" else report.get("decision", "threshold"),
            # the model's weight in a classical blend (None: the model's scores alone)
            "blend_weight": (metrics.get("blend") or {}).get("model_weight"),
            "macro_f1_all_labels": 100 * report["macro_f1_all_labels"],
            "consistent_micro_f1": 100 * report["consistent"]["micro_f1"],
            "consistent_macro_f1": 100 * report["consistent"]["macro_f1"],
            "hierarchical_f1": 100 * report["hierarchical_f1"], "path_consistency": 100 * report["path_consistency"],
        }
        for depth, value in report["per_depth_macro_f1"].items():
            row[f"depth_{depth}_macro_f1"] = None if value is None else 100 * value
        # run_seconds: the whole run as the user waited for it (fits, tokenising, evaluation); train_seconds:
        # the steps and dev evaluations alone
        row.update(run_seconds=metrics.get("run_seconds"), train_seconds=metrics.get("train_seconds"),
                   train_docs_per_s=metrics.get("train_docs_per_s"),
                   best_epoch=metrics.get("best_epoch"), epochs_run=metrics.get("epochs_run"))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # Groups in order of first appearance; within a group the reference run leads.
    group = list(zip(table["dataset"], table["split"]))
    first_seen = {key: i for i, key in reversed(list(enumerate(group)))}
    table["_group"] = [first_seen[key] for key in group]
    table["reference"] = False
    for _, part in table.groupby("_group", sort=False):
        chosen = part[part["run"] == reference_run]
        if chosen.empty:
            candidates = part[part["method"] == reference]
            chosen = candidates.loc[[candidates["macro_f1"].idxmax()]] if len(candidates) else chosen
        if len(chosen):
            table.loc[chosen.index[0], "reference"] = True
    table["_lead"] = [0 if r else 1 for r in table["reference"]]
    table = table.sort_values(["_group", "_lead"], kind="stable").drop(columns=["_lead"]).reset_index(drop=True)
    if table["reference"].any():
        for f in ("micro_f1", "macro_f1"):
            deltas = []
            for _, part in table.groupby("_group", sort=False):
                refs = part[part["reference"]]
                deltas.append(part[f] - refs.iloc[0][f] if len(refs) else pd.Series([None] * len(part), index=part.index))
            table.insert(table.columns.get_loc(f) + 1, f"delta_{f}", pd.concat(deltas).astype(float))
    return table.drop(columns=["_group"])


def run_ablation(data: DataSpec, methods: list[str], out_dir: str | Path, train_config: TrainConfig | None = None,
                 on_progress=None, recipe: str | None = None, **model_overrides) -> pd.DataFrame:
    """Train each method on the same data and seed into ``out_dir/<method>``; return and save the table.

    ``recipe`` names the model options applied to each method where they fit (``resolve_method``);
    ``train_config`` carries the training side. ``zero-shot`` among the methods adds the untrained
    predictor's row. The experiment is :class:`Experiment` with one seed and all of train.

    Finished runs are skipped, so an interrupted ablation picks up where it stopped.
    """
    train_config = train_config or TrainConfig()
    spec = Experiment(name=Path(out_dir).name or "ablation", data=data, methods=list(methods),
                      seeds=[train_config.seed], fractions=[train_config.low_resource or 1.0], recipe=recipe,
                      train=train_config, model_overrides=model_overrides)
    run_dirs = run_experiment(spec, out_dir, on_progress)
    table = comparison_table(run_dirs, "test" if data.test else "dev")
    table.insert(table.columns.get_loc("method") + 1, "description", [method_description(m) for m in table["method"]])
    table.to_csv(Path(out_dir) / "ablation.csv", index=False)
    return table


def low_resource_summary(run_dirs: list[str | Path], split: str = "test") -> pd.DataFrame:
    """Mean ± std over seeds, per (method, fraction) and settings: the paper's Figure 4.

    Runs are averaged only when they differ by their seed alone (same dataset, split, method,
    fraction and ``SETTINGS``); ``<figure>_count`` says over how many. Columns ``<figure>_mean``, ``<figure>_std`` (sample standard deviation) and ``<figure>_count`` for
    micro/macro-F1, their hierarchy-consistent versions, each depth's macro-F1 and training seconds.
    """
    table = comparison_table(run_dirs, split)
    if table.empty:
        return table
    figures = ["micro_f1", "macro_f1", "consistent_micro_f1", "consistent_macro_f1", "train_seconds",
               *sorted(c for c in table.columns if c.startswith("depth_"))]
    table["train_seconds"] = table["train_seconds"].astype(float)
    # Only seeds are averaged: runs on other data, or with any other setting, are other groups.
    grouped = table.groupby(["dataset", "split", "method", "fraction", *SETTINGS], sort=False)[figures]
    summary = grouped.agg(["mean", "std", "count"]).reset_index()
    summary.columns = ["_".join(c).strip("_") for c in summary.columns]
    return summary


def run_low_resource(data: DataSpec, method: str, fraction: float, seeds: list[int], out_dir: str | Path,
                     train_config: TrainConfig | None = None, on_progress=None, recipe: str | None = None,
                     **model_overrides) -> pd.DataFrame:
    """Train ``method`` on a seeded ``fraction`` of train once per seed; return mean ± std.

    The experiment is :class:`Experiment` with one method and one fraction.
    """
    spec = Experiment(name=Path(out_dir).name or "low-resource", data=data, methods=[method], seeds=list(seeds),
                      fractions=[fraction], recipe=recipe, train=train_config or TrainConfig(),
                      model_overrides=model_overrides)
    run_dirs = run_experiment(spec, out_dir, on_progress)
    summary = low_resource_summary(run_dirs, "test" if data.test else "dev")
    summary.to_csv(Path(out_dir) / f"low-resource-{method}-{fraction:g}.csv", index=False)
    return summary


# ---- one experiment: methods × seeds × training fractions ---------------------------------------------------
#: What the app offers by default: the rows of Table 3, the baselines and the untrained predictor.
DEFAULT_METHODS = [*ABLATIONS, *BASELINES, ZERO_SHOT]
EXPERIMENT_FILE = "experiment.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


@dataclass
class Experiment:
    """A named experiment: every method × seed × training fraction on one dataset, with one recipe.

    ``ablate`` is an experiment with one seed and all of train, ``low-resource`` one with one method
    and one fraction; the app's one-click experiment is the general case. ``train`` is the base
    training configuration (each run sets its seed and fraction); ``model_overrides`` apply to
    every method (e.g. ``backbone``, ``max_length``), and so do ``pipeline_overrides`` (the
    ``PipelineConfig``: ``lexical_channel``, ``blend``, ``decision``; given among
    ``model_overrides``, as experiments saved before the split did, they move there). ``zero-shot``
    runs once (no seed, no training).
    """

    name: str
    data: DataSpec
    methods: list[str]
    seeds: list[int] = field(default_factory=lambda: [42])
    fractions: list[float] = field(default_factory=lambda: [1.0])
    recipe: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    model_overrides: dict = field(default_factory=dict)
    pipeline_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model_overrides, moved = split_model_fields(dict(self.model_overrides))
        self.pipeline_overrides = {**moved, **self.pipeline_overrides}
        if not self.methods:
            raise HPTInputError("an experiment needs at least one method")
        for method in self.methods:
            if method not in METHODS and method != ZERO_SHOT:
                raise HPTInputError(f"unknown method {method!r}; choose from {', '.join([*METHODS, ZERO_SHOT])}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise HPTInputError("give one or more different seeds")
        if not self.fractions or any(not 0.0 < f <= 1.0 for f in self.fractions):
            raise HPTInputError("training fractions must lie in (0, 1]")

    def plan(self) -> list[tuple[str, str, int | None, float | None]]:
        """``(run name, method, seed, fraction)`` of every run, in launch order (zero-shot first: it is quick).

        A name is the method, then ``-<fraction>`` below all of train, then ``-seed<n>`` when the
        experiment varies seeds or fractions: ``hpt`` in an ablation, ``hpt-0.1-seed1`` in a
        low-resource experiment.
        """
        out = [(ZERO_SHOT, ZERO_SHOT, None, None)] if ZERO_SHOT in self.methods else []
        several = len(self.seeds) > 1
        for method in (m for m in self.methods if m != ZERO_SHOT):
            for fraction in self.fractions:
                for seed in self.seeds:
                    name = method + (f"-{fraction:g}" if fraction < 1.0 else "")
                    name += f"-seed{seed}" if several or fraction < 1.0 else ""
                    out.append((name, method, seed, fraction))
        return out

    def estimate_seconds(self, train_tokens: int, n_documents: int, speed, on_cpu: bool) -> float:
        """The estimated wall time of every planned run, one after the other (``hpt_core.estimates``):
        ``train_tokens`` are the (approximate) tokens of all of train, ``n_documents`` its documents,
        ``speed`` an ``estimates.Speed``. A zero-shot run reads each text once, without training."""
        from hpt_core.estimates import run_seconds

        total = 0.0
        for _, method, _, fraction in self.plan():
            if method == ZERO_SHOT:
                total += train_tokens / speed.tokens_per_s / 3  # one forward pass: about a third of a step's cost
                continue
            share = 1.0 if fraction is None or fraction >= 1.0 else fraction
            total += run_seconds(int(train_tokens * share), max(1, round(n_documents * share)), self.train, speed,
                                 on_cpu)
        return total

    def run_config(self, method: str, seed: int, fraction: float, name: str) -> RunConfig:
        model = resolve_method(method, self.recipe, **applicable_overrides(method, self.model_overrides))
        train = self.train.replace(seed=seed, low_resource=None if fraction >= 1.0 else fraction)
        pipeline = pipeline_recipe(self.recipe, **self.pipeline_overrides)
        return RunConfig(data=self.data, model=model, train=train, name=name, pipeline=pipeline)

    def zero_shot_config(self) -> ZeroShotConfig:
        return ZeroShotConfig(backbone=self.model_overrides.get("backbone", DEFAULT_BACKBONE),
                              max_length=self.model_overrides.get("max_length", 256))

    def check(self) -> None:
        """Resolve every run's configuration: an option that fits no method fails before anything is written."""
        for name, method, seed, fraction in self.plan():
            if method != ZERO_SHOT:
                self.run_config(method, seed, fraction, name)

    def to_dict(self) -> dict:
        return {"name": self.name, "data": self.data.to_dict(), "methods": list(self.methods), "seeds": list(self.seeds),
                "fractions": list(self.fractions), "recipe": self.recipe, "train": self.train.to_dict(),
                "model_overrides": dict(self.model_overrides), "pipeline_overrides": dict(self.pipeline_overrides)}

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> "Experiment":
        try:
            return cls(name=data["name"], data=DataSpec.from_dict(data["data"], source), methods=list(data["methods"]),
                       seeds=list(data["seeds"]), fractions=list(data["fractions"]), recipe=data.get("recipe"),
                       train=TrainConfig.from_dict(data.get("train", {}), source),
                       model_overrides=dict(data.get("model_overrides", {})),
                       pipeline_overrides=dict(data.get("pipeline_overrides", {})))
        except (KeyError, TypeError) as err:
            raise HPTInputError(f"not an experiment file: {err}", source) from None


def run_experiment(spec: Experiment, out_dir: str | Path, on_progress=None) -> list[Path]:
    """Run every planned run in this process, one after the other, into ``out_dir/<run name>``.

    Finished runs are skipped (an interrupted experiment picks up where it stopped; the interrupted
    run resumes from its checkpoint). Returns the run folders in plan order.
    """
    out_dir = Path(out_dir)
    spec.check()
    run_dirs = []
    for name, method, seed, fraction in spec.plan():
        run_dir = out_dir / name
        run_dirs.append(run_dir)
        if runs.run_status(run_dir).get("state") == "completed" and run_metrics(run_dir):
            continue
        if method == ZERO_SHOT:  # no training: label names against the text, threshold on dev
            evaluate_into(spec.data, run_dir, spec.zero_shot_config())
        else:
            train(spec.run_config(method, seed, fraction, name), run_dir, on_progress=on_progress)
    return run_dirs


# ---- the app: an experiment as one background job that queues its runs ----------------------------------------
def experiment_dir(experiments_root: str | Path, name: str) -> Path:
    return Path(experiments_root) / name


def experiment_runs(exp_dir: str | Path) -> list[Path]:
    """The run folders of a launched experiment, in plan order."""
    record = runs.read_json(Path(exp_dir) / EXPERIMENT_FILE, {}) or {}
    return [Path(p) for p in record.get("runs", [])]


def read_experiment(exp_dir: str | Path) -> Experiment:
    path = Path(exp_dir) / EXPERIMENT_FILE
    record = runs.read_json(path)
    if not record:
        raise HPTInputError("no experiment here", exp_dir)
    return Experiment.from_dict(record["spec"], str(path))


def list_experiments(experiments_root: str | Path) -> list[Path]:
    """Launched experiments, newest first."""
    root = Path(experiments_root)
    found = [p for p in root.iterdir() if (p / EXPERIMENT_FILE).is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: (runs.read_json(p / EXPERIMENT_FILE, {}) or {}).get("launched", 0), reverse=True)


def launch_experiment(spec: Experiment, runs_root: str | Path, experiments_root: str | Path,
                      python: str | None = None) -> Path:
    """Write the experiment and its run folders (``<runs_root>/<experiment>-<run>``, state queued) and start
    one background job that runs them in order, each waiting for the device like any training job.

    Nothing is written when the experiment is rejected (bad name, unknown method, an option that fits
    no method, a name already used).
    """
    if not _NAME.match(spec.name):
        raise HPTInputError("an experiment name is 1-48 letters, digits, '-' or '_', starting with a letter or digit")
    exp_dir = experiment_dir(experiments_root, spec.name)
    if exp_dir.exists():
        raise HPTInputError(f"an experiment named {spec.name!r} exists; resume it or choose another name")
    spec.check()
    run_dirs = [Path(runs_root).resolve() / f"{spec.name}-{name}" for name, *_ in spec.plan()]
    taken = [p.name for p in run_dirs if p.exists()]
    if taken:
        raise HPTInputError(f"run folders already exist: {', '.join(taken[:3])}; choose another experiment name")
    for run_dir, (name, method, seed, fraction) in zip(run_dirs, spec.plan()):
        if method == ZERO_SHOT:
            prepare_run(spec.data, run_dir, spec.zero_shot_config(), name=run_dir.name)
        else:
            run_dir.mkdir(parents=True)
            spec.run_config(method, seed, fraction, run_dir.name).to_json(run_dir / runs.RUN_CONFIG)
    runs.atomic_write_json(exp_dir / EXPERIMENT_FILE, {"spec": spec.to_dict(), "runs": [str(p) for p in run_dirs],
                                                        "launched": time.time()})
    start_experiment(exp_dir, python)
    return exp_dir


def start_experiment(exp_dir: str | Path, python: str | None = None) -> int:
    """Start (or resume) the experiment's job: ``python -m hpt_core run-experiment DIR``; returns its pid.

    Unfinished runs are marked queued under the job's pid, so the app's queue lists them at once.
    """
    exp_dir = Path(exp_dir).resolve()
    if experiment_state(exp_dir) in runs.ACTIVE_STATES:
        raise RuntimeError(f"experiment {exp_dir.name} is already running")
    (exp_dir / runs.CANCEL).unlink(missing_ok=True)
    project_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [project_root, os.environ.get("PYTHONPATH")]))}
    with open(exp_dir / runs.LOG, "a", encoding="utf-8") as log:
        process = subprocess.Popen([python or sys.executable, "-m", "hpt_core", "run-experiment", str(exp_dir)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=project_root, env=env)
    runs.update_status(exp_dir, state="queued", pid=process.pid, launched=time.time())
    for run_dir in experiment_runs(exp_dir):
        if runs.run_status(run_dir).get("state") != "completed":
            Path(run_dir, runs.CANCEL).unlink(missing_ok=True)
            runs.update_status(run_dir, state="queued", pid=process.pid, launched=time.time(), error=None)
    return process.pid


def run_experiment_job(exp_dir: str | Path) -> None:
    """The experiment's background job: each unfinished run in order, each taking the device lock.

    A failed run is recorded in its folder and the next one starts; a ``cancel`` file in the
    experiment folder stops it after the current run (``cancel_experiment`` also stops that run).
    """
    from hpt_core.training import run_job
    from hpt_core.zero_shot import is_zero_shot_run, run_job as zero_shot_job

    exp_dir = Path(exp_dir)
    runs.update_status(exp_dir, state="running", pid=os.getpid(), started=time.time())
    for run_dir in experiment_runs(exp_dir):
        if (exp_dir / runs.CANCEL).exists():
            break
        if runs.run_status(run_dir).get("state") == "completed":
            continue
        try:
            (zero_shot_job if is_zero_shot_run(run_dir) else run_job)(run_dir)
        except Exception:  # recorded in the run's status and log; the experiment goes on
            continue
    cancelled = (exp_dir / runs.CANCEL).exists()
    if cancelled:
        for run_dir in experiment_runs(exp_dir):
            if runs.run_status(run_dir).get("state") in (*runs.ACTIVE_STATES, "interrupted"):
                runs.update_status(run_dir, state="cancelled", finished=time.time())
    runs.update_status(exp_dir, state="cancelled" if cancelled else "completed", finished=time.time())


def experiment_state(exp_dir: str | Path) -> str:
    """``queued``/``running`` while its job lives; else ``completed``, ``cancelled`` or ``interrupted``."""
    return runs.run_status(exp_dir).get("state", "new")


def experiment_progress(exp_dir: str | Path) -> dict[str, int]:
    """How many of its runs are in each state."""
    counts: dict[str, int] = {}
    for run_dir in experiment_runs(exp_dir):
        state = runs.run_status(run_dir).get("state", "new")
        counts[state] = counts.get(state, 0) + 1
    return counts


def cancel_experiment(exp_dir: str | Path, grace_s: float = 10.0) -> None:
    """Stop the whole experiment: no further run starts, the running one is cancelled, the queued ones too."""
    exp_dir = Path(exp_dir)
    (exp_dir / runs.CANCEL).touch()
    for run_dir in experiment_runs(exp_dir):
        if runs.run_status(run_dir).get("state") == "running":
            runs.cancel(run_dir, grace_s=grace_s)  # may end the job's process: it runs the run itself
    for run_dir in experiment_runs(exp_dir):
        if runs.run_status(run_dir).get("state") in (*runs.ACTIVE_STATES, "interrupted"):
            runs.update_status(run_dir, state="cancelled", finished=time.time())
    if experiment_state(exp_dir) in (*runs.ACTIVE_STATES, "interrupted"):
        runs.update_status(exp_dir, state="cancelled", finished=time.time())


def experiment_summary(exp_dir: str | Path, split: str = "test", reference: str = "hpt") -> pd.DataFrame:
    """Table 3 of an experiment: per method and fraction, mean ± std over seeds and Δ of the means to HPT.

    Zero-shot uses no training documents: its one row is repeated at every fraction of the experiment
    so it reads as a flat line in Figure 4.
    """
    spec = read_experiment(exp_dir)
    done = [p for p in experiment_runs(exp_dir) if run_metrics(p)]
    summary = low_resource_summary(done, split)
    if summary.empty:
        return summary
    zero = summary[summary["method"] == ZERO_SHOT]
    if not zero.empty:
        copies = [zero.assign(fraction=f) for f in spec.fractions]
        summary = pd.concat([summary[summary["method"] != ZERO_SHOT], *copies], ignore_index=True)
    order = {m: i for i, m in enumerate(spec.methods)}
    summary = summary.sort_values(["fraction", "method"], key=lambda c: c.map(order) if c.name == "method" else c)
    for figure in ("micro_f1", "macro_f1"):
        ref = summary[summary["method"] == reference].groupby("fraction")[f"{figure}_mean"].first()
        summary[f"delta_{figure}"] = summary[f"{figure}_mean"] - summary["fraction"].map(ref)
    return summary.reset_index(drop=True)
