"""Warm start (issue 23's retrain): a training that begins from an earlier run's model."""

import json

import numpy as np
import pytest

from hpt_core.config import DataSpec, RunConfig, TrainConfig
from hpt_core.errors import HPTInputError
from hpt_core.methods import resolve_method
from hpt_core.predict import Predictor
from hpt_core.training import train

TEXTS = ["goal striker penalty", "cell gene protein", "lens laser photon", "canvas painting gallery"]


def _config(task_files, backbone, method="hpt", **train_options) -> RunConfig:
    options = dict(epochs=1, batch_size=8, lr=3e-3, seed=0, max_steps=1)
    options.update(train_options)
    return RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                     model=resolve_method(method, backbone=backbone, max_length=32), train=TrainConfig(**options))


def test_a_warm_started_run_begins_as_the_model_it_starts_from(trained_run, tmp_path, tiny_backbone, task_files):
    """One step at a vanishing learning rate: the new run's model predicts as the old one did —
    the trained weights were loaded, not the pretrained backbone (whose scores are far off)."""
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    train(_config(task_files, tiny_backbone, lr=1e-12, new_params_lr=1e-12, init_from=str(trained_run)), warm)
    train(_config(task_files, tiny_backbone, lr=1e-12, new_params_lr=1e-12), cold)
    before = Predictor.from_run(trained_run)
    started, fresh = Predictor.from_run(warm), Predictor.from_run(cold)
    own = dict(lexical=False, blend=False)  # the model's own scores: the add-ons are refitted per run
    scores = {name: p.classifier.predict_scores(TEXTS, **own).numpy() for name, p in
              (("before", before), ("warm", started), ("cold", fresh))}
    assert np.allclose(scores["warm"], scores["before"], atol=1e-3)
    assert not np.allclose(scores["cold"], scores["before"], atol=1e-1)
    assert f"warm start: weights of {trained_run / 'model'}" in (warm / "train.log").read_text()
    assert json.loads((warm / "run.json").read_text())["train"]["init_from"] == str(trained_run)


def test_a_model_of_another_tree_or_method_is_refused_before_training(trained_run, tmp_path, tiny_backbone,
                                                                      task_files):
    grown = dict(task_files, taxonomy=tmp_path / "grown.tsv")  # the same tree and one more label
    grown["taxonomy"].write_text(task_files["taxonomy"].read_text() + "Root\tnewcomer\n", encoding="utf-8")
    with pytest.raises(HPTInputError, match="another label tree"):
        train(_config(grown, tiny_backbone, init_from=str(trained_run)), tmp_path / "tree")
    with pytest.raises(HPTInputError, match="does not fit this run's model"):
        train(_config(task_files, tiny_backbone, method="vanilla", init_from=str(trained_run)), tmp_path / "method")
    with pytest.raises(HPTInputError, match="run folder not found"):
        train(_config(task_files, tiny_backbone, init_from=str(tmp_path / "nowhere")), tmp_path / "none")
    assert not (tmp_path / "none").exists()  # refused before anything was written
