"""Fault injection (issue 22): a default-recipe training — the lexical channel's fits, training,
checkpoints, the classical blend, the decision, the calibration, the saves — SIGKILLed at 25
moments and started again with the same command each time ends with exactly the figures and the
predictions of a run never interrupted, and its model folder loads.

Each chain kills one run folder at several moments in the order the run reaches them, restarting
after each kill (``tests/fault_child.py`` kills the process at the N-th call of a function, before
it runs); the chain's last start runs to the end. A moment the run no longer reaches on a restart
(its phase was kept: the lexical fit restored from the run folder) passes by, and is counted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("fault_child.py")

#: Kill moments, each "module:function:N" (the N-th call), in the order a run reaches them.
CHAINS = [
    # the lexical channel: its vectoriser, the C grid, the folds, keeping the finished fit
    ["tfidf:fit:1", "lexical:_fit:2", "lexical:_fit:5", "lexical:_fit:7",
     "fit_cache:save:1", "durable:_swap_in:1"],
    # tokenising, the epochs' dev passes and best-model saves, the checkpoints (before and inside the swap)
    ["model:HPTModel.tokenize_windows:1", "training:evaluate_model:1", "classifier:HTCClassifier.save_pretrained:1",
     "training:save_checkpoint:1", "durable:_swap_in:2", "durable:_fsync_dir:3", "training:save_checkpoint:2"],
    # after the last epoch: the blend's grid, the decision, the final save, the calibration, the records
    ["blend:_fit_classifier:1", "blend:_fit_classifier:4", "blend_progress:BlendProgress.keep_path:2",
     "finishing:choose_decision:1",
     "classifier:HTCClassifier.save_pretrained:1", "calibration:Calibration.save:1", "finishing:gold_and_scores:2",
     "training:write_card:1"],
    # the run's records: progress, history and status written atomically
    ["runs:atomic_write_json:3", "runs:append_jsonl:2", "runs:atomic_write_json:9", "runs:atomic_write_json:4"],
]
TEXTS = ["goal striker penalty", "cell gene protein", "lens laser photon"]


def _command(task_files, backbone, run_dir) -> list[str]:
    return ["train", "--taxonomy", str(task_files["taxonomy"]), "--train", str(task_files["train"]),
            "--dev", str(task_files["dev"]), "--test", str(task_files["test"]), "--run-dir", str(run_dir),
            "--backbone", backbone, "--max-length", "32", "--epochs", "3", "--batch-size", "8", "--lr", "3e-3",
            "--seed", "0", "--precision", "fp32"]


def _run(args, fault=None) -> subprocess.CompletedProcess:
    prefix = [sys.executable, str(CHILD), fault] if fault else [sys.executable, "-m", "hpt_core"]
    return subprocess.run(prefix + args, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
                               "TOKENIZERS_PARALLELISM": "false"})


def _outcome(run_dir: Path, test_file: Path) -> tuple:
    from hpt_core.predict import Predictor

    metrics = json.loads((run_dir / "metrics.json").read_text())
    figures = {f"{split} {k}": metrics[split][k] for split in ("dev", "test")
               for k in ("micro_f1", "macro_f1", "hierarchical_f1")}
    figures["calibration test ece"] = metrics["calibration"]["test"]["ece"]
    figures["best epoch"] = metrics["best_epoch"]
    history = [r["dev_macro_f1"] for r in map(json.loads, (run_dir / "history.jsonl").read_text().splitlines())
               if r["kind"] == "epoch"]
    # The last epoch's weights (the checkpoint): the best model may be an early epoch's, saved before
    # any kill, while these depend on everything a resume restores — optimiser moments, RNG, data order.
    last = load_file(str(run_dir / "checkpoint" / "model.safetensors"))
    return (figures, metrics["dev"]["decision"], history, last,
            Predictor.from_run(run_dir).scores(TEXTS + [json.loads(line)["text"] for line in
                                                        test_file.read_text().splitlines()]))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_backbone, task_files):
    run_dir = tmp_path_factory.mktemp("faults") / "whole"
    done = _run(_command(task_files, tiny_backbone, run_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    return _outcome(run_dir, task_files["test"])


@pytest.mark.parametrize("chain", CHAINS, ids=["lexical-fit", "epochs-and-saves", "after-training", "records"])
def test_killed_anywhere_and_started_again_it_ends_as_if_never_interrupted(chain, uninterrupted, tmp_path,
                                                                           tiny_backbone, task_files):
    run_dir = tmp_path / "run"
    command = _command(task_files, tiny_backbone, run_dir)
    killed = 0
    for fault in chain:
        result = _run(command, fault)
        if result.returncode == -9:
            killed += 1
        else:  # that moment was not reached: the run finished (its phase was kept by an earlier start)
            assert result.returncode == 0, f"{fault}: {result.stderr[-3000:]}"
            break
    assert killed == len(chain), f"only {killed} of {len(chain)} moments were reached: {chain[killed]} was not"
    final = _run(command)
    assert final.returncode == 0, final.stderr[-3000:]
    figures, decision, history, last, scores = _outcome(run_dir, task_files["test"])
    expected_figures, expected_decision, expected_history, expected_last, expected_scores = uninterrupted
    assert figures == pytest.approx(expected_figures, abs=1e-6)
    # every epoch's dev figure once (a resumed epoch is not logged twice), and the same decision
    assert decision == expected_decision and history == pytest.approx(expected_history, abs=1e-6)
    assert set(last) == set(expected_last)
    assert all(torch.allclose(last[k], expected_last[k], atol=1e-6) for k in last)
    assert np.allclose(scores, expected_scores, atol=1e-5)  # the same model: every test text scored alike
    assert not list(run_dir.glob("**/.*.old")) and not list(run_dir.glob("**/.*staging-*"))  # nothing left half-done


#: The N-th fsync of the run (of any file: the kept lexical fit, checkpoints, the model folder, the
#: run's records, the calibration, the model card) fails as on a full disk.
FULL_DISK_AT = (1, 4, 9, 15, 25, 40, 60, 90)


@pytest.mark.parametrize("nth", FULL_DISK_AT)
def test_a_full_disk_at_any_write_is_one_clear_line_and_the_same_command_then_finishes_the_run(
        nth, uninterrupted, tmp_path, tiny_backbone, task_files):
    run_dir = tmp_path / "run"
    command = _command(task_files, tiny_backbone, run_dir)
    full = _run(command, f"os:fsync:{nth}:enospc")
    if full.returncode != 0:  # stopped: one line naming what could not be written, and what to do
        last = full.stderr.strip().splitlines()[-1]
        assert full.returncode in (1, 2) and "Traceback" not in full.stderr, full.stderr[-3000:]
        assert last.startswith(f"error: {run_dir}") and "no space left on device" in last and "same command" in last, last
        final = _run(command)
        assert final.returncode == 0, final.stderr[-3000:]
    else:  # a write the run can do without (the model card: a warning) or fewer fsyncs than nth
        assert "Traceback" not in full.stderr
    _assert_ends_as(uninterrupted, run_dir, task_files["test"])


def _assert_ends_as(uninterrupted, run_dir: Path, test_file: Path) -> None:
    """The run ended with the figures, dev history, last checkpoint and test scores of the run never interrupted."""
    figures, decision, history, last_weights, scores = _outcome(run_dir, test_file)
    expected_figures, expected_decision, expected_history, expected_last, expected_scores = uninterrupted
    assert figures == pytest.approx(expected_figures, abs=1e-6) and decision == expected_decision
    assert history == pytest.approx(expected_history, abs=1e-6)
    assert all(torch.allclose(last_weights[k], expected_last[k], atol=1e-6) for k in last_weights)
    assert np.allclose(scores, expected_scores, atol=1e-5)


def _mount_small_disk(folder: Path, kilobytes: int) -> bool:
    """A real filesystem of ``kilobytes`` (tmpfs with a size limit) at ``folder``; False where this
    machine does not let the tests mount one (not root, or in a container without the right)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.mark.parametrize("kilobytes", (200, 400))
def test_a_real_disk_that_fills_stops_the_run_in_one_line_and_after_room_is_made_the_same_command_finishes_it(
        kilobytes, uninterrupted, tmp_path, tiny_backbone, task_files):
    """Not an injected error: a real filesystem too small for the run (the finished run folder takes
    about 550 kB) fills at whatever write comes first — a checkpoint, the kept lexical fit, the log."""
    disk = tmp_path / "disk"
    if not _mount_small_disk(disk, kilobytes):
        pytest.skip("this machine does not let the tests mount a small filesystem")
    try:
        run_dir = disk / "run"
        command = _command(task_files, tiny_backbone, run_dir)
        full = _run(command)
        assert full.returncode in (1, 2), "the run fitted in a disk too small for it"
        last = full.stderr.strip().splitlines()[-1]
        assert "Traceback" not in full.stderr and "Logging error" not in full.stderr, full.stderr[-3000:]
        assert last.startswith(f"error: {run_dir}") and "no space left on device" in last and "same command" in last, last
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True, timeout=30)
        final = _run(command)
        assert final.returncode == 0, final.stderr[-3000:]
        _assert_ends_as(uninterrupted, run_dir, task_files["test"])
        assert not list(run_dir.glob("**/.*.old")) and not list(run_dir.glob("**/.*staging-*"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)
