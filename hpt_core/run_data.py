"""The label tree and the documents a run's configuration names (its descriptions, its
low-resource sample), read and checked."""

from __future__ import annotations

from hpt_core.config import RunConfig
from hpt_core.data import Document, low_resource_sample, read_corpus
from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import LabelHierarchy


def load_run_hierarchy(config: RunConfig) -> LabelHierarchy:
    """The label tree ``config`` names, with its label descriptions when it names them."""
    hierarchy = LabelHierarchy.read(config.data.taxonomy)
    if config.data.descriptions:
        descriptions = LabelHierarchy.read_descriptions(config.data.descriptions)
        hierarchy = hierarchy.with_descriptions(descriptions, source=config.data.descriptions)
    return hierarchy


def load_run_data(config: RunConfig) -> tuple[LabelHierarchy, list[Document], list[Document], list[Document] | None]:
    """The tree (with descriptions, when named), training documents (the low-resource sample, when
    asked), dev and test documents (``None`` without a test file) of ``config``."""
    hierarchy = load_run_hierarchy(config)
    train_docs = read_corpus(config.data.train, hierarchy)
    dev_docs = read_corpus(config.data.dev, hierarchy)
    test_docs = read_corpus(config.data.test, hierarchy) if config.data.test else None
    if config.train.low_resource is not None and config.train.low_resource < 1.0:
        train_docs = low_resource_sample(train_docs, config.train.low_resource, config.train.seed)
    if not train_docs or not dev_docs:
        raise HPTInputError("train and dev must each hold at least one document")
    return hierarchy, train_docs, dev_docs, test_docs
