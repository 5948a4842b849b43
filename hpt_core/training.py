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

from hpt_core import durable, fit_cache, runs
from hpt_core.runs import is_zero_shot_run
from hpt_core.backbone import check_backbone, native_bf16  # noqa: F401  (native_bf16: part of this module's API)
from hpt_core.batching import LengthGroupedSampler, epoch_batches, padding_fraction, random_order
from hpt_core.config import RunConfig
from hpt_core.data import Document, label_counts
from hpt_core.decoding import decision_name
from hpt_core.devices import device_description, resolve_device, resolve_precision  # noqa: F401  (also this module's API)
from hpt_core.errors import HPTInputError
from hpt_core.evaluation import candidate_decisions, choose_decision, evaluate_model, gold_and_scores
from hpt_core.metrics import evaluation_report
from hpt_core.inputs import check_output_path
from hpt_core.model import HPTModel, build_model
from hpt_core.model_card import write_model_card
from hpt_core.phases import StepCallback, no_progress, phase_record, phase_text
from hpt_core.run_data import load_run_data  # noqa: F401  (also this module's API)

logger = logging.getLogger("hpt_core.training")


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
    multi-hot targets and, with a lexical channel, each document's out-of-fold lexical scores."""

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
            batch["lexical_scores"] = torch.stack([lexical for _, _, lexical in items])
        return batch

    return collate


def _fit_lexical(model: HPTModel, train_docs: list[Document], dev_docs: list[Document], seed: int,
                 device: torch.device, bf16: bool, n_folds: int | None = None, on_step: StepCallback | None = None,
                 max_documents: int | None = None):
    """The lexical channel fitted on the training documents (C chosen on dev) and its out-of-fold
    training scores (N, C) (from ``n_folds`` folds; the channel's default when ``None``). Every
    process fits the same: the fit is deterministic. Called before training, so a sentence encoder
    copied from the model is the pretrained backbone."""
    from hpt_core.lexical import N_FOLDS, fit_lexical_channel
    from hpt_core.sentence import FrozenSentenceEncoder

    hierarchy = model.hierarchy
    groups = np.asarray(hierarchy.depths, dtype=np.int64) - 1
    sentence = None
    if model.config.lexical_channel == "tfidf+sentence":
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
    device = resolve_device(tc.device)
    if accelerator is None:
        accelerator = Accelerator(
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
            runs.update_status(run_dir, state="failed", error=str(err) or type(err).__name__, finished=time.time())
            logger.exception("training failed")
        raise
    finally:
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
    out.get("model", {}).pop("decision", None)
    out.get("model", {}).pop("blend", None)
    out.get("train", {}).pop("precision", None)
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
    train_lexical, lexical_seconds = None, None
    if config.model.lexical_channel is not None:
        fit_started = time.time()
        # A fit kept by an earlier start of this run (killed after it) is loaded, not fitted again.
        key = fit_cache.fingerprint(train_docs, dev_docs, hierarchy, {
            "kind": config.model.lexical_channel, "seed": tc.seed, "fit_documents": tc.fit_documents,
            "backbone": config.model.backbone, "max_length": config.model.max_length})
        kept = fit_cache.load(run_dir, key, len(hierarchy.labels), [d.text for d in dev_docs],
                              model.mlm.config.to_dict(), model.tokenizer)
        if kept is not None:
            model.lexical, train_lexical, lexical_seconds = kept
            if main:
                logger.info("lexical channel: its fit restored from the run folder (%s/), not fitted again", fit_cache.FIT_DIR)
        else:
            model.lexical, train_lexical = _fit_lexical(model, train_docs, dev_docs, tc.seed, accelerator.device,
                                                        accelerator.mixed_precision == "bf16",
                                                        on_step=reporter("lexical channel"), max_documents=tc.fit_documents)
            lexical_seconds = round(time.time() - fit_started, 1)
            if main:
                _keep_fit(run_dir, model.lexical, train_lexical, [d.text for d in dev_docs], key, lexical_seconds)
        model.lexical.to("cpu")  # a frozen encoder is done on the GPU: training's dev scores are cached
        if main and kept is None:
            logger.info("lexical channel (%s) fitted in %.0f s: %d TF-IDF features%s, C = %g (dev loss / macro-F1 by C: %s)",
                        model.lexical.kind, time.time() - fit_started, len(model.lexical.vocabulary),
                        f" + {model.lexical.sentence.width}-d sentence embedding" if model.lexical.sentence else "",
                        model.lexical.c,
                        ", ".join(f"{c}: {f['dev_loss']:.4f} / {f['dev_macro_f1']:.4f}" for c, f in model.lexical.dev_by_c.items()))
    # The classical blend, fitted when training ends, embeds with the *pretrained* backbone: copy it now.
    blend_encoder = _pretrained_copy(model) if config.model.blend is not None and main else None
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
    # The scheduler is not prepared: accelerate would step it once per process per optimiser step,
    # while total_steps counts optimiser steps. It steps below once per optimiser step.
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    unwrapped: HPTModel = accelerator.unwrap_model(model)

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
                dev = evaluate_model(unwrapped, dev_docs, train_counts, tc.eval_batch_size)
            improved = dev["macro_f1"] > state["best_macro_f1"]
            if improved:
                state.update(best_macro_f1=dev["macro_f1"], best_epoch=epoch + 1, bad_epochs=0)
                unwrapped.save_pretrained(run_dir / runs.MODEL_DIR)
            else:
                state["bad_epochs"] += 1
            record = {"kind": "epoch", "epoch": epoch + 1, "step": state["step"], "total_steps": total_steps,
                      "dev_micro_f1": dev["micro_f1"], "dev_macro_f1": dev["macro_f1"],
                      "dev_consistent_macro_f1": dev["consistent"]["macro_f1"], "improved": improved,
                      "smoothed_loss": smoothed_loss, "time": time.time()}
            runs.append_jsonl(run_dir / runs.HISTORY, record)
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
    best = HPTModel.from_pretrained(run_dir / runs.MODEL_DIR, device=accelerator.device)
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
    metrics.update(_final_figures(best, run_dir, dev_docs, test_docs, train_counts, tc.eval_batch_size,
                                  train_docs=train_docs, blend_encoder=blend_encoder, reporter=reporter,
                                  fit_documents=tc.fit_documents, seed=tc.seed))
    if best.lexical is not None:
        metrics["lexical_channel"] = {**best.lexical.summary(), "seconds": lexical_seconds}
    # train_seconds is the steps and dev evaluations alone; this is what the user waited (issue 21)
    metrics["run_seconds"] = time.time() - run_started
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    _write_card(run_dir)
    fit_cache.discard(run_dir)  # the model folder holds the channel now
    runs.atomic_write_json(run_dir / runs.PROGRESS, {**runs.run_progress(run_dir), "state": "completed"})
    runs.update_status(run_dir, state="completed", finished=time.time())
    logger.info("done: dev macro-F1 %.4f%s", metrics["dev"]["macro_f1"],
                f", test macro-F1 {metrics['test']['macro_f1']:.4f}" if test_docs else "")
    return metrics


def _keep_fit(run_dir: Path, channel, out_of_fold, dev_texts: list[str], key: str, seconds: float) -> None:
    """Keep the lexical channel's finished fit in the run folder (``hpt_core.fit_cache``) for a
    restart. A fit that cannot be kept (a full disk) is logged: the run goes on, a restart refits."""
    try:
        fit_cache.save(run_dir, channel, out_of_fold, channel.scores(dev_texts), key, seconds)
    except (HPTInputError, OSError) as err:
        logger.warning("the lexical channel's fit was not kept for a restart: %s", err)


def _write_card(run_dir: Path) -> None:
    """The model folder's model card (``hpt_core.model_card``). A card that cannot be written (a
    full disk) is logged, not fatal: the model and its figures are saved already."""
    try:
        write_model_card(run_dir)
    except OSError as err:
        logger.warning("model card not written: %s", err)


def _pretrained_copy(model: HPTModel):
    """A frozen, bf16-rounded copy of ``model``'s backbone encoder on the CPU (``hpt_core.sentence``),
    reading the classical blend's ``ENCODER_MAX_LENGTH`` tokens (called before training: pretrained)."""
    from hpt_core.blend import encoder_max_length
    from hpt_core.sentence import FrozenSentenceEncoder

    encoder = model.mlm.base_model
    return FrozenSentenceEncoder.copy_of(encoder, model.tokenizer, encoder_max_length(encoder)).to("cpu")


def _fit_blend(best: HPTModel, train_docs, dev_docs, dev_y, dev_scores, blend_encoder,
               on_step: StepCallback | None = None, fit_documents: int | None = None,
               seed: int = 0) -> tuple[np.ndarray, dict]:
    """Fit ``best``'s classical blend (``hpt_core.blend``) and return the blended dev scores (M, C)
    and what to report. The model's weight is chosen under its decision rule (both rules with "auto").
    A weight of 1 (the model alone is best on dev) keeps no blend: nothing to pay for when predicting.
    A blend that cannot be fitted is reported and left out; the trained model stands."""
    from hpt_core.blend import blended_scores, fit_classical_blend, path_ends

    started = time.time()
    device = next(best.parameters()).device  # the fits run where the model trained: a GPU when there is one
    try:
        targets = path_ends(train_docs, best.hierarchy)
        multi_path = sum(1 for ends in targets if len(ends) > 1)
        rules = candidate_decisions(dev_y, best.hierarchy) if best.config.decision == "auto" else (best.config.decision,)
        fitted = fit_classical_blend([d.text for d in train_docs], targets, [d.text for d in dev_docs], dev_y, dev_scores,
                                     best.hierarchy, blend_encoder.to(device), rules=rules, on_step=on_step,
                                     device=device, max_documents=fit_documents, seed=seed)
    except runs.JobCancelled:
        raise
    except Exception as err:  # noqa: BLE001 — any failure of the add-on must not fail a finished training
        logger.warning("classical blend not fitted: %s: %s", type(err).__name__, err)
        return dev_scores, {"skipped": f"not fitted ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"}
    if fitted is None:
        logger.info("classical blend skipped: fewer than two distinct training targets")
        return dev_scores, {"skipped": "fewer than two distinct training targets"}
    blend, dev_probabilities = fitted
    summary = {**blend.summary(), "multi_path_documents": multi_path, "seconds": round(time.time() - started, 1)}
    logger.info("classical blend fitted in %.0f s: C = %g, w = %g, the model's weight %g (dev macro-F1 by weight: %s)",
                summary["seconds"], blend.c, blend.embedding_weight, blend.model_weight,
                ", ".join(f"{a}: {f:.4f}" for a, f in summary["dev_macro_f1_by_model_weight"].items()))
    if blend.model_weight >= 1.0:
        summary["skipped"] = "the model alone was best on dev (weight 1)"
        return dev_scores, summary
    best.blend = blend
    return blended_scores(dev_scores, dev_probabilities, blend.model_weight), summary


def _final_figures(best: HPTModel, run_dir: Path, dev_docs, test_docs, train_counts, batch_size: int,
                   train_docs=None, blend_encoder=None, save: bool = False, reporter=None,
                   fit_documents: int | None = None, seed: int = 0) -> dict:
    """The best model's dev (and test) figures, in float32. With ``blend="classical"`` (and the
    pretrained ``blend_encoder``) the blend is fitted first on ``train_docs``, its weight chosen on
    dev; with ``decision="auto"`` the decision rule is chosen next, once, on dev
    (:func:`hpt_core.evaluation.choose_decision`). The model folder is saved once, when either
    changed it (or ``save``); from then on it scores and decides by them. ``reporter(phase)`` gives
    the progress callbacks of the final evaluation and the blend's fit (see ``_phase_reporter``)."""
    reporter = reporter or no_progress
    final = reporter("final evaluation")
    scored = len(dev_docs) + len(test_docs or [])  # progress in documents: test is often larger than dev
    out = {}
    final(0, scored, f"scoring dev ({len(dev_docs):,} documents)")
    dev_y, dev_scores = gold_and_scores(best, dev_docs, batch_size, False)
    final(len(dev_docs), scored, "dev scored")
    if best.config.blend is not None and best.blend is None and blend_encoder is not None:
        dev_scores, out["blend"] = _fit_blend(best, train_docs, dev_docs, dev_y, dev_scores, blend_encoder,
                                              on_step=reporter("classical blend"), fit_documents=fit_documents,
                                              seed=seed)
        final = reporter("final evaluation")  # its clock restarted: the blend's minutes are not scoring's
        save = save or best.blend is not None
    elif best.blend is not None:  # fitted before (a resumed final step, or a loaded model): say so
        out["blend"] = best.blend.summary()
    if best.config.decision == "auto":
        chosen, by_rule = choose_decision(dev_y, dev_scores, best.hierarchy)
        best.config = best.config.replace(decision=chosen)
        save = True
        out["decision"] = {"chosen": chosen, "dev_macro_f1": by_rule}
        logger.info("decision rule: %s (dev macro-F1 %s)", decision_name(chosen),
                    ", ".join(f"{decision_name(r)} {f:.4f}" for r, f in by_rule.items()))
    if save:
        best.save_pretrained(run_dir / runs.MODEL_DIR)
    out["dev"] = evaluation_report(dev_y, dev_scores, best.hierarchy, train_counts, best.config.decision)
    if test_docs:
        final(len(dev_docs), scored, f"scoring test ({len(test_docs):,} documents)")
        out["test"] = evaluate_model(best, test_docs, train_counts, batch_size)
        final(scored, scored, "test scored")
    return out


def _finished_run(run_dir: str | Path, what: str, device: str | None = None):
    """A finished run's metrics, configuration, data and best model, or a clear error."""

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HPTInputError("run folder not found", run_dir)
    if is_zero_shot_run(run_dir):
        raise HPTInputError(f"a zero-shot run decides top-down with its own threshold; it has no {what} to set", run_dir)
    metrics = runs.read_json(run_dir / runs.METRICS)
    if not isinstance(metrics, dict):
        raise HPTInputError("this run has not finished (no readable metrics.json)", run_dir)
    config = RunConfig.from_json(run_dir / runs.RUN_CONFIG)
    hierarchy, train_docs, dev_docs, test_docs = load_run_data(config)
    best = HPTModel.from_pretrained(run_dir / runs.MODEL_DIR, device=device)
    counts = np.asarray(metrics.get("train_counts") or np.zeros(len(hierarchy.labels)), dtype=np.int64)
    return run_dir, metrics, config, (train_docs, dev_docs, test_docs), best, counts


def choose_run_decision(run_dir: str | Path, decision: str = "auto") -> dict:
    """Set a finished run's decision rule — ``"auto"`` chooses it on the run's dev file, as training
    does when it ends — save it in the model folder and recompute the dev and test figures of
    ``metrics.json``. For runs trained before the rule existed, or to compare rules on one model.
    Returns the updated metrics."""
    run_dir, metrics, config, (_, dev_docs, test_docs), best, counts = _finished_run(run_dir, "decision rule")
    best.config = best.config.replace(decision=decision)
    if decision != "auto":
        metrics.pop("decision", None)
    metrics.update(_final_figures(best, run_dir, dev_docs, test_docs, counts, config.train.eval_batch_size, save=True))
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    _write_card(run_dir)
    return metrics


def blend_run(run_dir: str | Path, blend: str | None = "classical") -> dict:
    """Fit (again) a finished run's classical blend — as training does when it ends, with a frozen
    copy of the pretrained backbone — or remove it (``blend=None``); save the model folder and
    recompute the figures of ``metrics.json`` (a decision rule chosen on dev is chosen again, on the
    new scores). For runs trained before the blend existed, or to compare. Returns the updated metrics."""
    from hpt_core.backbone import load_backbone

    if blend not in (None, "classical"):
        raise HPTInputError(f"blend must be classical or none; got {blend!r}")
    run_dir, metrics, config, (train_docs, dev_docs, test_docs), best, counts = _finished_run(
        run_dir, "blend", device="cuda" if torch.cuda.is_available() else None)
    best.blend = None
    best.config = best.config.replace(blend=blend)
    if "decision" in metrics:  # the rule was chosen on dev: choose it again on the new scores
        best.config = best.config.replace(decision="auto")
    metrics.pop("blend", None)
    blend_encoder = None
    if blend is not None:
        from hpt_core.blend import encoder_max_length
        from hpt_core.sentence import FrozenSentenceEncoder

        mlm, tokenizer = load_backbone(best.config.backbone)
        blend_encoder = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, encoder_max_length(mlm.base_model))
        del mlm
    # saved also when no blend was fitted: that removes the old one
    figures = _final_figures(best, run_dir, dev_docs, test_docs, counts, config.train.eval_batch_size,
                             train_docs=train_docs, blend_encoder=blend_encoder, save=True,
                             fit_documents=config.train.fit_documents, seed=config.train.seed)
    metrics.update(figures)
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    _write_card(run_dir)
    return metrics


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
