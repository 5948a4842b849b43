"""hpt_core — Hierarchy-aware Prompt Tuning (Wang et al., EMNLP 2022) as a small library."""

from hpt_core.errors import HPTInputError

__all__ = ["HPTInputError"]
