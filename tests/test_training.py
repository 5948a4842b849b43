import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import wait_for
from hpt_core import runs
from hpt_core.config import DataSpec, PipelineConfig, RunConfig, TrainConfig
from hpt_core.recipes import pipeline_recipe
from hpt_core.errors import HPTInputError
from hpt_core.methods import resolve_method
from hpt_core.training import train

ROOT = Path(__file__).resolve().parents[1]


def _config(task_files, backbone, **train_overrides) -> RunConfig:
    train_config = dict(epochs=2, batch_size=8, lr=3e-3, seed=0, log_every=2)
    train_config.update(train_overrides)
    return RunConfig(
        data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
        model=resolve_method("hpt", backbone=backbone, max_length=32),
        train=TrainConfig(**train_config),
    )


def test_a_short_run_clearly_learns_the_synthetic_task(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["dev"]["micro_f1"] > 0.75 and metrics["dev"]["macro_f1"] > 0.6
    assert metrics["test"]["micro_f1"] > 0.7
    # the confidence shown with predictions, calibrated on dev and checked on test
    assert metrics["calibration"]["dev"]["curve"][0]["coverage"] == 1.0
    assert 0.0 <= metrics["calibration"]["test"]["ece"] <= 1.0
    history = runs.run_history(trained_run)
    epochs = [r for r in history if r["kind"] == "epoch"]
    steps = [r for r in history if r["kind"] == "step"]
    assert epochs[0]["dev_macro_f1"] < max(r["dev_macro_f1"] for r in epochs)
    assert steps[-1]["smoothed_loss"] < steps[0]["smoothed_loss"]


def test_run_folder_has_progress_status_and_a_loadable_best_model(trained_run):
    status = runs.run_status(trained_run)
    assert status["state"] == "completed" and status["device"].startswith("CPU")
    progress = runs.run_progress(trained_run)
    assert progress["state"] == "completed" and progress["total_steps"] > 0
    step = next(r for r in runs.run_history(trained_run) if r["kind"] == "step")
    assert {"loss", "epoch", "docs_per_s", "eta_s", "lr"} <= set(step)
    assert (trained_run / "model" / "model.safetensors").is_file()
    assert RunConfig.from_json(trained_run / "run.json").model.method == "hpt"
    assert not [p for p in trained_run.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_early_stopping_keeps_the_best_epoch(tmp_path, tiny_backbone, task_files):
    metrics = train(_config(task_files, tiny_backbone, epochs=6, patience=1, lr=1e-9), tmp_path / "run")
    # with a learning rate this small nothing improves after epoch 1: stop after epoch 2
    assert metrics["best_epoch"] == 1 and metrics["epochs_run"] == 2


def test_low_resource_trains_on_the_seeded_fraction(tmp_path, tiny_backbone, task_files):
    metrics = train(_config(task_files, tiny_backbone, epochs=1, low_resource=0.25), tmp_path / "run")
    assert metrics["train_documents"] == 18  # 25 % of 72


def test_a_different_config_in_a_used_folder_is_refused(tmp_path, tiny_backbone, task_files):
    train(_config(task_files, tiny_backbone, epochs=1), tmp_path / "run")
    with pytest.raises(HPTInputError, match="different run"):
        train(_config(task_files, tiny_backbone, epochs=1, seed=5), tmp_path / "run")


def test_a_run_json_written_before_an_option_existed_still_resumes(tmp_path, tiny_backbone, task_files):
    """A run folder from an older version lacks the keys of newer options; they mean their
    defaults, so resuming it (the CLI again, or the app's Retry) is not 'a different run'."""
    import json

    config = _config(task_files, tiny_backbone, epochs=2)
    train(_config(task_files, tiny_backbone, epochs=1), tmp_path / "run")  # one epoch done, checkpoint kept
    saved = json.loads((tmp_path / "run" / runs.RUN_CONFIG).read_text())
    del saved["train"]["batching"], saved["model"]["max_windows"]  # as written before they existed
    saved["train"]["epochs"] = 2
    (tmp_path / "run" / runs.RUN_CONFIG).write_text(json.dumps(saved))
    metrics = train(config, tmp_path / "run")
    assert metrics["epochs_run"] == 2


def test_a_run_begun_before_the_lexical_fit_option_resumes_with_its_fitter(tmp_path, tiny_backbone, task_files):
    """A run folder of before session 16 (its run.json has no ``lexical_fit``; its channel was fitted
    by the logistic fitter) resumed by the same command: it goes on with the fitter it began with,
    and asked for the ridge instead it is another run."""
    with_channel = lambda **train_overrides: _config(task_files, tiny_backbone, **train_overrides).replace(  # noqa: E731
        pipeline=PipelineConfig(lexical_channel="tfidf"))
    train(with_channel(epochs=1).replace(pipeline=PipelineConfig(lexical_channel="tfidf", lexical_fit="logistic")),
          tmp_path / "run")  # one epoch done, checkpoint kept
    saved = json.loads((tmp_path / "run" / runs.RUN_CONFIG).read_text())
    del saved["pipeline"]["lexical_fit"]  # as written before it existed
    saved["train"]["epochs"] = 2
    (tmp_path / "run" / runs.RUN_CONFIG).write_text(json.dumps(saved))
    with pytest.raises(HPTInputError, match="different run"):
        train(with_channel(epochs=2).replace(pipeline=PipelineConfig(lexical_channel="tfidf", lexical_fit="ridge")),
              tmp_path / "run")
    metrics = train(with_channel(epochs=2), tmp_path / "run")  # the default
    assert metrics["epochs_run"] == 2 and metrics["lexical_channel"]["fitter"] == "logistic"
    assert json.loads((tmp_path / "run" / runs.RUN_CONFIG).read_text())["pipeline"]["lexical_fit"] == "logistic"


def test_cancel_file_stops_the_run(tmp_path, tiny_backbone, task_files):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / runs.CANCEL).touch()
    assert train(_config(task_files, tiny_backbone, epochs=3), run_dir) == {}
    assert runs.run_status(run_dir)["state"] == "cancelled"


def _wait_for(predicate, timeout=120.0):
    return wait_for(predicate, timeout, poll=0.2)


@pytest.mark.slow
def test_a_killed_background_job_resumes_from_its_last_checkpoint(tmp_path, tiny_backbone, task_files):
    runs_root = tmp_path / "runs"
    run_dir = runs_root / "job"
    config = _config(task_files, tiny_backbone, epochs=40, patience=100)
    run_dir.mkdir(parents=True)
    config.to_json(run_dir / runs.RUN_CONFIG)
    pid = runs.launch(run_dir)
    assert _wait_for(lambda: (run_dir / "checkpoint" / "state.json").is_file()), runs.log_tail(run_dir)
    os.killpg(pid, signal.SIGKILL)
    assert _wait_for(lambda: runs.run_status(run_dir)["state"] == "interrupted", 20)
    done_epochs = json.loads((run_dir / "checkpoint" / "state.json").read_text())["epoch"]
    assert done_epochs >= 1
    # resume in the foreground with fewer epochs left: the same run folder continues
    result = subprocess.run([sys.executable, "-m", "hpt_core", "run-job", str(run_dir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resumed after epoch {done_epochs}" in runs.log_tail(run_dir, 400)
    epochs = [r["epoch"] for r in runs.run_history(run_dir) if r["kind"] == "epoch"]
    assert epochs[-1] == 40 and set(range(1, 41)) <= set(epochs)
    assert runs.run_status(run_dir)["state"] == "completed"


@pytest.mark.slow
def test_a_second_job_queues_for_the_device_and_can_be_cancelled(tmp_path, tiny_backbone, task_files):
    runs_root = tmp_path / "runs"
    first, second = runs_root / "first", runs_root / "second"
    for run_dir, epochs in ((first, 30), (second, 1)):
        run_dir.mkdir(parents=True)
        _config(task_files, tiny_backbone, epochs=epochs, patience=100).to_json(run_dir / runs.RUN_CONFIG)
    runs.launch(first)
    assert _wait_for(lambda: runs.run_status(first).get("state") == "running")
    runs.launch(second)
    assert _wait_for(lambda: runs.read_json(second / runs.STATUS, {}).get("queued_for") == "cpu")
    assert runs.run_status(second)["state"] == "queued"
    assert [p.name for p, _ in runs.active_jobs(runs_root)] == ["first", "second"]
    with pytest.raises(RuntimeError, match="already"):
        runs.launch(first)
    runs.cancel(first)
    assert runs.run_status(first)["state"] == "cancelled"
    assert _wait_for(lambda: runs.run_status(second)["state"] == "completed", 300), runs.log_tail(second)


@pytest.mark.slow
def test_two_processes_through_accelerate_launch(tmp_path, tiny_backbone, task_files):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if accelerate is None:
        pytest.skip("accelerate CLI not installed")
    run_dir = tmp_path / "ddp"
    # --multi_gpu selects accelerate's torchrun launcher; with no GPU visible the processes
    # form a gloo (MULTI_CPU) group: the same command runs on a multi-GPU machine.
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "hpt_core", "train", "--taxonomy", str(task_files["taxonomy"]),
           "--train", str(task_files["train"]), "--dev", str(task_files["dev"]), "--run-dir", str(run_dir),
           "--backbone", tiny_backbone, "--max-length", "32", "--epochs", "2", "--batch-size", "4", "--lr", "3e-3",
           "--recipe", "paper", "--warmup-ratio", "0.5", "--schedule", "linear", "--seed", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # 72 documents, batch 4 per process, 2 processes: 9 optimiser steps per epoch
    assert metrics["steps"] == 18 and metrics["epochs_run"] == 2
    # the schedule counts optimiser steps: warm-up over 9 of the 18, then linear decay to 0
    # (accelerate's prepared scheduler stepped once per process, so the warm-up ended at step 5)
    from hpt_core.training import _lr_factor

    factor = _lr_factor(0.5, "linear", 18)
    logged = {r["step"]: r["lr"] for r in runs.run_history(run_dir) if r["kind"] == "step"}
    assert logged and all(abs(lr - 3e-3 * factor(step)) < 1e-9 for step, lr in logged.items()), logged


def test_learning_rate_warms_up_then_stays_or_decays():
    from hpt_core.training import _lr_factor

    constant = _lr_factor(0.2, "constant", 10)
    linear = _lr_factor(0.2, "linear", 10)
    assert [round(constant(s), 2) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]
    assert [round(linear(s), 3) for s in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 0.125]
    assert _lr_factor(0.0, "constant", 10)(0) == 1.0


def test_rejected_data_leaves_no_run_folder(tmp_path, tiny_backbone, task_files):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "goal", "labels": ["cricket"]}\n', encoding="utf-8")
    config = _config(task_files, tiny_backbone)
    config.data.train = str(bad)
    with pytest.raises(HPTInputError, match="bad.jsonl:1"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_unknown_backbone_leaves_no_run_folder_and_one_error(tmp_path, task_files):
    config = _config(task_files, str(tmp_path / "no-such-backbone"))
    with pytest.raises(HPTInputError, match="backbone"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_max_length_beyond_the_backbone_or_below_the_template_is_refused(tmp_path, tiny_backbone, task_files):
    config = _config(task_files, tiny_backbone)
    config.model = resolve_method("hpt", backbone=tiny_backbone, max_length=4096)
    with pytest.raises(HPTInputError, match="exceeds the backbone's 128 positions"):
        train(config, tmp_path / "run")
    # a 7-deep tree: [CLS] x [SEP] + 7 x [Vi][PRED] + [SEP] needs 18 tokens, more than 16
    (tmp_path / "deep.txt").write_text("a/b/c/d/e/f/g\n", encoding="utf-8")
    (tmp_path / "deep.jsonl").write_text('{"text": "goal", "labels": ["g"]}\n', encoding="utf-8")
    config = _config(task_files, tiny_backbone)
    config.data.taxonomy = str(tmp_path / "deep.txt")
    config.data.train = config.data.dev = str(tmp_path / "deep.jsonl")
    config.data.test = None
    config.model = resolve_method("hpt", backbone=tiny_backbone, max_length=16)
    with pytest.raises(HPTInputError, match="leaves no room for the text"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_run_folder_that_is_a_file_or_inside_one_is_refused(tmp_path, tiny_backbone, task_files):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    for run_dir, problem in ((blocker, "is a file"), (blocker / "run", "inside")):
        with pytest.raises(HPTInputError, match=problem):
            train(_config(task_files, tiny_backbone), run_dir)
    assert blocker.read_text(encoding="utf-8") == "x"


def test_a_corrupt_run_json_beside_a_checkpoint_is_not_overwritten(tmp_path, tiny_backbone, task_files):
    run_dir = tmp_path / "run"
    (run_dir / runs.CHECKPOINT_DIR).mkdir(parents=True)
    (run_dir / runs.RUN_CONFIG).write_text("{not json", encoding="utf-8")
    with pytest.raises(HPTInputError, match="no readable run.json"):
        train(_config(task_files, tiny_backbone), run_dir)
    assert (run_dir / runs.RUN_CONFIG).read_text(encoding="utf-8") == "{not json"


def test_resuming_refuses_a_checkpoint_whose_weights_do_not_fit(tmp_path, tiny_backbone, task_files):
    from safetensors.torch import load_file, save_file

    run_dir = tmp_path / "run"
    config = _config(task_files, tiny_backbone, epochs=1)
    train(config, run_dir)
    weights = run_dir / runs.CHECKPOINT_DIR / "model.safetensors"
    tensors = load_file(weights)
    del tensors["label_bias"]
    save_file(tensors, weights)
    with pytest.raises(HPTInputError, match="checkpoint does not fit.*label_bias"):
        train(config, run_dir)


def test_the_learning_rate_schedule_counts_optimiser_steps_once(tmp_path, tiny_backbone, task_files):
    """One scheduler step per optimiser step: after step s the rate is base * factor(s)."""
    from hpt_core.training import _lr_factor

    run_dir = tmp_path / "run"
    config = _config(task_files, tiny_backbone, epochs=1, warmup_ratio=0.5, schedule="linear", log_every=1,
                     grad_accum=2, batch_size=4)
    train(config, run_dir)
    steps = [r for r in runs.run_history(run_dir) if r["kind"] == "step"]
    total = steps[0]["total_steps"]
    assert total == 9  # 72 documents, batch 4, 2 batches per step
    factor = _lr_factor(0.5, "linear", total)
    assert [round(r["lr"], 8) for r in steps] == [round(3e-3 * factor(r["step"]), 8) for r in steps]


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_cli_train_waits_in_the_machine_wide_device_queue(tmp_path, tiny_backbone, task_files, capsys):
    import threading

    from hpt_core.cli import main

    run_dir = tmp_path / "elsewhere" / "run"
    argv = ["train", "--taxonomy", str(task_files["taxonomy"]), "--train", str(task_files["train"]),
            "--dev", str(task_files["dev"]), "--run-dir", str(run_dir), "--backbone", tiny_backbone,
            "--max-length", "32", "--epochs", "1", "--max-steps", "1", "--device", "cpu"]
    result = {}
    with runs.device_lock("cpu", tmp_path / "an-app-job"):  # an app job of another workspace holds the CPU
        worker = threading.Thread(target=lambda: result.setdefault("rc", main(argv)))
        worker.start()
        worker.join(timeout=3.0)
        assert worker.is_alive() and not run_dir.exists()  # waiting: nothing started
    worker.join(timeout=300)
    assert result["rc"] == 0 and (run_dir / "metrics.json").is_file()
    assert "waiting for the cpu device" in capsys.readouterr().err


def test_length_grouped_batches_are_dealt_out_whole_to_each_process():
    """Under ``accelerate`` every process draws the same order and takes every other batch."""
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader

    from hpt_core.batching import LengthGroupedSampler, epoch_batches

    lengths = [(i * 37) % 101 for i in range(64)]
    batches_of = []
    for process in range(2):
        loader = DataLoader(list(range(64)), batch_size=4, sampler=LengthGroupedSampler(lengths, 4, seed=1))
        shard = prepare_data_loader(loader, num_processes=2, process_index=process, put_on_device=False)
        shard.set_epoch(1)
        batches_of.append([b.tolist() for b in shard])
    expected = LengthGroupedSampler(lengths, 4, seed=1)
    expected.set_epoch(1)
    batches = epoch_batches(list(expected), 4)
    assert batches_of[0] == batches[0::2] and batches_of[1] == batches[1::2]


def test_windows_and_random_batching_train_end_to_end(tmp_path, tiny_backbone, task_files):
    config = _config(task_files, tiny_backbone, epochs=1, batching="random")
    config.model = config.model.replace(max_windows=2, window_overlap=4)
    metrics = train(config, tmp_path / "run")
    assert metrics["steps"] == 9
    from hpt_core.classifier import HTCClassifier

    assert HTCClassifier.from_pretrained(tmp_path / "run" / "model").config.max_windows == 2


def test_precision_auto_is_bf16_only_where_bfloat16_is_native(monkeypatch):
    """auto: bf16 on a GPU and on a CPU with native bfloat16, float32 on any other CPU (emulated
    bfloat16 would be slower there); fp32 and bf16 are taken as asked."""
    import torch

    from hpt_core import training

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert training.resolve_precision("auto", "cpu") == "no"
    assert training.resolve_precision("auto", "cuda") == "bf16"
    assert training.resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert training.resolve_precision("auto", "cpu") == "bf16"
    assert training.resolve_precision("fp32", "cpu") == "no"
    with pytest.raises(HPTInputError, match="precision must be one of auto, bf16, fp32"):
        TrainConfig(precision="fp16")


def test_a_bf16_run_says_so_and_reports_float32_figures(tmp_path, tiny_backbone, task_files):
    """The precision a run trained at is in metrics.json and the log; the reported figures are those
    the float32 model gives (what `evaluate` and Predictor compute)."""
    from hpt_core.data import read_corpus
    from hpt_core.evaluation import evaluate_model
    from hpt_core.classifier import HTCClassifier

    metrics = train(_config(task_files, tiny_backbone, precision="bf16", max_steps=4), tmp_path / "run")
    assert metrics["precision"] == "bf16"
    assert "bf16 autocast" in (tmp_path / "run" / "train.log").read_text()
    model = HTCClassifier.from_pretrained(tmp_path / "run" / "model")
    test = read_corpus(task_files["test"], model.hierarchy)
    again = evaluate_model(model, test, metrics["train_counts"])
    assert again["micro_f1"] == metrics["test"]["micro_f1"] and again["macro_f1"] == metrics["test"]["macro_f1"]


def test_auto_decision_is_chosen_on_dev_saved_with_the_model_and_used_by_predictor(tmp_path, tiny_backbone, task_files):
    """decision="auto": after training the better rule on dev is chosen and written into the model
    folder; evaluation figures and Predictor then decide by it."""
    from hpt_core.config import PipelineConfig
    from hpt_core.classifier import HTCClassifier
    from hpt_core.predict import Predictor

    config = _config(task_files, tiny_backbone, max_steps=3)
    config = RunConfig(data=config.data, model=config.model, train=config.train, pipeline=PipelineConfig(decision="auto"))
    metrics = train(config, tmp_path / "run")
    chosen = metrics["decision"]["chosen"]
    assert chosen in ("threshold", "path") and set(metrics["decision"]["dev_macro_f1"]) == {"threshold", "path"}
    by_rule = metrics["decision"]["dev_macro_f1"]
    assert by_rule[chosen] == max(by_rule.values()) and metrics["dev"]["macro_f1"] == by_rule[chosen]
    assert metrics["dev"]["decision"] == metrics["test"]["decision"] == chosen
    model = HTCClassifier.from_pretrained(tmp_path / "run" / "model")
    assert model.decision == chosen
    assert RunConfig.from_json(tmp_path / "run" / "run.json").pipeline.decision == "auto"  # the run still says auto
    # A model told to decide by paths predicts exactly one full path for any text.
    model.pipeline = model.pipeline.replace(decision="path")
    for p in Predictor(model).predict(["goal striker", "zzz qqq", "cell gene protein"]):
        assert len(p.paths) == 1 and not model.hierarchy.children(p.paths[0][-1])  # ends at a leaf


def test_every_long_phase_reports_progress_with_an_eta(tmp_path, tiny_backbone, task_files):
    """Issue 25: no silent minutes. The lexical channel's fits, tokenising, the blend's grid and the
    final evaluation each report "k of n" to the CLI's callback, the run log and progress.json."""
    config = _config(task_files, tiny_backbone, epochs=1)
    config = config.replace(pipeline=config.pipeline.replace(lexical_channel="tfidf", blend="classical", decision="auto"))
    records, seen_in_file = [], []

    def on_progress(record):
        records.append(record)
        if record["kind"] == "phase":
            seen_in_file.append(runs.run_progress(tmp_path / "run"))

    train(config, tmp_path / "run", on_progress=on_progress)
    phases = [r for r in records if r["kind"] == "phase"]
    assert {"lexical channel", "tokenising", "classical blend", "final evaluation"} <= {r["phase"] for r in phases}
    lexical = [r for r in phases if r["phase"] == "lexical channel"]
    # 0, 1, …, n: every fit (n known once dev has chosen C: each fold follows the C path up to it)
    assert [r["done"] for r in lexical] == list(range(lexical[-1]["total"] + 1))
    assert lexical[0]["eta_s"] is None and all(r["eta_s"] is not None for r in lexical[1:])
    assert all(f["kind"] == "phase" and f["state"] == "running" and "detail" in f for f in seen_in_file)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "lexical channel: fit 1 of" in log and "classical blend: w = " in log


def test_the_cpu_token_budget_resolves_epochs_into_run_json_and_resumes(tmp_path, tiny_backbone, task_files):
    """A corpus whose epochs would take hours on a CPU trains the budget's worth (at least one
    epoch), says so in the log and records the resolved epochs in run.json; the same command
    resumes it; without a budget (the paper) every epoch runs."""
    from hpt_core.training import within_cpu_budget

    config = _config(task_files, tiny_backbone, epochs=5, cpu_token_budget=1, device="cpu")
    assert within_cpu_budget(config, 10_000, "cpu").train.epochs == 1
    assert within_cpu_budget(config, 10_000, "cuda").train.epochs == 5  # a GPU trains every epoch
    assert within_cpu_budget(config.replace(train=config.train.replace(cpu_token_budget=25_000)), 10_000, "cpu").train.epochs == 2
    assert within_cpu_budget(config.replace(train=config.train.replace(cpu_token_budget=None)), 10 ** 9, "cpu").train.epochs == 5
    metrics = train(config, tmp_path / "run")
    assert metrics["epochs_run"] == 1
    assert RunConfig.from_json(tmp_path / "run" / "run.json").train.epochs == 1
    assert "on the CPU: 1 epoch(s)" in (tmp_path / "run" / "train.log").read_text()
    train(config, tmp_path / "run")  # the same command again: the same run, nothing to redo
    with pytest.raises(HPTInputError):
        TrainConfig(cpu_token_budget=0)


def test_a_multi_path_corpus_keeps_several_paths_through_training_the_blend_and_the_decision(
        tmp_path, tiny_backbone, multi_path_task_files):
    """Issue 25: on data whose documents have several paths, the defaults' parts that assumed one
    (the blend's classifier, the dev-chosen rule) keep them: the rule chosen on dev can answer
    several paths, and a two-leaf text gets both."""
    from hpt_core.decoding import paths_per_document
    from hpt_core.predict import Predictor

    config = RunConfig(
        data=DataSpec(**{k: str(v) for k, v in multi_path_task_files.items()}),
        model=resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32),
        train=TrainConfig(epochs=3, batch_size=8, lr=3e-3, new_params_lr=3e-3, seed=0),
        pipeline=pipeline_recipe("small-data"),
    )
    metrics = train(config, tmp_path / "run")
    assert metrics["blend"]["multi_path_documents"] > 0
    assert set(metrics["decision"]["dev_macro_f1"]) == {"threshold", "path", "top_down"}
    assert metrics["decision"]["chosen"] in ("threshold", "top_down")  # one best path loses on two-path documents
    assert metrics["test"]["multi_path"]["n_documents"] > 0
    predictor = Predictor.from_run(tmp_path / "run")
    texts = ["goal striker qubit spin", "racket serve laser lens"]
    decided = predictor.model.hierarchy.multi_hot([p.labels for p in predictor.predict(texts)])
    assert (paths_per_document(decided, predictor.model.hierarchy) == 2).all()


def test_a_run_folder_from_before_the_token_budget_resumes_under_the_same_command(tmp_path, tiny_backbone, task_files):
    """run.json written before ``cpu_token_budget`` existed has no such key; the small-data recipe
    now sets it: the same command must still resume that folder, not call it a different run."""
    from hpt_core.recipes import train_recipe
    from hpt_core.training import _check_same_run

    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                       model=resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32),
                       train=train_recipe("small-data", epochs=10), pipeline=pipeline_recipe("small-data"))
    old = config.to_dict()
    del old["train"]["cpu_token_budget"]
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "run.json").write_text(json.dumps(old))
    _check_same_run(config, tmp_path)  # no error
    resolved = config.to_dict()
    resolved["train"]["epochs"] = 3  # what a budgeted run records
    (tmp_path / "run.json").write_text(json.dumps(resolved))
    _check_same_run(config, tmp_path)
    other = config.replace(train=config.train.replace(lr=1e-2))
    with pytest.raises(HPTInputError, match="different run"):
        _check_same_run(other, tmp_path)
    # a run.json written before PipelineConfig (its settings inside "model") is the same run
    before_split = config.to_dict()
    before_split["model"].update(before_split.pop("pipeline"))
    (tmp_path / "run.json").write_text(json.dumps(before_split))
    _check_same_run(config, tmp_path)
    with pytest.raises(HPTInputError, match="different run"):  # but not with another lexical channel
        _check_same_run(config.replace(pipeline=config.pipeline.replace(lexical_channel=None)), tmp_path)


def test_a_restart_after_the_lexical_fit_reuses_it_and_ends_with_the_same_figures(tmp_path, tiny_backbone, task_files,
                                                                                    monkeypatch):
    """Issue 22: a run killed after the lexical channel's fit (here: while tokenising) and started
    again loads the fit kept in its folder instead of fitting again — minutes on a real corpus —
    and ends with exactly the figures of an uninterrupted run; the kept fit is removed once the
    run is complete (the model folder holds the channel)."""
    from hpt_core import stacking
    from hpt_core.model import HPTModel

    config = _config(task_files, tiny_backbone, epochs=2)
    config = config.replace(pipeline=config.pipeline.replace(lexical_channel="tfidf"))
    reference = train(config, tmp_path / "reference")
    fits = []
    real_fit = stacking.fit_lexical
    monkeypatch.setattr(stacking, "fit_lexical", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    real_tokenize = HPTModel.tokenize_windows

    def killed(self, texts):
        raise RuntimeError("killed while tokenising")

    monkeypatch.setattr(HPTModel, "tokenize_windows", killed)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="killed while tokenising"):
        train(config, run)
    assert len(fits) == 1 and (run / "lexical_fit" / "fit.json").is_file()
    monkeypatch.setattr(HPTModel, "tokenize_windows", real_tokenize)
    metrics = train(config, run)
    assert len(fits) == 1, "the kept fit was fitted again"
    assert "restored from the run folder" in (run / "train.log").read_text(encoding="utf-8")
    for split in ("dev", "test"):
        assert metrics[split]["micro_f1"] == reference[split]["micro_f1"]
        assert metrics[split]["macro_f1"] == reference[split]["macro_f1"]
    assert not (run / "lexical_fit").exists()
    # another fit's folder (other data or settings) is never loaded: a changed seed fits again
    other = config.replace(train=config.train.replace(seed=1))
    monkeypatch.setattr(HPTModel, "tokenize_windows", killed)
    with pytest.raises(RuntimeError):
        train(other, tmp_path / "other")
    monkeypatch.setattr(HPTModel, "tokenize_windows", real_tokenize)
    train(config.replace(train=config.train.replace(seed=2)), tmp_path / "other")
    assert len(fits) == 3
