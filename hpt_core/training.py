"""The one training loop: used by the CLI, the app's background jobs, the benchmarks and the tests.

``train(run_config, run_dir)`` trains, evaluates on dev after every epoch, keeps the best model
(``run_dir/model``), stops early after ``patience`` epochs without a better dev macro-F1, writes its
progress to the run folder as it goes, and resumes from ``run_dir/checkpoint`` when restarted.
It runs unchanged on one CPU, one GPU (bf16 autocast) or several processes through
``accelerate launch`` (only the main process writes files).
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from hpt_core import durable, fit_cache, runs, tracking
from hpt_core.warm_start import load_initial_weights
from hpt_core.backbone import check_backbone, native_bf16  # noqa: F401  (native_bf16: part of this module's API)
from hpt_core.batching import LengthGroupedSampler, epoch_batches, padding_fraction, random_order
from hpt_core.config import RunConfig
from hpt_core.data import Document, label_counts
from hpt_core.devices import device_description, resolve_device, resolve_precision  # noqa: F401  (also this module's API)
from hpt_core.errors import HPTInputError
from hpt_core.evaluation import evaluate_model
from hpt_core.inputs import check_output_path
from hpt_core.classifier import HTCClassifier
from hpt_core.model import HPTModel, build_model
from hpt_core.finishing import blend_run, choose_run_decision, final_figures, pretrained_copy, write_card  # noqa: F401  (blend_run, choose_run_decision: also this module's API)
from hpt_core.phases import StepCallback, no_progress, phase_record, phase_text
from hpt_core.run_data import load_run_data  # noqa: F401  (also this module's API)

logger = logging.getLogger("hpt_core.training")
#: What a tracker (``TrainConfig.report_to``) receives of each step and epoch record of history.jsonl.
TRACKED_STEP = ("loss", "smoothed_loss", "classification_loss", "mlm_loss", "lr")
TRACKED_EPOCH = ("epoch", "dev_micro_f1", "dev_macro_f1", "dev_consistent_macro_f1")


def within_cpu_budget(config: RunConfig, epoch_tokens: int, device: str) -> RunConfig:
    """``config`` with its epochs cut to ``TrainConfig.cpu_token_budget`` tokens' worth on a CPU (at
    least one epoch), ``epoch_tokens`` being the tokens of one epoch's training inputs; unchanged on
    a GPU or without a budget. Deterministic: a resumed run resolves as it did the first time."""
    tc = config.train
    if device != "cpu" or tc.cpu_token_budget is None or epoch_tokens < 1:
        return config
    epochs = max(1, min(tc.epochs, tc.cpu_token_budget // epoch_tokens))
    return config if epochs == tc.epochs else config.replace(train=tc.replace(epochs=epochs))


class _Examples(torch.utils.data.Dataset):
    """Training documents as their windows of token ids (one window unless ``max_windows`` > 1),
    multi-hot targets and, with a lexical channel, each document's out-of-fold lexical scores (the
    model's ``score_offset``: it learns what the words alone miss)."""

    def __init__(self, windows: list[list[list[int]]], targets: np.ndarray, lexical_scores: torch.Tensor | None = None):
        self.windows, self.targets, self.lexical_scores = windows, targets, lexical_scores

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int):
        lexical = None if self.lexical_scores is None else self.lexical_scores[i]
        return self.windows[i], self.targets[i], lexical


def _collator(model: HPTModel):
    def collate(items):
        batch = model.collate_documents([windows for windows, _, _ in items])
        batch["labels"] = torch.tensor(np.stack([t for _, t, _ in items]), dtype=torch.float32)
        if items[0][2] is not None:
            batch["score_offset"] = torch.stack([lexical for _, _, lexical in items])
        return batch

    return collate


def _fit_lexical(model: HPTModel, train_docs: list[Document], dev_docs: list[Document], seed: int,
                 device: torch.device, bf16: bool, n_folds: int | None = None, on_step: StepCallback | None = None,
                 max_documents: int | None = None, kind: str = "tfidf"):
    """The lexical channel of ``kind`` (``PipelineConfig.lexical_channel``) fitted on the training documents (C chosen on dev) and its out-of-fold
    training scores (N, C) (from ``n_folds`` folds; the channel's default when ``None``). Every
    process fits the same: the fit is deterministic. Called before training, so a sentence encoder
    copied from the model is the pretrained backbone."""
    from hpt_core.lexical import N_FOLDS, fit_lexical_channel
    from hpt_core.sentence import FrozenSentenceEncoder

    hierarchy = model.hierarchy
    groups = np.asarray(hierarchy.depths, dtype=np.int64) - 1
    sentence = None
    if kind == "tfidf+sentence":
        sentence = FrozenSentenceEncoder.copy_of(model.mlm.base_model, model.tokenizer, model.config.max_length).to(device)
    return fit_lexical_channel([d.text for d in train_docs], hierarchy.multi_hot([d.labels for d in train_docs]), groups,
                               [d.text for d in dev_docs], hierarchy.multi_hot([d.labels for d in dev_docs]), seed=seed,
                               sentence=sentence, bf16=bf16, n_folds=N_FOLDS if n_folds is None else n_folds,
                               on_step=on_step, device=device, max_documents=max_documents)


def _phase_reporter(run_dir: Path, device_name: str, on_progress):
    """A factory of ``on_step`` callbacks (``hpt_core.phases``): ``reporter(phase)`` returns one that
    writes each step of ``phase`` to ``progress.json`` (over the last step or epoch record, whose
    figures the app keeps showing), logs it and passes it to ``on_progress`` (the CLI's bar)."""

    def reporter(phase: str) -> StepCallback:
        started = time.time()

        def on_step(done: int, total: int, detail: str) -> None:
            if Path(run_dir, runs.CANCEL).exists():  # a cancel is honoured inside the long phases too
                raise runs.JobCancelled()
            record = phase_record(phase, done, total, detail, started)
            runs.atomic_write_json(run_dir / runs.PROGRESS, {**runs.run_progress(run_dir), **record,
                                                             "state": "running", "device": device_name})
            logger.info("%s", phase_text(record))
            if on_progress is not None:
                on_progress(record)

        return on_step

    return reporter


def _optimizer(model: HPTModel, config: RunConfig) -> torch.optim.Optimizer:
    new = model.new_parameters()
    new_ids = {id(p) for p in new}
    backbone = [p for p in model.parameters() if id(p) not in new_ids]
    new_lr = config.train.new_params_lr or config.train.lr
    groups = [{"params": backbone, "lr": config.train.lr}, {"params": new, "lr": new_lr}]
    # AdamW with weight_decay 0 is the paper's Adam.
    return torch.optim.AdamW(groups, weight_decay=config.train.weight_decay)


def _throughput(started: float, docs_seen: int, steps_done: int, steps_left: int) -> dict:
    """Documents per second and the ETA in seconds since ``started`` (ETA None before any step)."""
    elapsed = time.time() - started
    if elapsed <= 0:
        return {"docs_per_s": 0.0, "eta_s": None}
    rate = steps_done / elapsed
    return {"docs_per_s": docs_seen / elapsed, "eta_s": steps_left / rate if rate > 0 else None}


def _lr_factor(warmup_ratio: float, schedule: str, total_steps: int):
    """Multiplier of the base learning rates at each step: linear warm-up, then constant or linear decay."""
    warmup = int(warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "linear":
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        return 1.0

    return factor


def _save_checkpoint(run_dir: Path, model: HPTModel, optimizer, state: dict) -> None:
    """Replace ``checkpoint/`` durably (:func:`hpt_core.durable.replace_folder`): a kill or a full disk
    mid-save leaves the previous epoch's checkpoint to resume from (a full disk: ``HPTInputError``)."""
    from safetensors.torch import save_model

    with durable.replace_folder(run_dir / runs.CHECKPOINT_DIR, "the checkpoint") as staging:
        save_model(model, str(staging / "model.safetensors"))
        # Through a Python file object: torch's own file writer reports a full disk without its errno.
        with open(staging / "optimizer.pt", "wb") as handle:
            torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, handle)
        runs.atomic_write_json(staging / "state.json", state)


def _load_checkpoint(run_dir: Path, model: HPTModel, optimizer) -> dict | None:
    from safetensors.torch import load_model

    path = run_dir / runs.CHECKPOINT_DIR
    durable.recover(path)  # a save killed between its two renames left the last checkpoint as .checkpoint.old
    state = runs.read_json(path / "state.json")
    if state is None or not (path / "model.safetensors").is_file():
        return None
    try:
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
    except Exception as err:  # a damaged file or tensors of other shapes
        raise HPTInputError(f"checkpoint does not fit this run's model ({type(err).__name__}); "
                            "choose a new folder or delete checkpoint/", path) from None
    if missing or unexpected:
        raise HPTInputError(f"checkpoint does not fit this run's model (missing {sorted(missing)[:3]}, "
                            f"unexpected {sorted(unexpected)[:3]}); choose a new folder or delete checkpoint/", path)
    # weights_only: tensors and plain containers only, never arbitrary pickled objects.
    saved = torch.load(path / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    return state


def train(config: RunConfig, run_dir: str | Path, accelerator=None, on_progress=None) -> dict:
    """Train ``config`` into ``run_dir``; returns the final metrics (also saved as ``metrics.json``).

    Writes ``run.json``, ``status.json``, ``progress.json``, ``history.jsonl``, ``train.log``,
    ``checkpoint/`` (every epoch) and ``model/`` (best dev macro-F1). Restarting on the same folder
    resumes after the last finished epoch. A ``cancel`` file in the folder stops it at the next step.
    ``on_progress(record)`` is called on the main process with every step and epoch record
    (the CLI draws its progress bar from it).
    """
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
    from accelerate.utils import set_seed

    run_dir = check_output_path(run_dir, "run folder")
    tc = config.train
    tracking.check_tracker(tc.report_to)  # a tracker that cannot work stops the run before anything is written
    if tc.init_from is not None:
        from hpt_core.predict import model_dir_of

        model_dir_of(tc.init_from)  # a warm start from nothing stops here too
    device = resolve_device(tc.device)
    if accelerator is None:
        accelerator = Accelerator(
            **tracking.accelerator_options(run_dir, tc.report_to),
            cpu=device == "cpu",
            mixed_precision=resolve_precision(tc.precision, device),
            gradient_accumulation_steps=tc.grad_accum,
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
            # Baselines leave parts of the backbone's head unused; DDP must not wait for them.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
    main = accelerator.is_main_process
    # Read and check the data, the backbone and the folder first: rejected input leaves no run
    # folder behind and changes none (a background job's folder exists already: run_job records
    # why it failed).
    data = load_run_data(config)
    check_backbone(config.model, data[0].max_depth)  # a bad backbone or length, before anything is written
    if main:
        _check_same_run(config, run_dir)
    created = main and not run_dir.exists()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.to_json(run_dir / runs.RUN_CONFIG)
    handler = _attach_log(run_dir) if main else None
    remove = False
    try:
        tracking.start(accelerator, run_dir, tc.report_to, config.to_dict())
        if main and tc.report_to is not None:
            logger.info("tracking: %s", tracking.where(run_dir, tc.report_to))
        return _train(config, data, run_dir, accelerator, main, set_seed, on_progress if main else None)
    except HPTInputError as err:
        # Input found bad after the checks above (a tokenizer failing on a text …): a folder this
        # call created and nothing was trained in is removed, as if the input had been rejected first.
        remove = created and not (run_dir / runs.CHECKPOINT_DIR).exists()
        if main and not remove:
            runs.update_status(run_dir, state="failed", error=str(err), finished=time.time())
        raise
    except runs.JobCancelled:
        if main:
            runs.update_status(run_dir, state="cancelled", finished=time.time())
            logger.info("cancelled")
        return {}
    except BaseException as err:
        if main:
            code = durable.error_number(err)
            storage = code in durable.STORAGE_ERRORS
            why = (f"{getattr(err, 'filename', None) or run_dir}: {durable.reason(code)}"
                   if storage else str(err) or type(err).__name__)
            try:
                runs.update_status(run_dir, state="failed", error=why, finished=time.time())
            except OSError:
                pass  # the disk that failed the run may fail its status too: the error still reaches the caller
            if storage:  # a full disk or a read-only folder: one line, not a traceback (saves keep the last good copy)
                logger.error("training stopped: %s", why)
            else:
                logger.exception("training failed")
        raise
    finally:
        tracking.finish(accelerator, tc.report_to)
        if handler is not None:
            logging.getLogger("hpt_core").removeHandler(handler)
            handler.close()
        if remove:
            shutil.rmtree(run_dir, ignore_errors=True)


def _check_same_run(config: RunConfig, run_dir: Path) -> None:
    """A folder with a checkpoint resumes only the run its ``run.json`` describes."""
    if run_dir.is_dir():  # a checkpoint caught between a save's two renames is a checkpoint too
        durable.recover(run_dir / runs.CHECKPOINT_DIR)
    if not (run_dir / runs.CHECKPOINT_DIR).exists():
        return
    previous = runs.read_json(run_dir / runs.RUN_CONFIG)
    if previous is None:
        raise HPTInputError("this run folder has a checkpoint but no readable run.json, so it cannot be "
                            "resumed safely; choose a new folder", run_dir)
    # Compared as configurations, not as JSON: a run.json written before an option existed lacks
    # its key and means that option's default (so an older run folder still resumes).
    try:
        previous = RunConfig.from_dict(previous).to_dict() if isinstance(previous, dict) else previous
    except (HPTInputError, TypeError):
        pass  # not a run configuration of this version: a different run
    previous, current = _trained_part(previous), _trained_part(config.to_dict())
    budgeted = [c.get("train", {}).pop("cpu_token_budget", None) is not None for c in (previous, current) if isinstance(c, dict)]
    if any(budgeted):  # epochs resolved from the budget when training starts (a run.json of before the budget has none)
        for c in (previous, current):
            if isinstance(c, dict):
                c.get("train", {}).pop("epochs", None)
    if previous != current:
        raise HPTInputError("this run folder holds a different run; choose a new folder", run_dir)


def _trained_part(config_dict):
    """A run configuration without the settings a resumed run may change: the decision rule and the
    blend (both applied after training) and the arithmetic (a run started in fp32 may go on in bf16).
    A run folder of an older version resumes under the same command though the recipe now sets them."""
    if not isinstance(config_dict, dict):
        return config_dict
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in config_dict.items()}
    out.get("pipeline", {}).pop("decision", None)
    out.get("pipeline", {}).pop("blend", None)
    out.get("train", {}).pop("precision", None)
    out.get("train", {}).pop("report_to", None)  # where records are copied to, not what is trained
    return out


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / runs.LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("hpt_core")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _train(config: RunConfig, data, run_dir: Path, accelerator, main: bool, set_seed, on_progress) -> dict:
    tc = config.train
    run_started = time.time()  # the whole run in this process: fits, training, blend, final scoring
    set_seed(tc.seed)
    random.seed(tc.seed)
    hierarchy, train_docs, dev_docs, test_docs = data
    device_name = device_description("cuda" if accelerator.device.type == "cuda" else "cpu")
    if main:
        runs.update_status(run_dir, state="running", pid=os.getpid(), device=device_name, started=time.time(), error=None)
        logger.info("training %s on %d documents (%d dev) with %s, %s", config.model.method, len(train_docs),
                    len(dev_docs), device_name, "bf16 autocast" if accelerator.mixed_precision == "bf16" else "float32")

    reporter = _phase_reporter(run_dir, device_name, on_progress) if main else no_progress
    model = build_model(config.model, hierarchy)
    if tc.init_from is not None:  # a warm start; a checkpoint of this run, loaded below, comes first
        source = load_initial_weights(model, tc.init_from)
        if main:
            logger.info("warm start: weights of %s", source)
    lexical, train_lexical, lexical_seconds = None, None, None
    if config.pipeline.lexical_channel is not None:
        lexical, train_lexical, lexical_seconds = _lexical_channel_of_run(
            config, run_dir, model, train_docs, dev_docs, accelerator, reporter("lexical channel"), main)
    # The classical blend, fitted when training ends, embeds with the *pretrained* backbone: copy it now.
    blend_encoder = pretrained_copy(model) if config.pipeline.blend is not None and main else None
    train_counts = label_counts(train_docs, hierarchy)
    tokenising = reporter("tokenising")
    tokenising(0, 1, f"{len(train_docs):,} training documents")
    windows, _, _ = model.tokenize_windows([d.text for d in train_docs])
    lengths = [sum(len(w) for w in doc) for doc in windows]
    tokenising(1, 1, f"{len(train_docs):,} training documents, {sum(lengths):,} tokens")
    budgeted = within_cpu_budget(config, sum(lengths), "cuda" if accelerator.device.type == "cuda" else "cpu")
    if budgeted.train.epochs != tc.epochs:
        if main:
            logger.info("on the CPU: %d epoch(s) (at most %s tokens' worth, the recipe's budget: %s a pass; "
                        "--cpu-token-budget 0 in a new run folder trains all %d)", budgeted.train.epochs, f"{tc.cpu_token_budget:,}",
                        f"{sum(lengths):,}", tc.epochs)
            budgeted.to_json(run_dir / runs.RUN_CONFIG)  # what was run, as the run folder's record
        config, tc = budgeted, budgeted.train
    examples = _Examples(windows, hierarchy.multi_hot([d.labels for d in train_docs]), train_lexical)
    sampler = LengthGroupedSampler(lengths, tc.batch_size, tc.seed) if tc.batching == "length_grouped" else None
    loader = DataLoader(examples, batch_size=tc.batch_size, shuffle=sampler is None, sampler=sampler,
                        collate_fn=_collator(model))
    if main and sampler is not None:
        grouped = padding_fraction(lengths, epoch_batches(list(sampler), tc.batch_size))
        at_random = padding_fraction(lengths, epoch_batches(random_order(len(lengths), tc.seed), tc.batch_size))
        logger.info("length-grouped batches: %.1f%% padding (random batches: %.1f%%)", 100 * grouped, 100 * at_random)
    optimizer = _optimizer(model, config)
    steps_per_epoch = math.ceil(len(loader) / max(accelerator.num_processes, 1) / tc.grad_accum)
    total_steps = steps_per_epoch * tc.epochs if tc.max_steps is None else min(tc.max_steps, steps_per_epoch * tc.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(tc.warmup_ratio, tc.schedule, total_steps))

    state = {"epoch": 0, "step": 0, "best_macro_f1": -1.0, "best_epoch": None, "bad_epochs": 0}
    resumed = _load_checkpoint(run_dir, model, optimizer)
    if resumed:
        state.update(resumed)
        for _ in range(state["step"]):
            scheduler.step()
        if main:
            logger.info("resumed after epoch %d (step %d)", state["epoch"], state["step"])
    if main:  # what a killed start logged past its last checkpoint is trained (and logged) again
        runs.trim_history(run_dir, state["epoch"], state["step"])
    # The scheduler is not prepared: accelerate would step it once per process per optimiser step,
    # while total_steps counts optimiser steps. It steps below once per optimiser step.
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    unwrapped: HPTModel = accelerator.unwrap_model(model)
    classifier = HTCClassifier(unwrapped, lexical, pipeline=config.pipeline)  # what dev is scored with and the model folder holds

    started, step_at_start = time.time(), state["step"]
    if main:  # the phases before are over: the run page shows training from here, not a finished phase
        runs.atomic_write_json(run_dir / runs.PROGRESS, {
            "kind": "step", "epoch": state["epoch"] + 1, "step": state["step"], "total_steps": total_steps, "eta_s": None,
            "state": "running", "device": device_name, "best_dev_macro_f1": state["best_macro_f1"]})
    # Smoothed loss: an exponential average corrected for its zero start (as Adam's moments are),
    # so the first logged points are averages of the steps so far, not the first step's loss.
    docs_seen, smoothed_loss, loss_average, averaged = 0, None, 0.0, 0
    stop = state["bad_epochs"] >= tc.patience or (tc.max_steps is not None and state["step"] >= tc.max_steps)
    for epoch in range(state["epoch"], tc.epochs):
        if stop:
            break
        model.train()
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        if sampler is not None:  # the same seed + epoch on every process: the same batches
            sampler.set_epoch(epoch)
        for batch in loader:
            labels = batch.pop("labels")
            with accelerator.accumulate(model):
                out = model(batch, labels)
                accelerator.backward(out["loss"])
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            docs_seen += labels.shape[0] * accelerator.num_processes
            loss = float(out["loss"].detach())
            loss_average, averaged = 0.9 * loss_average + 0.1 * loss, averaged + 1
            smoothed_loss = loss_average / (1.0 - 0.9 ** averaged)
            if not accelerator.sync_gradients:
                continue
            state["step"] += 1
            if Path(run_dir, runs.CANCEL).exists():
                raise runs.JobCancelled()
            if main and (state["step"] % tc.log_every == 0 or state["step"] == total_steps):
                record = {
                    "kind": "step", "epoch": epoch + 1, "step": state["step"], "total_steps": total_steps,
                    "loss": loss, "smoothed_loss": smoothed_loss,
                    "classification_loss": float(out["classification_loss"]),
                    "mlm_loss": float(out["mlm_loss"]) if "mlm_loss" in out else None,
                    "lr": scheduler.get_last_lr()[0], "time": time.time(),
                    **_throughput(started, docs_seen, state["step"] - step_at_start, total_steps - state["step"]),
                }
                runs.append_jsonl(run_dir / runs.HISTORY, record)
                tracking.log(accelerator, tc.report_to, {k: record[k] for k in TRACKED_STEP}, state["step"])
                runs.atomic_write_json(run_dir / runs.PROGRESS, {**record, "state": "running", "device": device_name,
                                                                 "best_dev_macro_f1": state["best_macro_f1"]})
                logger.debug("epoch %d step %d/%d loss %.4f", epoch + 1, state["step"], total_steps, smoothed_loss)
            if on_progress is not None:
                on_progress({"kind": "step", "epoch": epoch + 1, "step": state["step"], "total_steps": total_steps,
                             "smoothed_loss": smoothed_loss})
            if tc.max_steps is not None and state["step"] >= tc.max_steps:
                stop = True
                break

        # ---- end of epoch: dev evaluation, best model, checkpoint, early stopping ----
        accelerator.wait_for_everyone()
        state["epoch"] = epoch + 1
        if main:
            with accelerator.autocast():  # choosing the epoch at the training precision (the figures: float32)
                dev = evaluate_model(classifier, dev_docs, train_counts, tc.eval_batch_size)
            improved = dev["macro_f1"] > state["best_macro_f1"]
            if improved:
                state.update(best_macro_f1=dev["macro_f1"], best_epoch=epoch + 1, bad_epochs=0)
                classifier.save_pretrained(run_dir / runs.MODEL_DIR)
            else:
                state["bad_epochs"] += 1
            record = {"kind": "epoch", "epoch": epoch + 1, "step": state["step"], "total_steps": total_steps,
                      "dev_micro_f1": dev["micro_f1"], "dev_macro_f1": dev["macro_f1"],
                      "dev_consistent_macro_f1": dev["consistent"]["macro_f1"], "improved": improved,
                      "smoothed_loss": smoothed_loss, "time": time.time()}
            runs.append_jsonl(run_dir / runs.HISTORY, record)
            tracking.log(accelerator, tc.report_to, {k: record[k] for k in TRACKED_EPOCH}, state["step"])
            _save_checkpoint(run_dir, unwrapped, optimizer, state)
            runs.atomic_write_json(run_dir / runs.PROGRESS, {
                **record, "state": "running", "device": device_name, "best_dev_macro_f1": state["best_macro_f1"],
                **_throughput(started, docs_seen, state["step"] - step_at_start, total_steps - state["step"]),
            })
            logger.info("epoch %d dev micro-F1 %.4f macro-F1 %.4f%s", epoch + 1, dev["micro_f1"], dev["macro_f1"],
                        " (best)" if improved else "")
            if on_progress is not None:
                on_progress(record)
        state = _broadcast_state(accelerator, state)
        if state["bad_epochs"] >= tc.patience:
            if main:
                logger.info("early stop: dev macro-F1 has not improved for %d epochs", tc.patience)
            break

    accelerator.wait_for_everyone()
    if not main:
        return {}
    best = HTCClassifier.from_pretrained(run_dir / runs.MODEL_DIR, device=accelerator.device)
    metrics = {
        "method": config.model.method, "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
        "steps": state["step"], "train_documents": len(train_docs), "device": device_name,
        "precision": "bf16" if accelerator.mixed_precision == "bf16" else "fp32",
        "train_seconds": time.time() - started, "train_docs_per_s": docs_seen / max(time.time() - started, 1e-9),
        "train_counts": train_counts.tolist(),
        # tokens of one epoch's inputs: with train_seconds, this device's measured speed (hpt_core.estimates)
        "epoch_tokens": int(sum(lengths)),
        "peak_cuda_memory_gb": torch.cuda.max_memory_allocated() / 2 ** 30 if accelerator.device.type == "cuda" else None,
    }
    metrics.update(final_figures(best, run_dir, dev_docs, test_docs, train_counts, tc.eval_batch_size,
                                  train_docs=train_docs, blend_encoder=blend_encoder, reporter=reporter,
                                  fit_documents=tc.fit_documents, seed=tc.seed))
    if best.lexical is not None:
        metrics["lexical_channel"] = {**best.lexical.summary(), "seconds": lexical_seconds}
    # train_seconds is the steps and dev evaluations alone; this is what the user waited (issue 21)
    metrics["run_seconds"] = time.time() - run_started
    tracking.log(accelerator, tc.report_to, {f"final/{split}_{key}": metrics[split][key] for split in ("dev", "test")
                                             if split in metrics for key in ("micro_f1", "macro_f1", "hierarchical_f1")},
                 state["step"])
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    write_card(run_dir)
    fit_cache.discard(run_dir)  # the model folder holds the channel now
    runs.atomic_write_json(run_dir / runs.PROGRESS, {**runs.run_progress(run_dir), "state": "completed"})
    runs.update_status(run_dir, state="completed", finished=time.time())
    logger.info("done: dev macro-F1 %.4f%s", metrics["dev"]["macro_f1"],
                f", test macro-F1 {metrics['test']['macro_f1']:.4f}" if test_docs else "")
    return metrics


def _lexical_channel_of_run(config: RunConfig, run_dir: Path, model: HPTModel, train_docs: list[Document],
                            dev_docs: list[Document], accelerator, on_step: StepCallback, main: bool):
    """The run's lexical channel, its out-of-fold training scores (N, C) and the seconds its fit
    took: restored from the run folder when an earlier start of this run kept it (``fit_cache``),
    else fitted (``_fit_lexical``) and kept for a restart. The channel ends on the CPU."""
    tc, hierarchy = config.train, model.hierarchy
    fit_started = time.time()
    key = fit_cache.fingerprint(train_docs, dev_docs, hierarchy, {
        "kind": config.pipeline.lexical_channel, "seed": tc.seed, "fit_documents": tc.fit_documents,
        "backbone": config.model.backbone, "max_length": config.model.max_length,
        "out_of_fold": "cold C path"})  # folds started from the whole-set fit (before session 11) are not reused
    kept = fit_cache.load(run_dir, key, len(hierarchy.labels), [d.text for d in dev_docs],
                          model.mlm.config.to_dict(), model.tokenizer)
    if kept is not None:
        lexical, train_lexical, seconds = kept
        if main:
            logger.info("lexical channel: its fit restored from the run folder (%s/), not fitted again", fit_cache.FIT_DIR)
        lexical.to("cpu")
        return lexical, train_lexical, seconds
    lexical, train_lexical = _fit_lexical(model, train_docs, dev_docs, tc.seed, accelerator.device,
                                          accelerator.mixed_precision == "bf16", on_step=on_step,
                                          max_documents=tc.fit_documents, kind=config.pipeline.lexical_channel)
    seconds = round(time.time() - fit_started, 1)
    if main:
        _keep_fit(run_dir, lexical, train_lexical, [d.text for d in dev_docs], key, seconds)
    lexical.to("cpu")  # a frozen encoder is done on the GPU: training's dev scores are cached
    if main:
        logger.info("lexical channel (%s) fitted in %.0f s: %d TF-IDF features%s, C = %g (dev loss / macro-F1 by C: %s)",
                    lexical.kind, time.time() - fit_started, len(lexical.vocabulary),
                    f" + {lexical.sentence.width}-d sentence embedding" if lexical.sentence else "",
                    lexical.c, ", ".join(f"{c}: {f['dev_loss']:.4f} / {f['dev_macro_f1']:.4f}" for c, f in lexical.dev_by_c.items()))
    return lexical, train_lexical, seconds


def _keep_fit(run_dir: Path, channel, out_of_fold, dev_texts: list[str], key: str, seconds: float) -> None:
    """Keep the lexical channel's finished fit in the run folder (``hpt_core.fit_cache``) for a
    restart. A fit that cannot be kept (a full disk) is logged: the run goes on, a restart refits."""
    try:
        fit_cache.save(run_dir, channel, out_of_fold, channel.scores(dev_texts), key, seconds)
    except (HPTInputError, OSError) as err:
        logger.warning("the lexical channel's fit was not kept for a restart: %s", err)


def _broadcast_state(accelerator, state: dict) -> dict:
    """Every process must agree on early stopping; the main process decides."""
    if accelerator.num_processes == 1:
        return state
    from accelerate.utils import broadcast_object_list

    holder = [state]
    broadcast_object_list(holder, from_process=0)
    return holder[0]


def run_job(run_dir: str | Path) -> dict:
    """Entry point of a background job: take the device lock (queue), then ``train`` from ``run.json``."""
    run_dir = Path(run_dir)
    try:
        config = RunConfig.from_json(run_dir / runs.RUN_CONFIG)
        device = resolve_device(config.train.device)
        with runs.device_lock(device, run_dir):
            return train(config, run_dir)
    except runs.JobCancelled:
        runs.update_status(run_dir, state="cancelled", finished=time.time())
        return {}
    except HPTInputError as err:
        runs.update_status(run_dir, state="failed", error=str(err), finished=time.time())
        raise
