"""Experiment tracking (issue 24): a tracked run's TensorBoard event files and MLflow run hold its
configuration, per-step loss and learning rate, per-epoch dev macro-F1 and final figures — read
back with each tool's own reader, no server."""

import json

import pytest

from hpt_core import tracking
from hpt_core.config import DataSpec, RunConfig, TrainConfig
from hpt_core.errors import HPTInputError
from hpt_core.methods import resolve_method
from hpt_core.training import train

pytestmark = pytest.mark.slow


def _config(task_files, backbone, report_to) -> RunConfig:
    return RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                     model=resolve_method("hpt", backbone=backbone, max_length=32),
                     train=TrainConfig(epochs=2, batch_size=8, lr=3e-3, seed=0, log_every=2, report_to=report_to))


def _dev_macro_f1(run_dir):
    return [r["dev_macro_f1"] for r in map(json.loads, (run_dir / "history.jsonl").read_text().splitlines())
            if r["kind"] == "epoch"]


def test_tensorboard_event_files_hold_the_dev_figures_of_every_epoch(tmp_path, tiny_backbone, task_files):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "tracked"
    metrics = train(_config(task_files, tiny_backbone, "tensorboard"), run_dir)
    [events] = [p for p in (run_dir / tracking.TRACKING_DIR).iterdir() if p.is_dir()]
    reader = EventAccumulator(str(events))
    reader.Reload()
    scalars = set(reader.Tags()["scalars"])
    assert {"loss", "lr", "dev_macro_f1", "final/test_macro_f1"} <= scalars
    assert [e.value for e in reader.Scalars("dev_macro_f1")] == pytest.approx(_dev_macro_f1(run_dir))
    assert reader.Scalars("final/test_macro_f1")[0].value == pytest.approx(metrics["test"]["macro_f1"])
    assert "tensorboard --logdir" in (run_dir / "train.log").read_text()


def test_an_mlflow_run_in_the_run_folder_holds_them(tmp_path, tiny_backbone, task_files, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_dir = tmp_path / "tracked"
    metrics = train(_config(task_files, tiny_backbone, "mlflow"), run_dir)
    client = MlflowClient((run_dir / tracking.MLFLOW_DIR).resolve().as_uri())
    run_id = json.loads((run_dir / tracking.TRACKING_FILE).read_text())["mlflow_run_id"]
    run = client.get_run(run_id)
    assert run.data.params["train.lr"] == "0.003" and run.data.params["model.method"] == "hpt"
    history = client.get_metric_history(run_id, "dev_macro_f1")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(_dev_macro_f1(run_dir))
    assert run.data.metrics["final/test_macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])


def test_a_tracker_that_cannot_work_stops_the_run_before_anything_is_written(tmp_path, tiny_backbone, task_files,
                                                                             monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(HPTInputError, match="pip install tensorboard"):
        train(_config(task_files, tiny_backbone, "tensorboard"), tmp_path / "never")
    assert not (tmp_path / "never").exists()
    with pytest.raises(HPTInputError, match="report_to must be"):
        TrainConfig(report_to="wandb")
