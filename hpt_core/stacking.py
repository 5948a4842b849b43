"""The lexical channel's place in a run (stacking): fitted on the training documents before the
first step — or restored from the run folder when an earlier start of the run kept its fit — and
its out-of-fold scores of the training documents, which the model is trained beside.

The channel itself is ``hpt_core.lexical``; keeping a finished fit for a restart is
``hpt_core.fit_cache``. This module joins them to a run: its configuration, its device, its log."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from hpt_core import fit_cache
from hpt_core.config import RunConfig
from hpt_core.data import Document
from hpt_core.errors import HPTInputError
from hpt_core.model import HPTModel
from hpt_core.phases import StepCallback

logger = logging.getLogger("hpt_core.training")


def fit_lexical(model: HPTModel, train_docs: list[Document], dev_docs: list[Document], seed: int,
                device: torch.device, bf16: bool, n_folds: int | None = None, on_step: StepCallback | None = None,
                max_documents: int | None = None, kind: str = "tfidf", fitter: str | None = None):
    """The lexical channel of ``kind`` (``PipelineConfig.lexical_channel``) fitted on the training
    documents (C chosen on dev) and its out-of-fold training scores (N, C) (from ``n_folds`` folds;
    the channel's default when ``None``), fitted by ``fitter`` (``PipelineConfig.lexical_fit``; the
    channel's default when ``None``). Every process fits the same: the fit is deterministic.
    Called before training, so a sentence encoder copied from the model is the pretrained backbone."""
    from hpt_core.lexical import DEFAULT_FITTER, N_FOLDS, fit_lexical_channel
    from hpt_core.sentence import FrozenSentenceEncoder

    hierarchy = model.hierarchy
    groups = np.asarray(hierarchy.depths, dtype=np.int64) - 1
    sentence = None
    if kind == "tfidf+sentence":
        sentence = FrozenSentenceEncoder.copy_of(model.mlm.base_model, model.tokenizer, model.config.max_length).to(device)
    return fit_lexical_channel([d.text for d in train_docs], hierarchy.multi_hot([d.labels for d in train_docs]), groups,
                               [d.text for d in dev_docs], hierarchy.multi_hot([d.labels for d in dev_docs]), seed=seed,
                               sentence=sentence, bf16=bf16, n_folds=N_FOLDS if n_folds is None else n_folds,
                               on_step=on_step, device=device, max_documents=max_documents,
                               fitter=fitter or DEFAULT_FITTER)


def lexical_channel_of_run(config: RunConfig, run_dir: Path, model: HPTModel, train_docs: list[Document],
                           dev_docs: list[Document], accelerator, on_step: StepCallback, main: bool):
    """The run's lexical channel, its out-of-fold training scores (N, C) and the seconds its fit
    took: restored from the run folder when an earlier start of this run kept it (``fit_cache``),
    else fitted (``fit_lexical``) and kept for a restart. The channel ends on the CPU."""
    tc, hierarchy = config.train, model.hierarchy
    fit_started = time.time()
    key = fit_cache.fingerprint(train_docs, dev_docs, hierarchy, {
        "kind": config.pipeline.lexical_channel, "seed": tc.seed, "fit_documents": tc.fit_documents,
        "backbone": config.model.backbone, "max_length": config.model.max_length,
        "out_of_fold": "cold C path",  # folds started from the whole-set fit (before session 11) are not reused
        **({} if config.pipeline.lexical_fit == "logistic" else {"fitter": config.pipeline.lexical_fit})})
    kept = fit_cache.load(run_dir, key, len(hierarchy.labels), [d.text for d in dev_docs],
                          model.mlm.config.to_dict(), model.tokenizer)
    if kept is not None:
        lexical, train_lexical, seconds = kept
        if main:
            logger.info("lexical channel: its fit restored from the run folder (%s/), not fitted again", fit_cache.FIT_DIR)
        lexical.to("cpu")
        return lexical, train_lexical, seconds
    lexical, train_lexical = fit_lexical(model, train_docs, dev_docs, tc.seed, accelerator.device,
                                         accelerator.mixed_precision == "bf16", on_step=on_step,
                                         max_documents=tc.fit_documents, kind=config.pipeline.lexical_channel,
                                         fitter=config.pipeline.lexical_fit)
    seconds = round(time.time() - fit_started, 1)
    if main:
        _keep_fit(run_dir, lexical, train_lexical, [d.text for d in dev_docs], key, seconds)
    lexical.to("cpu")  # a frozen encoder is done on the GPU: training's dev scores are cached
    if main:
        logger.info("lexical channel (%s, %s fit) fitted in %.0f s: %d TF-IDF features%s, C = %g (dev loss / macro-F1 by C: %s)",
                    lexical.kind, lexical.fitter, time.time() - fit_started, len(lexical.vocabulary),
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
