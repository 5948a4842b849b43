"""One experiment definition (methods × seeds × fractions) for ablate, low-resource and the app's queue."""

from __future__ import annotations

import time

import pytest

from hpt_core import runs
from hpt_core.config import DataSpec, TrainConfig
from hpt_core.errors import HPTInputError
from hpt_core.experiments import (Experiment, cancel_experiment, experiment_progress, experiment_runs,
                                  experiment_state, experiment_summary, launch_experiment, list_experiments,
                                  start_experiment)


def _data(task_files):
    return DataSpec(**{k: str(v) for k, v in task_files.items()})


def test_plan_names_match_ablate_and_low_resource(task_files):
    data = _data(task_files)
    ablate = Experiment("a", data, ["hpt", "rm-mlm", "zero-shot"])
    assert [name for name, *_ in ablate.plan()] == ["zero-shot", "hpt", "rm-mlm"]
    low = Experiment("l", data, ["hpt"], seeds=[1, 2], fractions=[0.1])
    assert [name for name, *_ in low.plan()] == ["hpt-0.1-seed1", "hpt-0.1-seed2"]
    grid = Experiment("g", data, ["hpt", "vanilla"], seeds=[1, 2], fractions=[0.5, 1.0])
    assert len(grid.plan()) == 8 and ("vanilla-seed2", "vanilla", 2, 1.0) in grid.plan()
    config = grid.run_config("hpt", 2, 0.5, "x")
    assert (config.train.seed, config.train.low_resource) == (2, 0.5)
    assert Experiment.from_dict(grid.to_dict()).plan() == grid.plan()
    with pytest.raises(HPTInputError, match="unknown method"):
        Experiment("x", data, ["hpt", "nope"])
    with pytest.raises(HPTInputError, match="fractions"):
        Experiment("x", data, ["hpt"], fractions=[0.0])


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_app_experiment_queues_runs_is_cancelled_and_resumed_as_a_whole(task_files, tiny_backbone, tmp_path):
    runs_root, experiments_root = tmp_path / "runs", tmp_path / "experiments"
    spec = Experiment("exp", _data(task_files), ["zero-shot", "hpt", "rm-mlm"], seeds=[1, 2], fractions=[0.5, 1.0],
                      train=TrainConfig(epochs=40, batch_size=8, log_every=1),
                      model_overrides={"backbone": tiny_backbone, "max_length": 32})
    with pytest.raises(HPTInputError, match="experiment name"):
        launch_experiment(Experiment("bad name!", spec.data, ["hpt"]), runs_root, experiments_root)
    assert not runs_root.exists() and not experiments_root.exists()  # nothing written on rejection

    exp_dir = launch_experiment(spec, runs_root, experiments_root)
    try:
        assert list_experiments(experiments_root) == [exp_dir]
        members = experiment_runs(exp_dir)
        assert [p.name for p in members][:2] == ["exp-zero-shot", "exp-hpt-0.5-seed1"] and len(members) == 9
        # every run is visible in the app's queue at once
        assert len(runs.active_jobs(runs_root)) == 9
        deadline = time.time() + 180
        while time.time() < deadline:  # the zero-shot row first, then the first training
            if runs.run_status(members[1]).get("state") == "running" and runs.run_progress(members[1]).get("step"):
                break
            time.sleep(0.5)
        assert runs.run_status(members[0])["state"] == "completed"
        assert runs.run_status(members[1])["state"] == "running"
        cancel_experiment(exp_dir, grace_s=20)
        assert experiment_state(exp_dir) == "cancelled"
        progress = experiment_progress(exp_dir)
        assert progress == {"completed": 1, "cancelled": 8}, progress
        assert not runs.active_jobs(runs_root)

        with pytest.raises(HPTInputError, match="exists"):
            launch_experiment(spec, runs_root, experiments_root)
        start_experiment(exp_dir)  # resume: the finished zero-shot row is kept, the rest queue again
        assert experiment_progress(exp_dir) == {"completed": 1, "queued": 8}
    finally:
        cancel_experiment(exp_dir, grace_s=20)
    assert not runs.active_jobs(runs_root)
    table = experiment_summary(exp_dir, split="test")
    assert sorted(table["fraction"]) == [0.5, 1.0] and set(table["method"]) == {"zero-shot"}
