"""Run folders and the device queue (hpt_core/runs.py): first come, first served; a dead waiter
never holds the line; JSON files written whole."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import wait_for
from hpt_core import runs


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.LOCK_DIR_ENV, str(tmp_path / "locks"))


def test_the_device_goes_to_the_jobs_in_the_order_they_came(tmp_path):
    """Issue 22: a job that came later never starts first, and each waiting job knows its place."""
    order, release = [], threading.Event()
    dirs = {name: tmp_path / name for name in ("a", "b", "c")}
    for d in dirs.values():
        d.mkdir()

    def holder():
        with runs.device_lock("cpu", poll_s=0.05):
            order.append("holder")
            release.wait(20)

    def job(name):
        with runs.device_lock("cpu", dirs[name], poll_s=0.05):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert wait_for(lambda: order == ["holder"])
    for name in ("a", "b", "c"):  # each starts waiting before the next arrives
        threads.append(threading.Thread(target=job, args=(name,)))
        threads[-1].start()
        assert wait_for(lambda: runs.read_json(dirs[name] / runs.STATUS, {}).get("state") == "queued")
    assert [runs.read_json(dirs[n] / runs.STATUS)["queue_position"] for n in "abc"] == [1, 2, 3]
    release.set()
    for thread in threads:
        thread.join(20)
    assert order == ["holder", "a", "b", "c"]
    # done waiting: no stale place in line is left in the status
    assert all(runs.read_json(d / runs.STATUS).get("queue_position") is None for d in dirs.values())
    assert not list((runs.lock_dir() / "device-cpu.queue").iterdir())


def test_a_waiter_that_died_never_holds_the_line(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    queue = runs.lock_dir() / "device-cpu.queue"
    queue.mkdir(parents=True)
    stale = queue / f"{1:020d}-{int(dead.stdout)}"  # older than any ticket to come
    stale.touch()
    started = time.time()
    with runs.device_lock("cpu", tmp_path, poll_s=0.05):
        assert time.time() - started < 5
    assert not stale.exists()


def test_a_cancelled_waiter_leaves_the_line(tmp_path):
    release, errors = threading.Event(), []

    def holder():
        with runs.device_lock("cpu", poll_s=0.05):
            release.wait(20)

    def waiter():
        try:
            with runs.device_lock("cpu", tmp_path, poll_s=0.05):
                pass
        except runs.JobCancelled:
            errors.append("cancelled")

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    assert wait_for(lambda: runs.read_json(tmp_path / runs.STATUS, {}).get("state") == "queued")
    (tmp_path / runs.CANCEL).touch()
    threads[1].join(20)
    release.set()
    threads[0].join(20)
    assert errors == ["cancelled"]
    assert not list((runs.lock_dir() / "device-cpu.queue").iterdir())


def test_json_is_replaced_whole_and_flushed(tmp_path, monkeypatch):
    """A reader sees the old file or the new one, and the new one reached the disk before it replaced the old."""
    import os

    target = tmp_path / "status.json"
    runs.atomic_write_json(target, {"state": "old"})
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    runs.atomic_write_json(target, {"state": "new"})
    assert synced and json.loads(target.read_text()) == {"state": "new"}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)  # the disk fills while the new copy is written
    with pytest.raises(OSError) as raised:
        runs.atomic_write_json(target, {"state": "half"})
    assert raised.value.filename == str(target)  # the error says which file
    assert json.loads(target.read_text()) == {"state": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temporary file left behind


@pytest.mark.slow
def test_five_launches_from_the_app_and_the_cli_interleaved_train_one_at_a_time_in_the_order_they_came(
        tmp_path, task_files, tiny_backbone):
    """Issue 22: the app's background jobs (``runs.launch``) and CLI trainings (``python -m hpt_core
    train``) launched in turn while the device is busy wait in one queue and train one at a time,
    first come first served — each job launched once the one before it waits."""
    import os

    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.methods import resolve_method

    holder_started, release = threading.Event(), threading.Event()

    def holder():  # another training holds the device while the five arrive
        with runs.device_lock("cpu", poll_s=0.05):
            holder_started.set()
            release.wait(120)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holder_started.wait(20)
    queue = runs.lock_dir() / "device-cpu.queue"
    files = {k: str(v) for k, v in task_files.items()}
    settings = dict(backbone=tiny_backbone, max_length=32)
    env = {**os.environ, "PYTHONPATH": str(Path(runs.__file__).resolve().parents[1])}
    launched, processes = [], []
    for k, via in enumerate(["app", "cli", "app", "cli", "app"], start=1):
        run_dir = tmp_path / f"{k}-{via}"
        if via == "app":
            run_dir.mkdir()
            RunConfig(data=DataSpec(**files), model=resolve_method("hpt", recipe="paper", **settings),
                      train=TrainConfig(epochs=1, max_steps=1, batch_size=8, seed=k, device="cpu")).to_json(
                run_dir / runs.RUN_CONFIG)
            runs.launch(run_dir)
        else:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "hpt_core", "train", "--taxonomy", files["taxonomy"], "--train", files["train"],
                 "--dev", files["dev"], "--recipe", "paper", "--backbone", tiny_backbone, "--max-length", "32",
                 "--epochs", "1", "--max-steps", "1", "--batch-size", "8", "--seed", str(k), "--device", "cpu",
                 "--run-dir", str(run_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        launched.append(run_dir)
        assert wait_for(lambda: len(list(queue.iterdir())) == k, timeout=120), f"launch {k} never queued"
    release.set()
    thread.join(30)
    for process in processes:
        assert process.wait(300) == 0, process.stderr.read()
    assert wait_for(lambda: all(runs.read_json(d / runs.STATUS, {}).get("state") == "completed" for d in launched),
                    timeout=300), [runs.read_json(d / runs.STATUS, {}) for d in launched]
    spans = [(runs.read_json(d / runs.STATUS)["started"], runs.read_json(d / runs.STATUS)["finished"]) for d in launched]
    assert [s for s, _ in spans] == sorted(s for s, _ in spans), "a job that came later started first"
    assert all(finished <= started for (_, finished), (started, _) in zip(spans, spans[1:])), \
        "two jobs held the device at once"
    assert not list(queue.iterdir())
