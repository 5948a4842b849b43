import math

from hpt_core.config import DataSpec, TrainConfig
from hpt_core.experiments import comparison_table, run_ablation, run_low_resource


def _data(task_files):
    return DataSpec(**{k: str(v) for k, v in task_files.items()})


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
