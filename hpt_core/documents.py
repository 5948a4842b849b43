"""A document and a dataset: the two types every reader, split and model input is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpt_core.hierarchy import LabelHierarchy

#: The usual splits, in the order they are listed and written.
SPLIT_ORDER = ("train", "dev", "test")


@dataclass
class Document:
    """One text and its labels.

    ``labels`` are ancestor-closed, root excluded and in label-index order once the document has
    been checked against a hierarchy; without one they are the names as given, de-duplicated.
    """

    text: str
    labels: list[str]


@dataclass
class Dataset:
    """A hierarchy with its document splits (``train``/``dev``/``test`` and any others).

    ``meta`` is free-form provenance (source file, seed, fractions, skipped documents) stored in
    ``dataset.json`` beside the splits.
    """

    hierarchy: LabelHierarchy
    splits: dict[str, list[Document]]
    name: str
    meta: dict[str, Any] = field(default_factory=dict)
