import math

import pytest

from hpt_core.config import DataSpec, TrainConfig
from hpt_core.experiments import comparison_table, run_ablation, run_low_resource


def _data(task_files):
    return DataSpec(**{k: str(v) for k, v in task_files.items()})


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_low_resource_runner_reports_mean_and_std_over_seeds(task_files, tiny_backbone, tmp_path):
    summary = run_low_resource(_data(task_files), "hpt", 0.5, [1, 2], tmp_path, TrainConfig(epochs=1, batch_size=8),
                               backbone=tiny_backbone, max_length=32)
    row = summary.iloc[0]
    assert row["method"] == "hpt" and row["fraction"] == 0.5 and row["macro_f1_count"] == 2
    assert not math.isnan(row["macro_f1_std"])
    # reported like a single run: per-depth macro-F1 and wall time, as mean and std over the seeds
    assert {"depth_1_macro_f1_mean", "depth_1_macro_f1_std", "train_seconds_mean"} <= set(summary.columns)
    assert (tmp_path / "low-resource-hpt-0.5.csv").is_file()
    # finished runs are not trained again
    again = run_low_resource(_data(task_files), "hpt", 0.5, [1, 2], tmp_path, TrainConfig(epochs=1, batch_size=8),
                             backbone=tiny_backbone, max_length=32)
    assert again.equals(summary)


def test_ablation_table_has_deltas_against_hpt(task_files, tiny_backbone, tmp_path):
    table = run_ablation(_data(task_files), ["hpt", "rm-mlm"], tmp_path, TrainConfig(epochs=1, batch_size=8),
                         backbone=tiny_backbone, max_length=32)
    assert list(table["method"]) == ["hpt", "rm-mlm"]
    assert table.loc[0, "delta_macro_f1"] == 0.0
    assert {"depth_1_macro_f1", "depth_3_macro_f1", "consistent_macro_f1", "description"} <= set(table.columns)
    assert comparison_table([tmp_path / "hpt"], split="dev").loc[0, "split"] == "dev"


def test_ablate_mlm_weight_leaves_the_rows_defined_without_mlm_alone(tmp_path, monkeypatch):
    import pandas as pd

    from hpt_core import experiments
    from hpt_core.config import DataSpec, TrainConfig

    trained = {}
    monkeypatch.setattr(experiments, "train", lambda config, run_dir, **kw: trained.setdefault(config.name, config.model))
    monkeypatch.setattr(experiments, "comparison_table", lambda *a, **kw: pd.DataFrame(columns=["run", "x", "method"]))
    experiments.run_ablation(DataSpec("t", "tr", "dv"), ["hpt", "rm-mlm", "vanilla"], tmp_path, TrainConfig(),
                             mlm_weight=0.5)
    assert trained["hpt"].mlm_weight == 0.5
    assert trained["rm-mlm"].mlm_weight == 0.0 and trained["vanilla"].mlm_weight == 0.0


def _fake_run(root, name, method="hpt", macro=0.5, seed=1, recipe="small-data", epochs=10, max_steps=None,
              fraction=None, init_from=None, before_the_split=False, lexical_fit=None):
    """A finished run folder as training leaves it (run.json, metrics.json), without training
    (``before_the_split``: its run.json as written before ``PipelineConfig``, the pipeline's
    settings inside ``model``)."""
    import json

    from hpt_core.config import RunConfig

    from hpt_core.recipes import pipeline_recipe, train_recipe
    from hpt_core.methods import resolve_method

    model = resolve_method(method, recipe=recipe)
    train = train_recipe(recipe, seed=seed, epochs=epochs, max_steps=max_steps, low_resource=fraction,
                         init_from=init_from)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    saved = RunConfig(data=DataSpec("/data/d/taxonomy.tsv", "/data/d/train.jsonl", "/data/d/dev.jsonl"), model=model,
                      train=train, pipeline=pipeline_recipe(recipe, **({"lexical_fit": lexical_fit} if lexical_fit else {}))).to_dict()
    if before_the_split:  # then, too, before lexical_fit (session 16)
        pipeline = saved.pop("pipeline")
        pipeline.pop("lexical_fit")
        saved["model"].update(pipeline)
    (run_dir / "run.json").write_text(json.dumps(saved))
    report = {"micro_f1": macro + 0.1, "macro_f1": macro, "macro_f1_all_labels": macro,
              "consistent": {"micro_f1": macro, "macro_f1": macro}, "hierarchical_f1": macro,
              "path_consistency": 1.0, "per_depth_macro_f1": {"1": macro}}
    (run_dir / "metrics.json").write_text(json.dumps({"method": method, "test": report, "train_seconds": 10.0,
                                                      "run_seconds": 12.0}))
    return run_dir


def test_the_reference_is_the_best_hpt_run_or_the_one_chosen_never_merely_the_first(tmp_path):
    """A 2-step test run that comes first must not become every Δ's reference (issue 21)."""
    runs = [_fake_run(tmp_path, "quick-test", macro=0.01, max_steps=2, recipe="paper"),
            _fake_run(tmp_path, "real", macro=0.80), _fake_run(tmp_path, "ablation", method="rm-mlm", macro=0.70),
            _fake_run(tmp_path, "older", macro=0.60, before_the_split=True),
            _fake_run(tmp_path, "ridge", macro=0.55, lexical_fit="ridge")]
    table = comparison_table(runs)
    assert table.loc[0, "run"] == "real" and table.loc[0, "reference"]
    deltas = dict(zip(table["run"], table["delta_macro_f1"]))
    assert deltas["ablation"] == pytest.approx(-10.0) and deltas["quick-test"] == pytest.approx(-79.0)
    # the settings that make each run what it is are columns beside its figures
    quick = table.set_index("run").loc["quick-test"]
    assert quick["recipe"] == "paper" and quick["max_steps"] == 2
    assert table.set_index("run").loc["real", "recipe"] == "small-data"
    older = table.set_index("run").loc["older"]  # a run.json written before PipelineConfig: the same settings
    assert (older["recipe"], older["lexical_channel"], older["blend"]) == ("small-data", "tfidf", "classical")
    # ... and its channel was fitted by the logistic fitter, the only one then; a ridge channel is shown as one
    assert (older["lexical_fit"], table.set_index("run").loc["ridge", "lexical_fit"]) == ("logistic", "ridge")
    assert {"epochs", "max_length", "lexical_channel", "lexical_fit", "blend", "seed", "run_seconds"} <= set(table.columns)
    # the user's choice of reference wins
    chosen = comparison_table(runs, reference_run="ablation")
    assert chosen.loc[0, "run"] == "ablation"
    assert dict(zip(chosen["run"], chosen["delta_macro_f1"]))["real"] == pytest.approx(10.0)


def test_means_over_seeds_only_over_runs_that_differ_by_their_seed_alone(tmp_path):
    from hpt_core.experiments import low_resource_summary

    runs = [_fake_run(tmp_path, "s1", macro=0.80, seed=1), _fake_run(tmp_path, "s2", macro=0.70, seed=2),
            _fake_run(tmp_path, "short", macro=0.01, seed=3, max_steps=2),
            _fake_run(tmp_path, "paper", macro=0.30, seed=4, recipe="paper"),
            # a warm start learnt from another run first: not one more seed of the fresh runs
            _fake_run(tmp_path, "warm", macro=0.99, seed=5, init_from=str(tmp_path / "s1" / "model"))]
    summary = low_resource_summary(runs)
    assert len(summary) == 4
    both = summary[summary["macro_f1_count"] == 2].iloc[0]
    assert both["macro_f1_mean"] == pytest.approx(75.0) and both["max_steps"] == ""
    assert sorted(summary["macro_f1_count"]) == [1, 1, 1, 2]
    assert set(summary["recipe"]) == {"small-data", "paper"}
    assert set(summary["start"]) == {"pretrained", "from s1"}
