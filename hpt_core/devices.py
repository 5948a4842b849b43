"""Which device and precision a job runs on, and how to name it to a user."""

from __future__ import annotations

import os

import torch

from hpt_core.backbone import uses_bf16
from hpt_core.errors import HPTInputError


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; ``"cuda"`` without one is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise HPTInputError("device cuda was asked for, but no CUDA GPU is visible")
    return device


def resolve_precision(precision: str, device: str) -> str:
    """``TrainConfig.precision`` on a resolved ``device`` → accelerate's ``mixed_precision`` (``"bf16"``/``"no"``)."""
    return "bf16" if uses_bf16(precision, device) else "no"


def device_description(device: str = "auto") -> str:
    """Human-readable name of the device training would use, e.g. ``"GPU: NVIDIA H100"`` or ``"CPU (2 cores)"``."""
    if device != "cpu" and torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores)"
