"""Corpora: reading documents with their labels, splitting them, saving and loading datasets.

Every reader returns :class:`Document` objects whose labels, once checked against a
:class:`~hpt_core.hierarchy.LabelHierarchy`, are ancestor-closed, root-free and in label-index
order, so models and metrics can use them directly.  Bad input is an
:class:`~hpt_core.errors.HPTInputError` naming the file, the line and the problem; nothing is
written to disk when input is rejected.

Supported corpora (:func:`read_corpus`):

* ``jsonl``: ``{"text": str, "labels": [names]}`` per line, also the HPT/HiAGM spellings
  ``{"token": ..., "label": [...]}`` and ``{"doc_token": ..., "doc_label": [...]}``.
* ``csv`` / ``tsv``: a header row, a text column, and either one labels column (several labels
  separated by ``;`` or ``|``), several level columns (``level1``, ``level2``…), or a ``path``
  column.
* ``wos``: the Web of Science ``Data.txt`` (or ``Data.xlsx``) as published.
* ``20ng``: the 20 Newsgroups ``20news-bydate.tar.gz`` archive or its extracted folder.

Each format is one module of ``hpt_core.formats``; the label checking they share is
``hpt_core.records``; the types are ``hpt_core.documents``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpt_core.documents import SPLIT_ORDER, Dataset, Document
from hpt_core.errors import HPTInputError
from hpt_core.formats.jsonl import jsonl_records
from hpt_core.formats.newsgroups import SPLIT_FOLDER, newsgroup_records, read_20ng
from hpt_core.formats.table import table_records
from hpt_core.formats.wos import wos_records
from hpt_core.hierarchy import LabelHierarchy, atomic_write_text, read_text
from hpt_core.inputs import check_output_path, parse_json, require_file
from hpt_core.records import Record, documents_of, warn_skipped

__all__ = [
    "Dataset",
    "Document",
    "detect_format",
    "import_corpus",
    "label_counts",
    "load_dataset",
    "low_resource_sample",
    "read_20ng",
    "read_corpus",
    "read_wos",
    "save_dataset",
    "split_corpus",
    "write_jsonl",
]

FORMATS = ("jsonl", "csv", "tsv", "wos", "20ng")


# --------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """Guess a corpus format from its name and first line: one of :data:`FORMATS`."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        if SPLIT_FOLDER.match(p.name) or any(SPLIT_FOLDER.match(d.name) for d in p.iterdir() if d.is_dir()):
            return "20ng"
        raise HPTInputError(
            "is a folder but not a 20 Newsgroups one (no 20news-bydate-train/ or 20news-bydate-test/)", p
        )
    require_file(p)
    if name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2")):
        return "20ng"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".xlsx", ".xlsm")):
        return "wos"
    if name.endswith(".csv"):
        return "csv"
    if not p.is_file():
        # A pipe (<(...)) can be read once only: peeking at its first line would lose it.
        return "jsonl"
    with open(p, "rb") as fh:
        first = fh.readline().decode("utf-8", errors="replace").lstrip("\ufeff")
    columns = [c.strip().lower() for c in first.split("\t")]
    if columns[:3] == ["y1", "y2", "y"] or {"domain", "area", "abstract"} <= set(columns):
        return "wos"
    if name.endswith(".tsv") or (name.endswith(".txt") and "\t" in first):
        return "tsv"
    if first.lstrip().startswith("{"):
        return "jsonl"
    raise HPTInputError(
        f"cannot tell the corpus format from the name {p.name!r}; pass format= one of {', '.join(FORMATS)}", p
    )


def _records(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str | Sequence[str] | None,
    path_sep: str | None,
) -> Iterator[Record]:
    if fmt == "jsonl":
        if label_column is not None and not isinstance(label_column, str):
            raise HPTInputError("for JSON Lines, label_column is one key", path)
        return jsonl_records(path, text_column, label_column, path_sep)
    if fmt in ("csv", "tsv"):
        return table_records(path, "," if fmt == "csv" else "\t", text_column, label_column, path_sep)
    if fmt == "wos":
        return wos_records(path)
    if fmt == "20ng":
        return (rec for _, rec in newsgroup_records(path))
    raise HPTInputError(f"unknown corpus format {fmt!r} (expected auto or one of {', '.join(FORMATS)})", path)


def _read(
    path: str | Path,
    hierarchy: LabelHierarchy | None,
    format: str,
    text_column: str,
    label_column: str | Sequence[str] | None,
    path_sep: str | None,
    on_unknown: str,
    require_labels: bool,
) -> tuple[list[Document], list[HPTInputError]]:
    p = Path(path)
    fmt = detect_format(p) if format == "auto" else format.lower()
    records = _records(p, fmt, text_column, label_column, path_sep)
    docs, skipped = documents_of(
        records, hierarchy, on_unknown=on_unknown, require_labels=require_labels, loose=(fmt == "wos")
    )
    if not docs and not skipped:  # e.g. a table with a header and no rows
        raise HPTInputError("no documents in the file", p)
    return docs, skipped


def read_corpus(
    path: str | Path,
    hierarchy: LabelHierarchy | None = None,
    format: str = "auto",
    *,
    text_column: str = "text",
    label_column: str | Sequence[str] | None = None,
    path_sep: str | None = None,
    on_unknown: str = "error",
    require_labels: bool = True,
    skipped: list | None = None,
) -> list[Document]:
    """Read a corpus file (or 20NG folder) into documents.

    Args:
        path: the corpus.
        hierarchy: when given, every label is checked against it and ancestors are filled in.
        format: ``auto`` (see :func:`detect_format`) or one of :data:`FORMATS`.
        text_column: the text column (csv/tsv) or key (jsonl; ``text`` also accepts ``token``
            and ``doc_token``).
        label_column: csv/tsv: one column of labels separated by ``;``/``|``, or a list of level
            columns (top first).  Auto: ``labels``/``label``, else ``level1``, ``level2``…, else
            ``path``.  jsonl: the key (default ``labels``, ``label`` or ``doc_label``).
        path_sep: when given, each label item is a path (``A/B``; ``.`` means dotted names whose
            prefixes are the labels, as in :meth:`LabelHierarchy.from_paths`) whose chain must
            match the hierarchy.  A ``path`` column defaults to ``/``.
        on_unknown: ``"error"`` (default) rejects a document whose label is not in the
            hierarchy, or whose path contradicts it; ``"skip"`` drops such documents with one
            warning.  Other problems always raise.
        require_labels: reject documents without labels (set False for texts to classify).
        skipped: a list that receives one :class:`HPTInputError` (file, line, problem) per
            document dropped by ``on_unknown="skip"``.

    Raises:
        HPTInputError: naming the file, the line and the problem (the first one found).
    """
    docs, dropped = _read(
        path, hierarchy, format, text_column, label_column, path_sep, on_unknown, require_labels
    )
    warn_skipped(path, dropped)
    if skipped is not None:
        skipped.extend(dropped)
    return docs


def read_wos(
    path: str | Path, hierarchy: LabelHierarchy | None = None, *, on_unknown: str = "error"
) -> list[Document]:
    """Read WOS ``Data.txt`` / ``Data.xlsx``: text = Abstract, labels = Domain > area.

    Domain and area are stripped of their padding and matched to the taxonomy ignoring case and
    repeated spaces.  With a hierarchy, an area missing from it or filed under another domain is
    an error (or skipped with ``on_unknown="skip"``); the WOS taxonomy of HiAGM lacks a few
    areas of the data (e.g. ``ECE > Satellite radio``, ``Medical > Depression``).
    """
    return read_corpus(path, hierarchy, "wos", on_unknown=on_unknown)


# --------------------------------------------------------------------------------------------
# Statistics, splits, sampling
# --------------------------------------------------------------------------------------------


def label_counts(docs: Sequence[Document], hierarchy: LabelHierarchy) -> np.ndarray:
    """``(C,)`` int64: how many documents carry each label (ancestors included)."""
    counts = np.zeros(len(hierarchy), dtype=np.int64)
    for doc in docs:
        for label in hierarchy.with_ancestors(doc.labels):
            counts[hierarchy.label_to_index[label]] += 1
    return counts


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(fractions)
    if (
        len(values) != 3
        or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 0 for f in values)
        or abs(sum(values) - 1.0) > 1e-6
    ):
        raise HPTInputError(
            f"fractions must be three non-negative numbers (train, dev, test) summing to 1, got {values!r}"
        )
    return values  # type: ignore[return-value]


def split_corpus(
    docs: Sequence[Document], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[Document]]:
    """Seeded random split into ``train``/``dev``/``test``.

    Sizes are rounded from the fractions (test takes the rest); each split keeps the input order,
    so the same corpus and seed always give the same files.
    """
    train_f, dev_f, _ = _check_fractions(fractions)
    n = len(docs)
    order = np.random.default_rng(seed).permutation(n)
    n_train = min(n, int(round(train_f * n)))
    n_dev = min(n - n_train, int(round(dev_f * n)))
    parts = {
        "train": order[:n_train],
        "dev": order[n_train : n_train + n_dev],
        "test": order[n_train + n_dev :],
    }
    return {name: [docs[i] for i in sorted(idx)] for name, idx in parts.items()}


def low_resource_sample(docs: Sequence[Document], fraction: float, seed: int) -> list[Document]:
    """The paper's low-resource setting: a seeded random ``fraction`` of the training documents.

    ``fraction`` is any number in (0, 1]; at least one document is kept.  Input order is kept.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise HPTInputError(f"low-resource fraction must be in (0, 1], got {fraction!r}")
    if not docs:
        raise HPTInputError("no training documents to sample from")
    n = len(docs)
    k = max(1, int(round(fraction * n)))
    chosen = np.random.default_rng(seed).choice(n, size=k, replace=False)
    return [docs[i] for i in sorted(chosen)]


# --------------------------------------------------------------------------------------------
# Writing and loading datasets
# --------------------------------------------------------------------------------------------


def corpus_lines(docs: Iterable[Document]) -> str:
    """Documents as JSON Lines in the corpus format ``{"text", "labels"}``, one a line."""
    # ensure_ascii keeps every line pure ASCII, as in the benchmark files: no reader can then
    # split a line on U+2028 or NEL characters found in 20NG posts.
    return "".join(json.dumps({"text": d.text, "labels": list(d.labels)}) + "\n" for d in docs)


def write_jsonl(docs: Iterable[Document], path: str | Path) -> Path:
    """Write documents in the benchmark format ``{"text", "labels"}``, one a line (atomic)."""
    return atomic_write_text(path, corpus_lines(docs))


def _ordered_splits(names: Iterable[str]) -> list[str]:
    names = list(names)
    return [s for s in SPLIT_ORDER if s in names] + sorted(s for s in names if s not in SPLIT_ORDER)


def save_dataset(directory: str | Path, dataset: Dataset, *, overwrite: bool = False) -> Path:
    """Write ``taxonomy.tsv``, one ``<split>.jsonl`` per split and ``dataset.json``.

    The folder is built in a temp folder beside ``directory`` and renamed into place, so it
    appears complete or not at all.  An existing ``directory`` is refused unless ``overwrite``.
    """
    target = check_output_path(directory)
    if target.exists() and not overwrite:
        raise HPTInputError("already exists; choose another output folder or allow overwriting", target)
    if target.exists() and not target.is_dir():
        raise HPTInputError("exists and is not a folder", target)
    for split, docs in dataset.splits.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", split) or split in ("dataset", "taxonomy"):
            raise HPTInputError(f"bad split name {split!r} (letters, digits, '_' and '-' only)", target)
        for doc in docs:
            unknown = [label for label in doc.labels if label not in dataset.hierarchy]
            if unknown:
                raise HPTInputError(f"split {split!r}: label {unknown[0]!r} is not in the taxonomy", target)
    h = dataset.hierarchy
    info: dict[str, Any] = {
        "format": "hpt-dataset",
        "version": 1,
        "name": dataset.name,
        "counts": {split: len(dataset.splits[split]) for split in _ordered_splits(dataset.splits)},
        "labels": len(h),
        "depth": h.max_depth,
        **dataset.meta,
    }
    if h.descriptions:
        info["descriptions"] = h.descriptions  # taxonomy.tsv cannot hold them
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        h.to_tsv(tmp / "taxonomy.tsv")
        for split, docs in dataset.splits.items():
            write_jsonl(docs, tmp / f"{split}.jsonl")
        atomic_write_text(tmp / "dataset.json", json.dumps(info, ensure_ascii=False, indent=1) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            os.replace(target, old / "data")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_dataset(directory: str | Path) -> Dataset:
    """Load a folder written by :func:`save_dataset` (or a benchmark folder such as
    ``benchmarks/wos1k``): ``taxonomy.tsv`` plus every ``*.jsonl`` as a split named by its stem."""
    d = Path(directory)
    if not d.is_dir():
        raise HPTInputError("dataset folder not found", d)
    tax = d / "taxonomy.tsv"
    if not tax.is_file():
        raise HPTInputError("no taxonomy.tsv in the dataset folder", d)
    info: dict[str, Any] = {}
    if (d / "dataset.json").is_file():
        info = parse_json(read_text(d / "dataset.json"), d / "dataset.json")
        if not isinstance(info, dict):
            raise HPTInputError("expected a JSON object", d / "dataset.json")
    hierarchy = LabelHierarchy.from_tsv(tax)
    if info.get("descriptions"):
        hierarchy = LabelHierarchy(hierarchy.edges(), info["descriptions"], source=tax)
    files = {f.stem: f for f in d.glob("*.jsonl")}
    splits: dict[str, list[Document]] = {}
    for split in _ordered_splits(files):
        f = files[split]
        # An empty split (e.g. no dev set) is a valid file here, unlike an empty corpus.
        if f.stat().st_size == 0:
            splits[split] = []
        else:
            splits[split] = read_corpus(f, hierarchy, "jsonl")
    reserved = {"format", "version", "name", "counts", "labels", "depth", "descriptions"}
    meta = {k: v for k, v in info.items() if k not in reserved}
    return Dataset(hierarchy, splits, str(info.get("name") or d.name), meta)


def import_corpus(
    taxonomy: str | None,
    corpus: str,
    output: str,
    format: str = "auto",
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    overwrite: bool = False,
    on_unknown: str = "error",
    name: str | None = None,
    text_column: str = "text",
    label_column: str | Sequence[str] | None = None,
    path_sep: str | None = None,
) -> Dataset:
    """Read a taxonomy and a corpus, split it, and save it as a dataset folder at ``output``.

    * 20 Newsgroups: the taxonomy is optional (the tree comes from the group names).  Its own
      train/test split is kept; dev is ``fractions[1]`` of the train posts, drawn with ``seed``.
    * any other corpus: the taxonomy is required; the documents are split with
      :func:`split_corpus`.

    Everything is read and checked before anything is written, so a rejected input leaves no
    output behind.
    """
    fr = _check_fractions(fractions)
    out = check_output_path(output)
    if out.exists() and not overwrite:
        raise HPTInputError("already exists; choose another output folder or allow overwriting", out)
    fmt = detect_format(corpus) if format == "auto" else format.lower()
    hierarchy = LabelHierarchy.read(taxonomy) if taxonomy is not None else None
    skipped: list[HPTInputError] = []
    if fmt == "20ng":
        if hierarchy is None:
            hierarchy, given = read_20ng(corpus)
        else:  # check the posts against the user's tree instead of the group names' one
            given = {}
            for split, rec in newsgroup_records(Path(corpus)):
                docs, skip = documents_of([rec], hierarchy, on_unknown=on_unknown, require_labels=True)
                given.setdefault(split, []).extend(docs)
                skipped.extend(skip)
        train = given.get("train", [])
        n_dev = min(len(train), int(round(fr[1] * len(train))))
        dev_idx = set(np.random.default_rng(seed).choice(len(train), size=n_dev, replace=False).tolist())
        splits = {
            "train": [doc for i, doc in enumerate(train) if i not in dev_idx],
            "dev": [doc for i, doc in enumerate(train) if i in dev_idx],
            "test": given.get("test", []),
        }
    else:
        if hierarchy is None:
            raise HPTInputError(f"a taxonomy file is needed to import a {fmt} corpus", corpus)
        docs, skipped = _read(
            corpus, hierarchy, fmt, text_column, label_column, path_sep, on_unknown, True
        )
        if not docs:
            raise HPTInputError("no documents left after skipping those outside the taxonomy", corpus)
        splits = split_corpus(docs, fr, seed)
    wanted = {"train": True, "dev": fr[1] > 0, "test": fmt == "20ng" or fr[2] > 0}
    empty = [split for split, needed in wanted.items() if needed and not splits[split]]
    if empty:
        sizes = ", ".join(f"{split} {len(docs)}" for split, docs in splits.items())
        raise HPTInputError(
            f"too few documents to split: {sizes}; {' and '.join(empty)} would be empty", corpus
        )
    warn_skipped(corpus, skipped)
    meta: dict[str, Any] = {
        "source": str(corpus),
        "source_format": fmt,
        "taxonomy_source": str(taxonomy) if taxonomy is not None else None,
        "seed": seed,
        "fractions": list(fr),
        "skipped_documents": len(skipped),
        # what was skipped, so that it can be listed (one entry per document)
        "skipped": [{"line": err.line, "problem": err.problem} for err in skipped],
    }
    dataset = Dataset(hierarchy, splits, name or out.name, meta)
    save_dataset(out, dataset, overwrite=overwrite)
    return dataset
