"""How long planned runs will take (hpt_core.estimates, Experiment.estimate_seconds)."""

from __future__ import annotations

import json

import pytest

from hpt_core.config import DataSpec

from hpt_core.recipes import train_recipe
from hpt_core.estimates import (REFERENCE_TOKENS_PER_S, Speed, approximate_tokens, duration_words, measured_speed,
                                run_seconds)


def _finished(root, name, device="CPU (2 cores)", backbone="minilm", tokens=1000, epochs=10, seconds=100.0):
    run_dir = root / name
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"model": {"backbone": backbone}}))
    (run_dir / "metrics.json").write_text(json.dumps({"device": device, "epoch_tokens": tokens, "epochs_run": epochs,
                                                      "train_seconds": seconds, "run_seconds": 1.5 * seconds}))
    return run_dir


def test_the_speed_is_measured_on_this_device_and_backbone_alone(tmp_path):
    runs = [_finished(tmp_path, "a", seconds=100.0), _finished(tmp_path, "b", seconds=50.0),
            _finished(tmp_path, "gpu", device="GPU: H100", seconds=1.0),
            _finished(tmp_path, "bert", backbone="bert-base-uncased", seconds=1000.0)]
    speed = measured_speed(runs, "CPU (2 cores)", "minilm")
    assert speed.tokens_per_s == pytest.approx((100 + 200) / 2) and speed.overhead == pytest.approx(1.5)
    assert "2 finished runs" in speed.source
    unknown = measured_speed(runs, "CPU (64 cores)", "minilm")
    assert unknown.tokens_per_s == REFERENCE_TOKENS_PER_S and "no finished run" in unknown.source


def test_a_run_costs_its_budgeted_tokens_and_no_more_than_its_steps():
    speed = Speed(tokens_per_s=1000.0, overhead=1.0, source="test")
    recipe = train_recipe("small-data")  # 10 epochs, 2.5 M tokens on a CPU
    assert run_seconds(100_000, 1000, recipe, speed, on_cpu=True) == pytest.approx(1000.0)  # 10 epochs
    assert run_seconds(1_000_000, 1000, recipe, speed, on_cpu=True) == pytest.approx(2000.0)  # the budget: 2 epochs
    assert run_seconds(1_000_000, 1000, recipe, speed, on_cpu=False) == pytest.approx(10_000.0)  # a GPU: all 10
    # 8 steps of 16 out of 1,000 documents (63 steps an epoch)
    steps = train_recipe("small-data", max_steps=8)
    assert run_seconds(100_000, 1000, steps, speed, on_cpu=True) == pytest.approx(100_000 * 8 / 63 / 1000)


def test_tokens_are_approximated_from_words_within_the_length():
    assert approximate_tokens(["one two three four", "word " * 1000], max_length=64) == 12 + 6 + 64
    assert duration_words(30) == "under a minute" and duration_words(600) == "about 10 min"
    assert duration_words(3 * 3600 + 20 * 60) == "about 3 h 20 min" and duration_words(5 * 86400) == "about 5.0 days"


def test_an_experiment_adds_up_its_runs():
    from hpt_core.experiments import Experiment

    speed = Speed(tokens_per_s=1000.0, overhead=1.0, source="test")
    spec = Experiment(name="x", data=DataSpec("t", "a", "b"), methods=["hpt", "rm-mlm", "zero-shot"], seeds=[1, 2],
                      fractions=[0.5, 1.0], train=train_recipe("small-data"))
    one = run_seconds(10_000, 100, spec.train, speed, on_cpu=True)
    half = run_seconds(5_000, 50, spec.train, speed, on_cpu=True)
    zero_shot = 10_000 / 1000 / 3
    assert len(spec.plan()) == 9
    assert spec.estimate_seconds(10_000, 100, speed, on_cpu=True) == pytest.approx(4 * one + 4 * half + zero_shot)
