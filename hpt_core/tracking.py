"""Experiment tracking: a training's configuration, losses, learning rate, dev figures per epoch
and final figures sent to TensorBoard or MLflow through accelerate's trackers
(``TrainConfig.report_to``, ``train --report-to``), as Hugging Face users expect.

Where the records go:

* ``tensorboard``: event files under ``<run folder>/tracking/<run name>/`` —
  ``tensorboard --logdir <run folder>/tracking`` (or a folder of runs) shows them;
* ``mlflow``: the tracking server or store named by ``MLFLOW_TRACKING_URI`` when it is set (the
  lab's server), else a local file store in ``<run folder>/mlruns`` —
  ``mlflow ui --backend-store-uri <run folder>/mlruns``. The MLflow run's id is kept in
  ``<run folder>/tracking.json``, so a resumed training goes on logging into the same MLflow run.

Neither package is needed to train; asking for one that is not installed is a clear error before
anything runs. The run folder's own records (``history.jsonl``, ``metrics.json``) stay the source of
truth the app reads; trackers are a copy for the tools a lab already uses.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from hpt_core.errors import HPTInputError

#: Trackers ``report_to`` accepts (the CLI's choices, ``TrainConfig``'s check): the module each
#: imports and the package that installs it.
TRACKERS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow-skinny")}
TRACKING_DIR = "tracking"
MLFLOW_DIR = "mlruns"
TRACKING_FILE = "tracking.json"
PROJECT = "hpt"


def check_tracker(name: str | None) -> None:
    """A ``report_to`` value that can work here: known, and its package installed."""
    if name is None:
        return
    if name not in TRACKERS:
        raise HPTInputError(f"report_to must be one of {', '.join(TRACKERS)} (or unset); got {name!r}")
    module, package = TRACKERS[name]
    if importlib.util.find_spec(module) is None:
        raise HPTInputError(f"--report-to {name} needs the {package} package: pip install {package}")


def where(run_dir: str | Path, name: str | None) -> str | None:
    """One sentence saying where a run's tracked records are and how to open them."""
    run_dir = Path(run_dir)
    if name == "tensorboard":
        return f"TensorBoard: tensorboard --logdir {run_dir / TRACKING_DIR}"
    if name == "mlflow":
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return f"MLflow: {uri} (experiment {os.environ.get('MLFLOW_EXPERIMENT_NAME', PROJECT)})"
        return f"MLflow: mlflow ui --backend-store-uri {run_dir / MLFLOW_DIR}"
    return None


def accelerator_options(run_dir: Path, name: str | None) -> dict:
    """The ``Accelerator`` arguments that turn a tracker on (none without one)."""
    if name is None:
        return {}
    return {"log_with": [name], "project_dir": str(run_dir / TRACKING_DIR)}


def _flat(config: dict, prefix: str = "") -> dict:
    """A nested run configuration as ``{"train.lr": 3e-05, …}``: what trackers store as
    hyper-parameters (numbers, text and booleans; ``None`` as the text "None")."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def start(accelerator, run_dir: Path, name: str | None, config: dict) -> None:
    """Open the run's tracker (main process only) and store its configuration."""
    if name is None or not accelerator.is_main_process:
        return
    from hpt_core import runs

    init_kwargs = {}
    if name == "mlflow":
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            import mlflow

            # A local file store in the run folder. MLflow 3 keeps that backend in maintenance and
            # refuses it unless told; its database backend needs SQLAlchemy, which we do not ship.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri((run_dir / MLFLOW_DIR).resolve().as_uri())
        kept = runs.read_json(run_dir / TRACKING_FILE, {}) or {}
        init_kwargs = {"mlflow": {"run_name": run_dir.name, "run_id": kept.get("mlflow_run_id")}}
    accelerator.init_trackers(run_dir.name if name == "tensorboard" else PROJECT, config=_flat(config),
                              init_kwargs=init_kwargs)
    if name == "mlflow":
        run = accelerator.get_tracker("mlflow").tracker
        runs.atomic_write_json(run_dir / TRACKING_FILE, {"mlflow_run_id": run.info.run_id})


def log(accelerator, name: str | None, values: dict, step: int) -> None:
    """Log numbers (``None`` values left out) at a global step."""
    if name is None or not accelerator.is_main_process:
        return
    accelerator.log({k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
                    step=step)


def finish(accelerator, name: str | None) -> None:
    """Close the tracker (flushes TensorBoard's events, ends the MLflow run)."""
    if name is not None and accelerator.is_main_process:
        accelerator.end_training()
