"""The classifier everything downstream talks to: the trained HPT model and what we build on top.

``hpt_core.model`` is the paper's model and nothing else. What turns its scores into the scores a
text is decided on is composed here, in one place, by :class:`HTCClassifier`:

* the model's own scores of the text (batched by length, at a chosen precision: :func:`model_scores`);
* plus the **lexical channel**'s (``hpt_core.lexical``), when one was fitted — the model was
  trained on that sum (stacking: ``HPTModel.forward``'s ``score_offset``);
* then through the **classical blend** (``hpt_core.blend``), when one was kept on dev;
* the decision rule (``PipelineConfig.decision``, ``hpt_core.decoding``) turns the result into labels;
* beside the scores, the **familiarity check** (``hpt_core.familiarity``), when one was fitted with
  the blend, says how like the training texts each text is (sharing a kept blend's encoder pass).

What was asked for is ``HTCClassifier.pipeline`` (a ``PipelineConfig``: which channel, blend and
decision rule); the parts themselves are what was fitted (``None`` where nothing was, e.g. a blend
that dev turned down).

``Predictor``, evaluation, explanations, error analysis, the app and the CLI all take an
``HTCClassifier``: one implementation of "the scores of a text".

A classifier is a folder (``save_pretrained`` / ``from_pretrained``): the model's files
(``config.json``, ``hierarchy.json``, tokenizer, ``model.safetensors``), each part's own files
(``lexical.*``, ``sentence_encoder.safetensors``, ``blend.*``, ``blend_encoder.safetensors``) and
``pipeline.json`` naming the parts and holding the ``PipelineConfig``. Folders written before
``pipeline.json`` existed recorded the parts as flags in ``config.json`` (``lexical_channel_fitted``,
``blend_fitted``), and folders written before ``PipelineConfig`` existed kept its fields in
``config.json``'s model settings; both still load.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

from hpt_core.backbone import uses_bf16
from hpt_core.batching import sorted_batches
from hpt_core.config import PipelineConfig, split_model_fields
from hpt_core.durable import replace_folder
from hpt_core.errors import HPTInputError
from hpt_core.inputs import parse_json, read_text
from hpt_core.model import CONFIG_NAME, HPTModel

PIPELINE_NAME = "pipeline.json"
#: ``pipeline.json``'s format (2: with the ``PipelineConfig``); a folder of a later format is refused with a clear line.
PIPELINE_FORMAT = 2
#: The parts a classifier composes, in the order they act on the scores (the familiarity check
#: reads the text beside them).
PARTS = ("lexical", "blend", "familiarity")


@torch.inference_mode()
def model_scores(model: HPTModel, texts: list[str], batch_size: int = 64, progress: bool = False,
                 return_reading: bool = False, precision: str = "fp32"):
    """The model's own scores (N, C) for raw texts, in eval mode, on the CPU (``progress``: a tqdm bar).

    ``precision``: ``"fp32"`` (the default: the figures of ``evaluate`` and ``metrics.json``; it
    adds no autocast, so a caller's own stays in force), ``"bf16"`` (autocast; about 1.3× faster
    on a CPU with native bfloat16, more on a GPU; scores differ in the second or third
    significant digit) or ``"auto"`` (bf16 where the device computes it natively, as training's
    ``precision="auto"``).

    Texts are batched sorted by length (less padding; ``batch_size`` counts windows) and the
    scores returned in input order. ``return_reading`` also returns, per text, a dict
    ``{"tokens_total", "tokens_read", "windows"}``: its length in word pieces, how many of them
    the windows read, and how many windows.
    """
    from tqdm.auto import tqdm

    was_training = model.training
    if was_training:  # .eval() walks every submodule: 2 ms of a 25 ms single-text call
        model.eval()
    device = next(model.parameters()).device
    arithmetic = (torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(precision, device.type)
                  else contextlib.nullcontext())
    windows, n_tokens, n_read = model.tokenize_windows(list(texts))
    lengths = [sum(len(w) for w in doc) for doc in windows]
    batches = sorted_batches(lengths, batch_size, [len(doc) for doc in windows])
    scores = torch.zeros(len(texts), len(model.hierarchy.labels))
    for members in tqdm(batches, desc="scoring", unit="batch", disable=not progress or len(batches) < 2):
        batch = model.collate_documents([windows[i] for i in members])
        batch = {k: v.to(device) for k, v in batch.items()}
        with arithmetic:
            scores[torch.tensor(members)] = model(batch)["scores"].float().cpu()
    if was_training:
        model.train()
    if not return_reading:
        return scores
    reading = [{"tokens_total": total, "tokens_read": read, "windows": len(doc)}
               for doc, total, read in zip(windows, n_tokens, n_read)]
    return scores, reading


class HTCClassifier:
    """A trained HPT model with its lexical channel and classical blend (each optional).

    Args:
        model: the trained ``HPTModel``.
        lexical: a fitted ``LexicalChannel`` whose scores are added to the model's, or ``None``.
        blend: a fitted ``ClassicalBlend`` the sum is blended with, or ``None``.
        pipeline: the ``PipelineConfig`` (defaults to the paper's: no channel, no blend, thresholds);
            its ``decision`` is the rule the classifier decides with (``"auto"`` until training
            ends, when it is resolved on dev: ``finishing.final_figures``).
        familiarity: a fitted ``Familiarity`` (how like the training texts a text is), or ``None``.

    ``config``, ``hierarchy`` and ``tokenizer`` are the model's.
    """

    def __init__(self, model: HPTModel, lexical=None, blend=None, pipeline: PipelineConfig | None = None,
                 familiarity=None):
        self.model = model
        self.lexical = lexical
        self.blend = blend
        self.pipeline = pipeline if pipeline is not None else PipelineConfig()
        self.familiarity = familiarity

    # ---- what the model holds -------------------------------------------------------------------
    @property
    def config(self):
        return self.model.config

    @config.setter
    def config(self, value) -> None:  # e.g. whole documents read in more windows at prediction time
        self.model.config = value

    @property
    def decision(self) -> str:
        """The decision rule (``PipelineConfig.decision``)."""
        return self.pipeline.decision

    @property
    def hierarchy(self):
        return self.model.hierarchy

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def eval(self) -> "HTCClassifier":
        self.model.eval()
        return self

    def to(self, device) -> "HTCClassifier":
        """The model and the parts' frozen encoders on ``device`` (the parts' linear scorers stay on the CPU)."""
        self.model.to(device)
        for part in (self.lexical, self.blend):
            if part is not None:
                part.to(device)
        if self.familiarity is not None and not self._familiarity_shares_the_blends_encoder():
            self.familiarity.sentence.to(device)
        return self

    def _familiarity_shares_the_blends_encoder(self) -> bool:
        return (self.familiarity is not None and self.blend is not None
                and self.familiarity.sentence is self.blend.sentence)

    # ---- scores ----------------------------------------------------------------------------------
    def model_scores(self, texts: list[str], batch_size: int = 64, progress: bool = False,
                     return_reading: bool = False, precision: str = "fp32"):
        """The model's own scores (N, C): :func:`model_scores`."""
        return model_scores(self.model, texts, batch_size, progress, return_reading, precision)

    def document_scores(self, texts: list[str], model_scores: torch.Tensor, lexical: bool = True,
                        blend: bool = True, lexical_scores: torch.Tensor | None = None,
                        progress: bool = False, embedded=None) -> torch.Tensor:
        """The model's own scores (N, C) of ``texts`` → the scores decided on: plus the lexical
        channel's, then through the classical blend (each when fitted and asked for).
        ``lexical_scores`` (N, C): the channel's scores when the caller has them already;
        ``embedded`` (N, d): the blend's frozen-encoder embeddings when the caller has them;
        ``progress``: bars over the frozen encoders' batches (the channel's sentence features, the blend)."""
        scores = model_scores
        if lexical and self.lexical is not None:
            scores = scores + (self.lexical.scores(list(texts), progress=progress) if lexical_scores is None
                               else lexical_scores)
        if blend and self.blend is not None:
            scores = self.blend.scores(scores.numpy(), list(texts), progress=progress, embedded=embedded)
        return scores

    def familiarity_of(self, texts: list[str], progress: bool = False):
        """Each text's similarity to the training texts (N,) (``hpt_core.familiarity``) and the
        frozen-encoder embeddings (N, d) it was computed from, or ``(None, None)`` without a check."""
        from hpt_core.blend import embed_frozen

        if self.familiarity is None:
            return None, None
        embedded = embed_frozen(self.familiarity.sentence, list(texts), progress)
        return self.familiarity.similarity(embedded), embedded

    def predict_scores(self, texts: list[str], batch_size: int = 64, progress: bool = False, lexical: bool = True,
                       return_reading: bool = False, blend: bool = True, precision: str = "fp32"):
        """Document scores (N, C) for raw texts, on the CPU: the model's, plus the lexical channel's
        (``lexical=False``: not), through the classical blend (``blend=False``: not).
        ``return_reading``, ``precision``: see :func:`model_scores`; with ``return_reading`` each
        text's reading also holds its ``familiarity`` (similarity to the training texts; ``None``
        without a check), whose encoder pass a kept blend shares."""
        scores, reading = self.model_scores(texts, batch_size, progress, return_reading=True, precision=precision)
        embedded = None
        if return_reading:
            similarity, embedded = self.familiarity_of(texts, progress)
            for i, entry in enumerate(reading):
                entry["familiarity"] = None if similarity is None else round(float(similarity[i]), 4)
            if not self._familiarity_shares_the_blends_encoder():
                embedded = None
        scores = self.document_scores(texts, scores, lexical=lexical, blend=blend, progress=progress, embedded=embedded)
        return (scores, reading) if return_reading else scores

    # ---- persistence -----------------------------------------------------------------------------
    def parts(self) -> dict:
        """``pipeline.json``'s content: the format, each part's kind (``None``: not fitted) and the
        ``PipelineConfig``."""
        return {"format": PIPELINE_FORMAT,
                "lexical": None if self.lexical is None else self.lexical.kind,
                "blend": None if self.blend is None else "classical",
                "familiarity": self.familiarity is not None,
                "config": self.pipeline.to_dict()}

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the classifier's folder durably (:func:`hpt_core.durable.replace_folder`): a reader
        never sees a half-written folder, and a kill or a full disk mid-save leaves the previous
        folder loadable.

        Raises:
            HPTInputError: ``<folder>: no space left on device while saving the model folder`` (or
                ``permission denied``, ``read-only file system``); nothing of the new folder is left.
        """
        directory = Path(directory)
        with replace_folder(directory, "the model folder") as staging:
            self.model.write_files(staging)
            for part in (self.lexical, self.blend):
                if part is not None:
                    part.save(staging)
            if self.familiarity is not None:
                self.familiarity.save(staging, encoder_shared=self._familiarity_shares_the_blends_encoder())
            (staging / PIPELINE_NAME).write_text(json.dumps(self.parts(), indent=2), encoding="utf-8")
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device | None = None) -> "HTCClassifier":
        """Rebuild a saved classifier from its folder alone (no hub, no pickles).

        Raises:
            HPTInputError: ``not a usable model folder: <why>`` when the model or a part named in
                ``pipeline.json`` cannot be rebuilt from the folder.
        """
        directory = Path(directory)
        model = HPTModel.from_pretrained(directory, device=device)
        named = _named_parts(directory)
        pipeline = PipelineConfig.from_dict(named["config"], str(directory / PIPELINE_NAME))
        backbone_config = model.mlm.config.to_dict()
        lexical = blend = None
        if named.get("lexical"):
            from hpt_core.lexical import LexicalChannel

            lexical = LexicalChannel.load(directory, len(model.hierarchy.labels), backbone_config, model.tokenizer)
        if named.get("blend"):
            from hpt_core.blend import ClassicalBlend

            blend = ClassicalBlend.load(directory, model.hierarchy, backbone_config, model.tokenizer)
        familiarity = None
        if named.get("familiarity"):
            from hpt_core.familiarity import Familiarity

            familiarity = Familiarity.load(directory, backbone_config, model.tokenizer,
                                           blend_sentence=None if blend is None else blend.sentence)
        classifier = cls(model, lexical, blend, pipeline, familiarity)
        return classifier.to(device) if device is not None else classifier


def _named_parts(directory: Path) -> dict:
    """The parts a folder says it holds and its ``PipelineConfig`` as a dict (``"config"``):
    ``pipeline.json``; for a folder saved before it existed, the flags its ``config.json`` carried;
    for one saved before ``PipelineConfig`` existed, the pipeline fields of ``config.json``'s model
    settings."""
    def unusable(why: str) -> HPTInputError:
        return HPTInputError(f"not a usable model folder: {why}", directory)

    path = directory / PIPELINE_NAME
    if path.is_file():
        named = parse_json(read_text(path), PIPELINE_NAME)
        if not isinstance(named, dict):
            raise unusable(f"{PIPELINE_NAME} must be an object naming the parts")
        fmt = named.get("format", PIPELINE_FORMAT)
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt > PIPELINE_FORMAT:
            raise unusable(f"{PIPELINE_NAME} is of format {fmt!r}, not one this version reads "
                           f"({PIPELINE_FORMAT}): upgrade hpt_core")
        config = named.get("config")
        if config is None:  # written before PipelineConfig: its fields are in config.json
            config = _legacy_pipeline_fields(parse_json(read_text(directory / CONFIG_NAME), CONFIG_NAME))
        if not isinstance(config, dict):
            raise unusable(f"{PIPELINE_NAME}: 'config' must be an object")
        return {**{part: named.get(part) for part in PARTS}, "config": config}
    saved = parse_json(read_text(directory / CONFIG_NAME), CONFIG_NAME)
    return {"lexical": bool(saved.get("lexical_channel_fitted")), "blend": bool(saved.get("blend_fitted")),
            "config": _legacy_pipeline_fields(saved)}


def _legacy_pipeline_fields(saved) -> dict:
    """The ``PipelineConfig`` fields a folder saved before the split kept in its ``config.json``
    (``saved``, parsed)."""
    hpt = saved.get("hpt") if isinstance(saved, dict) else None
    return split_model_fields(hpt)[1] if isinstance(hpt, dict) else {}


def as_classifier(model) -> HTCClassifier:
    """``model`` itself when it is a classifier; a bare ``HPTModel`` as a classifier without parts
    (the paper's pipeline: its decision rule is the thresholds)."""
    return model if isinstance(model, HTCClassifier) else HTCClassifier(model)
