"""Run folders: what a training job writes, how other processes follow it, and launching jobs.

A run folder holds ``run.json`` (the RunConfig), ``status.json`` (state, pid, device, times, error),
``progress.json`` (the latest snapshot: step, loss, epoch, dev metrics, throughput, ETA),
``history.jsonl`` (one record per logged step and per epoch, for curves), ``train.log``,
``checkpoint/`` (last epoch, to resume) and ``model/`` (best dev checkpoint, a model folder).
Every JSON file is replaced atomically, so a reader never sees half a file.

Jobs run in their own process (``python -m hpt_core run-job RUN_DIR``), so a UI never blocks and a
reloaded page finds the job again from the folder. One job per device at a time: a job waits on a
per-device lock file shared by the whole machine (:func:`lock_dir`), in state ``queued``, until the
device is free; CLI ``train`` waits in the same queue.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

RUN_CONFIG = "run.json"
STATUS = "status.json"
PROGRESS = "progress.json"
HISTORY = "history.jsonl"
LOG = "train.log"
CANCEL = "cancel"
MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoint"
METRICS = "metrics.json"
#: A zero-shot run's settings (``hpt_core.zero_shot``): its folder holds this instead of a model.
ZERO_SHOT_CONFIG = "zero_shot.json"

ACTIVE_STATES = ("queued", "running")


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write JSON to a temp file beside ``path``, flush it to disk, and rename it over ``path``: a
    reader (or a machine that lost power) sees the old file or the new one, never half of one
    (``durable.write_file``)."""
    from hpt_core.durable import write_file

    write_file(path, json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: str | Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, not UTF-8, not JSON, nested too deeply
        return default


def append_jsonl(path: str | Path, record: dict) -> None:
    # One short line per write: appends of this size are not interleaved by concurrent readers.
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=_json_default) + "\n")
    except OSError as err:  # a full disk names the file
        from hpt_core.durable import raise_naming

        raise_naming(err, path)


def read_jsonl(path: str | Path) -> list[dict]:
    records = []
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written right now
    except OSError:
        pass
    return records


def trim_history(run_dir: str | Path, epoch: int, step: int) -> None:
    """Keep only the history a (re)started training continues from: the records of steps up to
    ``step`` and of epochs up to ``epoch`` (the checkpoint's; 0 and 0 when it starts afresh).
    Why: a run killed after logging an epoch but before its checkpoint was on disk trains that
    epoch again, and without this the curves would show it twice. Replaced atomically."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return
    kept = [r for r in read_jsonl(path)
            if (r.get("kind") == "step" and (r.get("step") or 0) <= step)
            or (r.get("kind") == "epoch" and (r.get("epoch") or 0) <= epoch)
            or r.get("kind") not in ("step", "epoch")]
    from hpt_core.durable import write_file

    write_file(path, "".join(json.dumps(r, default=_json_default) + "\n" for r in kept))


def update_status(run_dir: str | Path, **fields: Any) -> dict:
    path = Path(run_dir) / STATUS
    status = read_json(path, {}) or {}
    status.update(fields, updated=time.time())
    atomic_write_json(path, status)
    return status


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as dead.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def run_status(run_dir: str | Path) -> dict:
    """The run's status; a queued/running job whose process died reads as ``interrupted``."""
    status = read_json(Path(run_dir) / STATUS, {}) or {}
    if status.get("state") in ACTIVE_STATES and not _pid_alive(status.get("pid")):
        status = {**status, "state": "interrupted"}
    if not status and (Path(run_dir) / MODEL_DIR / "config.json").is_file():
        status = {"state": "completed"}
    return status


def run_progress(run_dir: str | Path) -> dict:
    return read_json(Path(run_dir) / PROGRESS, {}) or {}


def run_history(run_dir: str | Path) -> list[dict]:
    return read_jsonl(Path(run_dir) / HISTORY)


def log_tail(run_dir: str | Path, lines: int = 30) -> str:
    try:
        return "\n".join(Path(run_dir, LOG).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def is_zero_shot_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` is a zero-shot run (label names and a frozen encoder, no trained model)."""
    return (Path(run_dir) / ZERO_SHOT_CONFIG).is_file()


def has_trained_model(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a trained model a new run can start from (``--init-from``): a
    saved ``model/`` with weights, not a zero-shot run's classifier."""
    return not is_zero_shot_run(run_dir) and (Path(run_dir) / MODEL_DIR / "model.safetensors").is_file()


def list_runs(root: str | Path) -> list[Path]:
    """Run folders under ``root`` (those with a run.json or a model), newest launch first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        try:
            if p.is_dir() and not p.name.startswith(".") and ((p / RUN_CONFIG).is_file() or (p / MODEL_DIR).is_dir()):
                # Sort by launch time: a folder's mtime changes while its job writes.
                status = read_json(p / STATUS, {}) or {}
                when = status.get("launched") or status.get("started") if isinstance(status, dict) else None
                if not isinstance(when, (int, float)):
                    when = (p / RUN_CONFIG if (p / RUN_CONFIG).exists() else p / MODEL_DIR).stat().st_mtime
                found.append((float(when), p))
        except OSError:
            continue  # deleted while listing
    return [p for _, p in sorted(found, key=lambda item: item[0], reverse=True)]


#: Environment variable naming the folder of the device queues (tests point it at a temp folder).
LOCK_DIR_ENV = "HPT_LOCK_DIR"


def lock_dir() -> Path:
    """The folder of this machine's device queues: ``$HPT_LOCK_DIR``, else ``hpt_core/locks`` in the
    user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``). One folder for every run root, so the
    CLI and the app's jobs wait for the same device."""
    if os.environ.get(LOCK_DIR_ENV):
        return Path(os.environ[LOCK_DIR_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hpt_core" / "locks"


def _waiting(queue: Path) -> list[Path]:
    """The tickets of the jobs waiting for a device, oldest first; a ticket whose process is gone
    (killed while waiting) is removed, so it never holds the queue."""
    tickets = []
    try:
        entries = sorted(queue.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    for ticket in entries:
        try:
            pid = int(ticket.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if _pid_alive(pid):
            tickets.append(ticket)
        else:
            ticket.unlink(missing_ok=True)
    return tickets


@contextmanager
def device_lock(device: str, run_dir: str | Path | None = None, on_wait=None, poll_s: float = 0.5) -> Iterator[None]:
    """Hold the device for one job; while another job holds it, this one waits in the queue, first
    come first served.

    The lock is an ``flock`` on ``<lock_dir()>/device-<device>.lock``, shared by every run on the
    machine: the OS frees it when the holder dies, so a killed job never blocks the queue. The order
    is kept by tickets in ``device-<device>.queue/`` (``<time in ns>-<pid>``): a job tries the lock
    only when no older live ticket waits. While waiting, a job with a ``run_dir`` is ``queued``
    there with its ``queue_position`` (1 = next), and stops on its cancel file; ``on_wait()`` is
    called once when the device is busy (the CLI says so).
    """
    path = lock_dir() / f"device-{device}.lock"
    queue = lock_dir() / f"device-{device}.queue"
    queue.mkdir(parents=True, exist_ok=True)
    ticket = queue / f"{time.time_ns():020d}-{os.getpid()}"
    with open(path, "a+") as handle:
        ticket.touch()
        try:
            waiting, position = False, None
            while True:
                ahead = [t for t in _waiting(queue) if t.name < ticket.name]
                if not ahead:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        pass
                if run_dir is not None and Path(run_dir, CANCEL).exists():
                    raise JobCancelled()
                if position != len(ahead) + 1:
                    position = len(ahead) + 1
                    if run_dir is not None:
                        update_status(run_dir, state="queued", queued_for=device, queue_position=position)
                if not waiting:
                    waiting = True
                    if on_wait is not None:
                        on_wait()
                time.sleep(poll_s)
        finally:
            ticket.unlink(missing_ok=True)
        if position is not None and run_dir is not None:
            update_status(run_dir, queue_position=None)  # no longer waiting: the job sets its own state next
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class JobCancelled(Exception):
    """The user asked the job to stop (a ``cancel`` file in the run folder)."""


def launch(run_dir: str | Path, python: str | None = None) -> int:
    """Start ``python -m hpt_core run-job RUN_DIR`` detached; returns its pid.

    The job survives the caller (its own session), writes everything to the run folder and
    takes the device lock itself, so callers never wait.
    """
    run_dir = Path(run_dir).resolve()
    if not (run_dir / RUN_CONFIG).is_file():
        raise FileNotFoundError(f"{run_dir / RUN_CONFIG} is missing")
    state = run_status(run_dir).get("state")
    if state in ACTIVE_STATES:
        raise RuntimeError(f"run {run_dir.name} is already {state}")
    Path(run_dir, CANCEL).unlink(missing_ok=True)
    log = open(run_dir / LOG, "a", encoding="utf-8")
    project_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [project_root, os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [python or sys.executable, "-m", "hpt_core", "run-job", str(run_dir)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=project_root, env=env,
    )
    log.close()
    # Reap the job when it ends, so a finished job never lingers as a zombie under a long-lived caller.
    threading.Thread(target=process.wait, name=f"reap-{run_dir.name}", daemon=True).start()
    update_status(run_dir, state="queued", pid=process.pid, launched=time.time(), error=None, finished=None)
    return process.pid


def cancel(run_dir: str | Path, grace_s: float = 10.0) -> None:
    """Ask the job to stop at its next step; kill its process group if it has not after ``grace_s``."""
    run_dir = Path(run_dir)
    Path(run_dir, CANCEL).touch()
    pid = (read_json(run_dir / STATUS, {}) or {}).get("pid")
    deadline = time.time() + grace_s
    while _pid_alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    if _pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    if run_status(run_dir).get("state") in (*ACTIVE_STATES, "interrupted"):
        update_status(run_dir, state="cancelled", finished=time.time())


def active_jobs(root: str | Path) -> list[tuple[Path, dict]]:
    """Queued and running jobs under ``root``, oldest launch first (the visible queue)."""
    jobs = [(run, run_status(run)) for run in list_runs(root)]
    jobs = [(run, status) for run, status in jobs if status.get("state") in ACTIVE_STATES]
    return sorted(jobs, key=lambda item: item[1].get("launched", 0))


def delete_run(run_dir: str | Path) -> None:
    """Remove a run folder that is not queued or running (cancel it first)."""
    run_dir = Path(run_dir)
    state = run_status(run_dir).get("state")
    if state in ACTIVE_STATES:
        raise RuntimeError(f"run {run_dir.name} is {state}; cancel it first")
    # Rename first, so a half-deleted folder is never listed as a run.
    trash = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.deleted-", dir=run_dir.parent))
    os.replace(run_dir, trash / "run")
    import shutil

    shutil.rmtree(trash, ignore_errors=True)
