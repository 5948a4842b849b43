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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from hpt_core import blend_progress, durable, fit_cache, runs, tracking
from hpt_core.checkpoints import load_checkpoint, save_checkpoint
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
from hpt_core.replay import replay_selection, trained_on, write_trained_on
from hpt_core.run_data import load_run_data  # noqa: F401  (also this module's API)
from hpt_core.stacking import lexical_channel_of_run

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
    out.get("pipeline", {}).pop("familiarity", None)
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
    """The run, in the order it happens: the lexical channel's fit, tokenising, the epochs (each
    ending with a dev evaluation and a checkpoint), then what comes after the last epoch
    (``hpt_core.finishing``: the blend, the decision, the final figures)."""
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
    # Which documents the epochs read: all, or in a replay round the new ones and a sample of the rest
    # (known before any fit, so that a source whose training set cannot be known stops the run here).
    epoch_rows, new_documents = None, None
    if tc.replay_documents is not None:
        epoch_rows, new_documents = replay_selection(train_docs, trained_on(tc.init_from), tc.replay_documents, tc.seed)
        if not epoch_rows:
            raise HPTInputError("--replay 0 and no training document is new to the model it starts from: nothing to "
                                "train on")
        if main:
            logger.info("replay round: the epochs read the %d document(s) new to that model and %d of the %d it "
                        "learnt from", new_documents, len(epoch_rows) - new_documents, len(train_docs) - new_documents)
    if main:  # the next round's replay asks which documents this run's model learnt from
        write_trained_on(run_dir, train_docs)
    model = build_model(config.model, hierarchy)
    if tc.init_from is not None:  # a warm start; a checkpoint of this run, loaded below, comes first
        source = load_initial_weights(model, tc.init_from)
        if main:
            logger.info("warm start: weights of %s", source)
    lexical, train_lexical, lexical_seconds = None, None, None
    if config.pipeline.lexical_channel is not None:
        lexical, train_lexical, lexical_seconds = lexical_channel_of_run(
            config, run_dir, model, train_docs, dev_docs, accelerator, reporter("lexical channel"), main)
    # The classical blend and the familiarity check, fitted when training ends, embed with the
    # *pretrained* backbone: copy it now.
    frozen_encoder = (pretrained_copy(model) if (config.pipeline.blend is not None or config.pipeline.familiarity) and main
                      else None)
    epoch_docs, epoch_lexical = train_docs, train_lexical
    if epoch_rows is not None:
        epoch_docs = [train_docs[i] for i in epoch_rows]
        epoch_lexical = None if train_lexical is None else train_lexical[torch.as_tensor(epoch_rows)]
    config, loader, sampler, epoch_tokens = _training_batches(config, model, epoch_docs, epoch_lexical, run_dir,
                                                              accelerator, main, reporter("tokenising"))
    loop = _Loop.prepare(config, model, loader, sampler, lexical, run_dir, accelerator, main, device_name,
                         on_progress, dev_docs, label_counts(train_docs, hierarchy))
    loop.run()

    accelerator.wait_for_everyone()
    if not main:
        return {}
    best = HTCClassifier.from_pretrained(run_dir / runs.MODEL_DIR, device=accelerator.device)
    metrics = {
        "method": config.model.method, "best_epoch": loop.state["best_epoch"], "epochs_run": loop.state["epoch"],
        "steps": loop.state["step"], "train_documents": len(train_docs), "device": device_name,
        "precision": "bf16" if accelerator.mixed_precision == "bf16" else "fp32",
        "train_seconds": time.time() - loop.started,
        "train_docs_per_s": loop.docs_seen / max(time.time() - loop.started, 1e-9),
        "train_counts": loop.train_counts.tolist(),
        # tokens of one epoch's inputs: with train_seconds, this device's measured speed (hpt_core.estimates)
        "epoch_tokens": epoch_tokens,
        **({} if epoch_rows is None else {"replay": {"new_documents": new_documents,
                                                     "replayed_documents": len(epoch_rows) - new_documents,
                                                     "epoch_documents": len(epoch_rows)}}),
        "peak_cuda_memory_gb": torch.cuda.max_memory_allocated() / 2 ** 30 if accelerator.device.type == "cuda" else None,
    }
    metrics.update(final_figures(best, run_dir, dev_docs, test_docs, loop.train_counts, tc.eval_batch_size,
                                  train_docs=train_docs, frozen_encoder=frozen_encoder, reporter=reporter,
                                  fit_documents=tc.fit_documents, seed=tc.seed))
    if best.lexical is not None:
        metrics["lexical_channel"] = {**best.lexical.summary(), "seconds": lexical_seconds}
    # train_seconds is the steps and dev evaluations alone; this is what the user waited (issue 21)
    metrics["run_seconds"] = time.time() - run_started
    tracking.log(accelerator, tc.report_to, {f"final/{split}_{key}": metrics[split][key] for split in ("dev", "test")
                                             if split in metrics for key in ("micro_f1", "macro_f1", "hierarchical_f1")},
                 loop.state["step"])
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    write_card(run_dir)
    fit_cache.discard(run_dir)  # the model folder holds the channel now
    blend_progress.discard(run_dir)  # and the blend
    runs.atomic_write_json(run_dir / runs.PROGRESS, {**runs.run_progress(run_dir), "state": "completed"})
    runs.update_status(run_dir, state="completed", finished=time.time())
    logger.info("done: dev macro-F1 %.4f%s", metrics["dev"]["macro_f1"],
                f", test macro-F1 {metrics['test']['macro_f1']:.4f}" if test_docs else "")
    return metrics


def _training_batches(config: RunConfig, model: HPTModel, train_docs: list[Document], train_lexical,
                      run_dir: Path, accelerator, main: bool, tokenising: StepCallback):
    """Tokenise the training documents into windows and batch them; on a CPU, cut the epochs to the
    recipe's token budget (``within_cpu_budget``, recorded in ``run.json``).

    Returns (the configuration as run, the DataLoader, its length-grouped sampler or None, the
    tokens of one epoch)."""
    tc, hierarchy = config.train, model.hierarchy
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
    return config, loader, sampler, int(sum(lengths))


@dataclass
class _Loop:
    """The epochs of one run: the optimiser's steps, the records they write (``history.jsonl``,
    ``progress.json``, a tracker), and at each epoch's end the dev evaluation, the best model's save,
    the checkpoint and early stopping. ``state`` is what a checkpoint saves and a restart resumes."""

    config: RunConfig
    run_dir: Path
    accelerator: object
    main: bool
    device_name: str
    on_progress: object
    model: torch.nn.Module  # as accelerate prepared it (wrapped under several processes)
    optimizer: torch.optim.Optimizer
    scheduler: object
    loader: DataLoader
    sampler: LengthGroupedSampler | None
    classifier: HTCClassifier  # the unwrapped model with the pipeline's parts: what dev is scored with and saved
    dev_docs: list[Document]
    train_counts: np.ndarray
    total_steps: int
    state: dict
    started: float = field(default_factory=time.time)
    step_at_start: int = 0
    docs_seen: int = 0
    smoothed_loss: float | None = None
    # Smoothed loss: an exponential average corrected for its zero start (as Adam's moments are),
    # so the first logged points are averages of the steps so far, not the first step's loss.
    _loss_average: float = 0.0
    _averaged: int = 0

    @classmethod
    def prepare(cls, config: RunConfig, model: HPTModel, loader, sampler, lexical, run_dir: Path, accelerator,
                main: bool, device_name: str, on_progress, dev_docs: list[Document], train_counts) -> "_Loop":
        """The optimiser and schedule, resumed from the run's checkpoint when there is one, and
        everything handed to accelerate."""
        tc = config.train
        optimizer = _optimizer(model, config)
        steps_per_epoch = math.ceil(len(loader) / max(accelerator.num_processes, 1) / tc.grad_accum)
        total_steps = steps_per_epoch * tc.epochs if tc.max_steps is None else min(tc.max_steps, steps_per_epoch * tc.epochs)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(tc.warmup_ratio, tc.schedule, total_steps))
        state = {"epoch": 0, "step": 0, "best_macro_f1": -1.0, "best_epoch": None, "bad_epochs": 0}
        resumed = load_checkpoint(run_dir, model, optimizer)
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
        prepared, optimizer, loader = accelerator.prepare(model, optimizer, loader)
        classifier = HTCClassifier(accelerator.unwrap_model(prepared), lexical, pipeline=config.pipeline)
        loop = cls(config, run_dir, accelerator, main, device_name, on_progress, prepared, optimizer, scheduler,
                   loader, sampler, classifier, dev_docs, train_counts, total_steps, state, step_at_start=state["step"])
        if main:  # the phases before are over: the run page shows training from here, not a finished phase
            runs.atomic_write_json(run_dir / runs.PROGRESS, {
                "kind": "step", "epoch": state["epoch"] + 1, "step": state["step"], "total_steps": total_steps, "eta_s": None,
                "state": "running", "device": device_name, "best_dev_macro_f1": state["best_macro_f1"]})
        return loop

    def run(self) -> None:
        """Train until the last epoch, ``max_steps`` or early stopping (``patience``)."""
        tc, state = self.config.train, self.state
        stop = state["bad_epochs"] >= tc.patience or (tc.max_steps is not None and state["step"] >= tc.max_steps)
        for epoch in range(state["epoch"], tc.epochs):
            if stop:
                break
            stop = self._epoch(epoch)
            self._end_of_epoch(epoch)
            if self.state["bad_epochs"] >= tc.patience:
                if self.main:
                    logger.info("early stop: dev macro-F1 has not improved for %d epochs", tc.patience)
                break

    def _epoch(self, epoch: int) -> bool:
        """One pass over the batches; True when ``max_steps`` ended it."""
        tc, accelerator, model = self.config.train, self.accelerator, self.model
        model.train()
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)
        if self.sampler is not None:  # the same seed + epoch on every process: the same batches
            self.sampler.set_epoch(epoch)
        for batch in self.loader:
            labels = batch.pop("labels")
            with accelerator.accumulate(model):
                out = model(batch, labels)
                accelerator.backward(out["loss"])
                self.optimizer.step()
                if accelerator.sync_gradients:
                    self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            self.docs_seen += labels.shape[0] * accelerator.num_processes
            loss = float(out["loss"].detach())
            self._loss_average, self._averaged = 0.9 * self._loss_average + 0.1 * loss, self._averaged + 1
            self.smoothed_loss = self._loss_average / (1.0 - 0.9 ** self._averaged)
            if not accelerator.sync_gradients:
                continue
            self.state["step"] += 1
            if Path(self.run_dir, runs.CANCEL).exists():
                raise runs.JobCancelled()
            self._after_step(epoch, out, loss)
            if tc.max_steps is not None and self.state["step"] >= tc.max_steps:
                return True
        return False

    def _after_step(self, epoch: int, out: dict, loss: float) -> None:
        """Every ``log_every`` steps: a step record in ``history.jsonl``, ``progress.json`` and the tracker."""
        tc, step = self.config.train, self.state["step"]
        if self.main and (step % tc.log_every == 0 or step == self.total_steps):
            record = {
                "kind": "step", "epoch": epoch + 1, "step": step, "total_steps": self.total_steps,
                "loss": loss, "smoothed_loss": self.smoothed_loss,
                "classification_loss": float(out["classification_loss"]),
                "mlm_loss": float(out["mlm_loss"]) if "mlm_loss" in out else None,
                "lr": self.scheduler.get_last_lr()[0], "time": time.time(), **self._throughput(),
            }
            runs.append_jsonl(self.run_dir / runs.HISTORY, record)
            tracking.log(self.accelerator, tc.report_to, {k: record[k] for k in TRACKED_STEP}, step)
            runs.atomic_write_json(self.run_dir / runs.PROGRESS, {**record, "state": "running", "device": self.device_name,
                                                                  "best_dev_macro_f1": self.state["best_macro_f1"]})
            logger.debug("epoch %d step %d/%d loss %.4f", epoch + 1, step, self.total_steps, self.smoothed_loss)
        if self.on_progress is not None:
            self.on_progress({"kind": "step", "epoch": epoch + 1, "step": step, "total_steps": self.total_steps,
                              "smoothed_loss": self.smoothed_loss})

    def _end_of_epoch(self, epoch: int) -> None:
        """Dev evaluation, the best model's save, the checkpoint, the epoch record; every process
        then agrees on the state (early stopping is the main process's decision)."""
        accelerator, tc, state = self.accelerator, self.config.train, self.state
        accelerator.wait_for_everyone()
        state["epoch"] = epoch + 1
        if self.main:
            with accelerator.autocast():  # choosing the epoch at the training precision (the figures: float32)
                dev = evaluate_model(self.classifier, self.dev_docs, self.train_counts, tc.eval_batch_size)
            improved = dev["macro_f1"] > state["best_macro_f1"]
            if improved:
                state.update(best_macro_f1=dev["macro_f1"], best_epoch=epoch + 1, bad_epochs=0)
                self.classifier.save_pretrained(self.run_dir / runs.MODEL_DIR)
            else:
                state["bad_epochs"] += 1
            record = {"kind": "epoch", "epoch": epoch + 1, "step": state["step"], "total_steps": self.total_steps,
                      "dev_micro_f1": dev["micro_f1"], "dev_macro_f1": dev["macro_f1"],
                      "dev_consistent_macro_f1": dev["consistent"]["macro_f1"], "improved": improved,
                      "smoothed_loss": self.smoothed_loss, "time": time.time()}
            runs.append_jsonl(self.run_dir / runs.HISTORY, record)
            tracking.log(accelerator, tc.report_to, {k: record[k] for k in TRACKED_EPOCH}, state["step"])
            save_checkpoint(self.run_dir, self.classifier.model, self.optimizer, state)
            runs.atomic_write_json(self.run_dir / runs.PROGRESS, {
                **record, "state": "running", "device": self.device_name, "best_dev_macro_f1": state["best_macro_f1"],
                **self._throughput()})
            logger.info("epoch %d dev micro-F1 %.4f macro-F1 %.4f%s", epoch + 1, dev["micro_f1"], dev["macro_f1"],
                        " (best)" if improved else "")
            if self.on_progress is not None:
                self.on_progress(record)
        self.state = _broadcast_state(accelerator, state)

    def _throughput(self) -> dict:
        return _throughput(self.started, self.docs_seen, self.state["step"] - self.step_at_start,
                           self.total_steps - self.state["step"])


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
