"""After the last epoch: the classical blend's fit, the decision rule's choice on dev and the final
dev and test figures of a run's best model, its model card — and the same steps again on a
finished run (``python -m hpt_core decide`` / ``blend``). ``hpt_core.training`` runs the epochs
and calls :func:`final_figures`; nothing here trains the model."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from hpt_core import blend_progress, runs
from hpt_core.decoding import decision_name
from hpt_core.config import RunConfig
from hpt_core.errors import HPTInputError
from hpt_core.calibration import evaluate_calibration, fit_calibration
from hpt_core.evaluation import candidate_decisions, choose_decision, gold_and_scores
from hpt_core.metrics import evaluation_report
from hpt_core.classifier import HTCClassifier
from hpt_core.model import HPTModel
from hpt_core.model_card import write_model_card
from hpt_core.phases import StepCallback, no_progress
from hpt_core.run_data import load_run_data
from hpt_core.runs import is_zero_shot_run

logger = logging.getLogger("hpt_core.training")


def write_card(run_dir: Path) -> None:
    """The model folder's model card (``hpt_core.model_card``). A card that cannot be written (a
    full disk) is logged, not fatal: the model and its figures are saved already."""
    try:
        write_model_card(run_dir)
    except OSError as err:
        logger.warning("model card not written: %s", err)


def pretrained_copy(model: HPTModel):
    """A frozen, bf16-rounded copy of ``model``'s backbone encoder on the CPU (``hpt_core.sentence``),
    reading the classical blend's ``ENCODER_MAX_LENGTH`` tokens (called before training: pretrained)."""
    from hpt_core.blend import encoder_max_length
    from hpt_core.sentence import FrozenSentenceEncoder

    encoder = model.mlm.base_model
    return FrozenSentenceEncoder.copy_of(encoder, model.tokenizer, encoder_max_length(encoder)).to("cpu")


def fit_blend(best: HTCClassifier, train_docs, dev_docs, dev_y, dev_scores, blend_encoder,
               on_step: StepCallback | None = None, fit_documents: int | None = None,
               seed: int = 0, run_dir: Path | None = None) -> tuple[np.ndarray, dict]:
    """Fit ``best``'s classical blend (``hpt_core.blend``) and return the blended dev scores (M, C)
    and what to report. The model's weight is chosen under its decision rule (both rules with "auto").
    A weight of 1 (the model alone is best on dev) keeps no blend: nothing to pay for when predicting.
    A blend that cannot be fitted is reported and left out; the trained model stands.

    The familiarity check (``hpt_core.familiarity``) is fitted from the same frozen-encoder
    embeddings (no second pass) and kept whether or not the blend is. With ``run_dir``, the fit's
    finished parts are kept there until the run completes (``hpt_core.blend_progress``): a start
    killed inside the grid leaves them to the next."""
    from hpt_core import fit_cache
    from hpt_core.blend import blended_scores, fit_classical_blend, path_ends
    from hpt_core.blend_progress import BlendProgress
    from hpt_core.familiarity import Familiarity

    started = time.time()
    device = best.device  # the fits run where the model trained: a GPU when there is one

    def fit_familiarity(train_embedded, dev_embedded) -> None:
        best.familiarity = Familiarity.fit(train_embedded, dev_embedded, sentence=blend_encoder, seed=seed)

    try:
        targets = path_ends(train_docs, best.hierarchy)
        multi_path = sum(1 for ends in targets if len(ends) > 1)
        rules = candidate_decisions(dev_y, best.hierarchy) if best.decision == "auto" else (best.decision,)
        keep = None if run_dir is None else BlendProgress(run_dir, fit_cache.fingerprint(train_docs, dev_docs, best.hierarchy, {
            "part": "classical blend", "backbone": best.config.backbone, "encoder_max_length": blend_encoder.max_length,
            "fit_documents": fit_documents, "seed": seed, "device": torch.device(device).type}))
        fitted = fit_classical_blend([d.text for d in train_docs], targets, [d.text for d in dev_docs], dev_y, dev_scores,
                                     best.hierarchy, blend_encoder.to(device), rules=rules, on_step=on_step,
                                     device=device, max_documents=fit_documents, seed=seed, on_embedded=fit_familiarity,
                                     keep=keep)
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


def fit_familiarity(best: HTCClassifier, train_docs, dev_docs, frozen_encoder, seed: int = 0,
                    on_step: StepCallback | None = None) -> None:
    """Fit ``best``'s familiarity check (``hpt_core.familiarity``) where no blend shares its
    embeddings (the paper's recipe, a blend that failed): one frozen-encoder pass over a seeded
    sample of at most ``MAX_REFERENCE`` training texts and over dev. The encoder becomes the check's
    own (saved as ``familiarity_encoder.safetensors``). A check that cannot be fitted is logged and
    left out: it changes no score, and the trained model stands."""
    from hpt_core.blend import embed_frozen
    from hpt_core.familiarity import MAX_REFERENCE, Familiarity
    from hpt_core.linear_fit import document_sample

    report = on_step or (lambda done, total, detail: None)
    started = time.time()
    texts = [d.text for d in train_docs]
    chosen = document_sample(len(texts), MAX_REFERENCE, seed)
    if chosen is not None:
        texts = [texts[i] for i in chosen]
    try:
        encoder = frozen_encoder.to(best.device)
        report(0, 1, f"embedding {len(texts):,} training and {len(dev_docs):,} dev texts with the frozen encoder")
        familiarity = Familiarity.fit(embed_frozen(encoder, texts), embed_frozen(encoder, [d.text for d in dev_docs]),
                                      sentence=encoder, seed=seed)
    except runs.JobCancelled:
        raise
    except Exception as err:  # noqa: BLE001 — an add-on that changes no score must not fail a finished training
        logger.warning("familiarity check not fitted: %s: %s", type(err).__name__, err)
        return
    if familiarity is None:
        return
    familiarity.dev["train_documents"] = len(train_docs)
    best.familiarity = familiarity
    report(1, 1, f"threshold {familiarity.threshold:.3f} (dev's 1st percentile)")
    logger.info("familiarity check fitted in %.0f s: threshold %.3f", time.time() - started, familiarity.threshold)


def final_figures(best: HTCClassifier, run_dir: Path, dev_docs, test_docs, train_counts, batch_size: int,
                   train_docs=None, frozen_encoder=None, save: bool = False, reporter=None,
                   fit_documents: int | None = None, seed: int = 0) -> dict:
    """The best model's dev (and test) figures, in float32. With ``blend="classical"`` (and the
    pretrained ``frozen_encoder``) the blend is fitted first on ``train_docs``, its weight chosen on
    dev; with ``decision="auto"`` the decision rule is chosen next, once, on dev
    (:func:`hpt_core.evaluation.choose_decision`). The model folder is saved once, when either
    changed it (or ``save``); from then on it scores and decides by them. ``reporter(phase)`` gives
    the progress callbacks of the final evaluation and the blend's fit (see ``training._phase_reporter``).
    With ``familiarity`` on and no blend to share its embeddings, the familiarity check is fitted
    with ``frozen_encoder`` alone (:func:`fit_familiarity`)."""
    reporter = reporter or no_progress
    final = reporter("final evaluation")
    scored = len(dev_docs) + len(test_docs or [])  # progress in documents: test is often larger than dev
    out = {}
    final(0, scored, f"scoring dev ({len(dev_docs):,} documents)")
    dev_y, dev_scores = gold_and_scores(best, dev_docs, batch_size, False)
    final(len(dev_docs), scored, "dev scored")
    if best.pipeline.blend is not None and best.blend is None and frozen_encoder is not None:
        dev_scores, out["blend"] = fit_blend(best, train_docs, dev_docs, dev_y, dev_scores, frozen_encoder,
                                              on_step=reporter("classical blend"), fit_documents=fit_documents,
                                              seed=seed, run_dir=run_dir)
        final = reporter("final evaluation")  # its clock restarted: the blend's minutes are not scoring's
        save = save or best.blend is not None or best.familiarity is not None
    elif best.blend is not None:  # fitted before (a resumed final step, or a loaded model): say so
        out["blend"] = best.blend.summary()
    if best.pipeline.familiarity and best.familiarity is None and frozen_encoder is not None and train_docs:
        fit_familiarity(best, train_docs, dev_docs, frozen_encoder, seed, reporter("familiarity check"))
        final = reporter("final evaluation")
        save = save or best.familiarity is not None
    if best.familiarity is not None:
        out["familiarity"] = best.familiarity.summary()
    if best.decision == "auto":
        chosen, by_rule = choose_decision(dev_y, dev_scores, best.hierarchy)
        best.pipeline = best.pipeline.replace(decision=chosen)
        save = True
        out["decision"] = {"chosen": chosen, "dev_macro_f1": by_rule}
        logger.info("decision rule: %s (dev macro-F1 %s)", decision_name(chosen),
                    ", ".join(f"{decision_name(r)} {f:.4f}" for r, f in by_rule.items()))
    if save:
        best.save_pretrained(run_dir / runs.MODEL_DIR)
    # after the save: the model folder is replaced whole when saved, and the calibration is of its scores
    calibration = fit_calibration(dev_y, dev_scores, best.hierarchy, best.decision)
    if calibration is not None:
        calibration.save(run_dir / runs.MODEL_DIR)
        out["calibration"] = {"dev": calibration.dev}
    out["dev"] = evaluation_report(dev_y, dev_scores, best.hierarchy, train_counts, best.decision)
    if test_docs:
        final(len(dev_docs), scored, f"scoring test ({len(test_docs):,} documents)")
        test_y, test_scores = gold_and_scores(best, test_docs, batch_size, False)
        out["test"] = evaluation_report(test_y, test_scores, best.hierarchy, train_counts, best.decision)
        if calibration is not None:  # fitted on dev, so test says how well it holds on new documents
            out["calibration"]["test"] = evaluate_calibration(calibration, test_y, test_scores, best.hierarchy,
                                                              best.decision)
        final(scored, scored, "test scored")
    return out


def finished_run(run_dir: str | Path, what: str, device: str | None = None):
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
    best = HTCClassifier.from_pretrained(run_dir / runs.MODEL_DIR, device=device)
    counts = np.asarray(metrics.get("train_counts") or np.zeros(len(hierarchy.labels)), dtype=np.int64)
    return run_dir, metrics, config, (train_docs, dev_docs, test_docs), best, counts


def choose_run_decision(run_dir: str | Path, decision: str = "auto") -> dict:
    """Set a finished run's decision rule — ``"auto"`` chooses it on the run's dev file, as training
    does when it ends — save it in the model folder and recompute the dev and test figures of
    ``metrics.json``. For runs trained before the rule existed, or to compare rules on one model.
    Returns the updated metrics."""
    run_dir, metrics, config, (_, dev_docs, test_docs), best, counts = finished_run(run_dir, "decision rule")
    best.pipeline = best.pipeline.replace(decision=decision)
    if decision != "auto":
        metrics.pop("decision", None)
    return _refigured(best, run_dir, metrics, config, dev_docs, test_docs, counts)


def blend_run(run_dir: str | Path, blend: str | None = "classical") -> dict:
    """Fit (again) a finished run's classical blend — as training does when it ends, with a frozen
    copy of the pretrained backbone — or remove it (``blend=None``); save the model folder and
    recompute the figures of ``metrics.json`` (a decision rule chosen on dev is chosen again, on the
    new scores). For runs trained before the blend existed, or to compare. Returns the updated metrics."""
    if blend not in (None, "classical"):
        raise HPTInputError(f"blend must be classical or none; got {blend!r}")
    run_dir, metrics, config, (train_docs, dev_docs, test_docs), best, counts = finished_run(
        run_dir, "blend", device="cuda" if torch.cuda.is_available() else None)
    best.blend = None
    best.pipeline = best.pipeline.replace(blend=blend)
    if "decision" in metrics:  # the rule was chosen on dev: choose it again on the new scores
        best.pipeline = best.pipeline.replace(decision="auto")
    metrics.pop("blend", None)
    frozen_encoder = None
    if blend is not None or (best.pipeline.familiarity and best.familiarity is None):
        frozen_encoder = _pretrained_encoder(best.config.backbone)
    # saved also when no blend was fitted: that removes the old one
    figures = final_figures(best, run_dir, dev_docs, test_docs, counts, config.train.eval_batch_size,
                             train_docs=train_docs, frozen_encoder=frozen_encoder, save=True,
                             fit_documents=config.train.fit_documents, seed=config.train.seed)
    metrics.update(figures)
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    write_card(run_dir)
    blend_progress.discard(run_dir)  # the model folder holds the blend now
    return metrics


def familiarity_run(run_dir: str | Path, familiarity: bool = True) -> dict:
    """Fit (again) a finished run's familiarity check — as training does when it ends — or remove it
    (``familiarity=False``); save the model folder and ``metrics.json``. For runs trained before the
    check existed, or whose recipe left it out. No score, decision or figure changes. Returns the
    updated metrics."""
    run_dir, metrics, config, (train_docs, dev_docs, test_docs), best, counts = finished_run(
        run_dir, "familiarity check", device="cuda" if torch.cuda.is_available() else None)
    best.familiarity = None
    best.pipeline = best.pipeline.replace(familiarity=familiarity)
    metrics.pop("familiarity", None)
    if familiarity and best.blend is not None:
        # a kept blend's encoder is the pretrained one: shared, not copied
        fit_familiarity(best, train_docs, dev_docs, best.blend.sentence, config.train.seed)
    elif familiarity:
        fit_familiarity(best, train_docs, dev_docs, _pretrained_encoder(best.config.backbone), config.train.seed)
    return _refigured(best, run_dir, metrics, config, dev_docs, test_docs, counts)


def _refigured(best: HTCClassifier, run_dir: Path, metrics: dict, config: RunConfig, dev_docs, test_docs,
               counts) -> dict:
    """A finished run's figures recomputed after a change that fits no blend (its decision rule,
    its familiarity check), saved with its model folder — the calibration too: a save replaces the
    whole folder — and its model card. A blend that dev turned down is not fitted again (no frozen
    encoder is given), and ``metrics.json`` keeps how the blend's fit was reported."""
    blend_record = metrics.get("blend")
    metrics.update(final_figures(best, run_dir, dev_docs, test_docs, counts, config.train.eval_batch_size, save=True))
    if blend_record is not None:
        metrics["blend"] = blend_record
    runs.atomic_write_json(run_dir / runs.METRICS, metrics)
    write_card(run_dir)
    return metrics


def _pretrained_encoder(backbone: str):
    """A frozen copy of the *pretrained* ``backbone``'s encoder reading the blend's
    ``ENCODER_MAX_LENGTH`` tokens (a finished run's model is fine-tuned: the blend and the
    familiarity check embed with the backbone as it was before training, as :func:`pretrained_copy`)."""
    from hpt_core.backbone import load_backbone
    from hpt_core.blend import encoder_max_length
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(backbone)
    return FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, encoder_max_length(mlm.base_model))
