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
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_output_path, check_text, csv_records, csv_rows, lines_read_alone, parse_json, require_file
from hpt_core.hierarchy import (
    ROOT,
    LabelHierarchy,
    atomic_write_text,
    path_labels,
    read_text,
)

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
SPLIT_ORDER = ("train", "dev", "test")

# Keys accepted in JSON Lines corpora, in order of preference (ours, HPT's, HiAGM's).
_TEXT_KEYS = ("text", "token", "doc_token")
_LABEL_KEYS = ("labels", "label", "doc_label")
# Level columns of a table: level1, level_2, lvl3, l4, label1, depth2 …
_LEVEL_COLUMN = re.compile(r"^(?:level|lvl|l|label|depth)[ _-]?(\d+)$", re.IGNORECASE)
_20NG_SPLIT = re.compile(r"^20news-bydate-(train|test)$")
_WOS_COLUMNS = ("Domain", "area", "Abstract")


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


# --------------------------------------------------------------------------------------------
# Raw records and label checking
# --------------------------------------------------------------------------------------------


@dataclass
class _Record:
    """A document as read, before its labels are checked against a hierarchy."""

    text: str
    names: list[str]  # label names given as a set
    paths: list[list[str]]  # label paths, top first, whose chain must match the tree
    file: str
    line: int | None
    # csv/tsv records across lines: each inner line that reads as a whole record of its own, as
    # (line, names, paths) — if its labels are real, a stray quote merged rows (see _documents)
    lines_like_records: list[tuple[int, list[str], list[list[str]]]] = field(default_factory=list)


class _LabelProblem(Exception):
    """A label outside the tree (or a path against it): an error, or a reason to skip."""


def _lookup(name: str, hierarchy: LabelHierarchy, loose: dict[str, str] | None) -> str:
    if name in hierarchy or name == hierarchy.root:
        return name
    if loose is not None:
        # WOS pads and varies case in its label fields: match on the normalised spelling.
        found = loose.get(_loose_key(name))
        if found is not None:
            return found
    raise _LabelProblem(f"label {name!r} is not in the taxonomy")


def _loose_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _loose_index(hierarchy: LabelHierarchy) -> dict[str, str]:
    """Normalised spelling → label, for spellings that identify one label only."""
    index: dict[str, str] = {}
    clashes: set[str] = set()
    for label in hierarchy.labels:
        key = _loose_key(label)
        if key in index:
            clashes.add(key)
        index[key] = label
    return {k: v for k, v in index.items() if k not in clashes}


def _check_labels(
    rec: _Record, hierarchy: LabelHierarchy | None, loose: dict[str, str] | None
) -> list[str]:
    """The document's final labels; raises :class:`_LabelProblem` when they do not fit the tree."""
    if hierarchy is None:
        seen: dict[str, None] = {}
        for name in [*rec.names, *(n for p in rec.paths for n in p)]:
            if name != ROOT:
                seen[name] = None
        return list(seen)
    names = [_lookup(n, hierarchy, loose) for n in rec.names]
    for raw_path in rec.paths:
        try:
            path = [_lookup(n, hierarchy, loose) for n in raw_path if n != hierarchy.root]
        except _LabelProblem as problem:
            if len(raw_path) < 2:
                raise
            raise _LabelProblem(f"{problem} (path {' > '.join(raw_path)!r})") from None
        expected_parent: str | None = None
        for name in path:
            actual = hierarchy.parent(name)
            if actual != expected_parent:
                where = "at the top" if actual is None else f"under {actual!r}"
                wanted = "at the top" if expected_parent is None else f"under {expected_parent!r}"
                raise _LabelProblem(
                    f"path {' > '.join(raw_path)!r} does not match the taxonomy: "
                    f"{name!r} is {where} there, not {wanted}"
                )
            expected_parent = name
        names.extend(path)
    return hierarchy.with_ancestors(names)


def _documents(
    records: Iterable[_Record],
    hierarchy: LabelHierarchy | None,
    *,
    on_unknown: str,
    require_labels: bool,
    loose: bool = False,
) -> tuple[list[Document], list[HPTInputError]]:
    """Check records into documents; returns the documents and the skipped problems."""
    if on_unknown not in ("error", "skip"):
        raise HPTInputError(f"on_unknown must be 'error' or 'skip', not {on_unknown!r}")
    loose_index = _loose_index(hierarchy) if (loose and hierarchy is not None) else None
    docs: list[Document] = []
    skipped: list[HPTInputError] = []
    if hierarchy is None:  # labels are real when other records have them: read every record first
        records = list(records)
    real_labels = _real_labels(records, hierarchy, loose_index)
    for rec in records:
        for line, names, paths in rec.lines_like_records:
            if real_labels(names, paths):
                labels = ", ".join(repr(n) for n in [*names, *(" > ".join(p) for p in paths)])
                what = (f"this line reads as a document of its own (labels {labels}) but a quote opened in it "
                        f"runs on into the next line" if line == rec.line else
                        f"a quoted field opens here and runs on over line {line}, which reads as a document of "
                        f"its own (labels {labels})")
                raise HPTInputError(f"{what}: a stray quote (\") probably merged rows; remove it, or double it "
                                    f"(\"\") inside a quoted text", rec.file, rec.line)
        check_text(rec.text, rec.file, rec.line)
        if require_labels and not rec.names and not rec.paths:
            raise HPTInputError("document has no labels", rec.file, rec.line)
        try:
            labels = _check_labels(rec, hierarchy, loose_index)
        except _LabelProblem as problem:
            err = HPTInputError(str(problem), rec.file, rec.line)
            if on_unknown == "error":
                raise err from None
            skipped.append(err)
            continue
        if require_labels and not labels:
            # Ancestors are implied and the root is dropped: a root-only document has no label.
            raise HPTInputError("document's only label is the root; give a label below it", rec.file, rec.line)
        docs.append(Document(rec.text, labels))
    return docs, skipped


def _real_labels(records: Iterable[_Record], hierarchy: LabelHierarchy | None, loose: dict[str, str] | None):
    """Whether labels (names, paths) read off a line inside a multi-line csv record are real: they
    fit the tree, or, with no tree, every name labels some record of the file. A line of an
    abstract that happens to hold the right number of commas rarely ends in real labels."""
    if hierarchy is not None:
        def fits(names: list[str], paths: list[list[str]]) -> bool:
            try:
                _check_labels(_Record("", names, paths, "", None), hierarchy, loose)
            except _LabelProblem:
                return False
            return True
        return fits
    seen = {n for rec in records for n in [*rec.names, *(n for p in rec.paths for n in p)]}
    return lambda names, paths: all(n in seen for n in [*names, *(n for p in paths for n in p)])


def _warn_skipped(path: str | Path, skipped: list[HPTInputError]) -> None:
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} document(s) whose labels do not fit the taxonomy "
            f"(first: {skipped[0]})",
            stacklevel=3,
        )


# --------------------------------------------------------------------------------------------
# Format readers (each yields _Record objects)
# --------------------------------------------------------------------------------------------


def _split_label_field(value: str, path_sep: str | None) -> tuple[list[str], list[list[str]]]:
    """``"a;b|c"`` → names, or paths when ``path_sep`` is given (``"A/B;C/D"``)."""
    items = [v.strip() for v in re.split(r"[;|]", value) if v.strip()]
    if path_sep is None:
        return items, []
    return [], [path_labels(item, path_sep) for item in items]


def _jsonl_records(
    path: Path, text_column: str, label_column: str | None, path_sep: str | None
) -> Iterator[_Record]:
    text = read_text(path)
    if not text.strip():
        raise HPTInputError("file is empty", path)
    file = str(path)
    text_keys = _TEXT_KEYS if text_column == "text" else (text_column,)
    label_keys = _LABEL_KEYS if label_column is None else (label_column,)
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        obj = parse_json(line, path, lineno)
        if not isinstance(obj, dict):
            raise HPTInputError('expected a JSON object {"text": ..., "labels": [...]}', path, lineno)
        key = next((k for k in text_keys if k in obj), None)
        if key is None:
            raise HPTInputError(f"no text field (expected {' or '.join(map(repr, text_keys))})", path, lineno)
        value = obj[key]
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            value = " ".join(value)  # HPT/HiAGM store token lists
        if not isinstance(value, str):
            raise HPTInputError(f"{key!r} must be a string or a list of tokens", path, lineno)
        key = next((k for k in label_keys if k in obj), None)
        raw = obj.get(key, []) if key is not None else []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise HPTInputError(f"{key!r} must be a list of label names", path, lineno)
        if any(not x.strip() for x in raw):
            raise HPTInputError(f"empty label name in {key!r}", path, lineno)
        raw = [x.strip() for x in raw]
        try:
            names, paths = (raw, []) if path_sep is None else ([], [path_labels(x, path_sep) for x in raw])
        except ValueError as err:
            raise HPTInputError(str(err), path, lineno) from None
        yield _Record(value, names, paths, file, lineno)


def _table_records(
    path: Path,
    delimiter: str,
    text_column: str,
    label_column: str | Sequence[str] | None,
    path_sep: str | None,
) -> Iterator[_Record]:
    text = read_text(path)
    file = str(path)
    rows = csv_records(text, delimiter, path)
    try:
        header_line, _, header = next(rows)
    except StopIteration:
        raise HPTInputError("file is empty", path) from None
    header = [h.strip() for h in header]
    columns = {name: i for i, name in enumerate(header)}

    def column(name: str) -> int:
        if name not in columns:
            raise HPTInputError(
                f"no column {name!r}; the header has {', '.join(map(repr, header))}", path, header_line
            )
        return columns[name]

    text_at = column(text_column)
    levels: list[int] = []
    single: int | None = None
    sep = path_sep
    if isinstance(label_column, str):
        single = column(label_column)
    elif label_column is not None:
        levels = [column(c) for c in label_column]
    else:
        lower = {name.lower(): i for i, name in enumerate(header)}
        numbered = sorted(
            (int(m.group(1)), i) for i, name in enumerate(header) if (m := _LEVEL_COLUMN.match(name))
        )
        if "labels" in lower or "label" in lower:
            single = lower.get("labels", lower.get("label"))
        elif numbered:
            levels = [i for _, i in numbered]
        elif "path" in lower:
            single, sep = lower["path"], path_sep or "/"
        else:
            raise HPTInputError(
                "no label column: name it 'labels', 'level1', 'level2'… or 'path', or pass label_column",
                path,
                header_line,
            )
    def labels_of(row: list[str], lineno: int) -> tuple[list[str], list[list[str]]]:
        names: list[str] = []
        paths: list[list[str]] = []
        if single is not None:
            try:
                names, paths = _split_label_field(row[single], sep)
            except ValueError as err:
                raise HPTInputError(str(err), path, lineno) from None
        else:
            cells = [row[i].strip() for i in levels]
            filled = [c for c in cells if c]
            if filled and cells[: len(filled)] != filled:
                gap = header[levels[cells.index("")]]
                raise HPTInputError(f"column {gap!r} is empty but a deeper level is filled", path, lineno)
            if filled:
                paths = [filled]  # level cells hold the label names themselves
        return names, paths

    def like_a_record(line: int, fields: list[str]) -> tuple[int, list[str], list[list[str]]] | None:
        if len(fields) != len(header) or not fields[text_at].strip():
            return None
        try:
            names, paths = labels_of(fields, line)
        except HPTInputError:
            return None
        return (line, names, paths) if names or paths else None

    lines: list[str] | None = None  # split once, at the first record over several lines
    for lineno, end, row in rows:
        if len(row) != len(header):
            raise HPTInputError(
                f"expected {len(header)} fields as in the header, found {len(row)}", path, lineno
            )
        names, paths = labels_of(row, lineno)
        inner = []
        if end > lineno:
            lines = text.split("\n") if lines is None else lines
            # Which lines of a merge read as records of their own: with the quote opened in the last
            # column, every line after the first (the first holds a whole row, merged or not); else
            # every line but the last (the last closes the quote and ends the record either way).
            opened = next((i for i, cell in enumerate(row) if "\n" in cell), -1)
            first, last = (lineno + 1, end) if opened == len(header) - 1 else (lineno, end - 1)
            inner = [found for line, fields in lines_read_alone(lines, first, last, delimiter)
                     if (found := like_a_record(line, fields)) is not None]
        yield _Record(row[text_at], names, paths, file, lineno, inner)


def _wos_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except FileNotFoundError:
            raise HPTInputError("file not found", path) from None
        except Exception as err:  # openpyxl raises many types for a damaged file
            raise HPTInputError(f"not a readable .xlsx workbook ({type(err).__name__}: {err})", path) from None
        try:
            for n, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
                row = ["" if v is None else str(v) for v in values]
                if any(f.strip() for f in row):
                    yield n, row
        finally:
            book.close()
    else:
        yield from csv_rows(read_text(path), "\t", path)


def _wos_records(path: Path) -> Iterator[_Record]:
    file = str(path)
    rows = _wos_rows(path)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise HPTInputError("file is empty", path) from None
    lower = {h.strip().lower(): i for i, h in enumerate(header)}
    missing = [c for c in _WOS_COLUMNS if c.lower() not in lower]
    if missing:
        raise HPTInputError(
            f"not a WOS Data file: no column {', '.join(map(repr, missing))} "
            "(expected the header Y1, Y2, Y, Domain, area, keywords, Abstract)",
            path,
            header_line,
        )
    domain_at, area_at, text_at = (lower[c.lower()] for c in _WOS_COLUMNS)
    for lineno, row in rows:
        if len(row) < len(header):
            raise HPTInputError(
                f"expected {len(header)} tab-separated fields as in the header, found {len(row)}",
                path,
                lineno,
            )
        domain, area = row[domain_at].strip(), row[area_at].strip()
        if not domain or not area:
            raise HPTInputError("empty Domain or area field", path, lineno)
        yield _Record(row[text_at], [], [[domain, area]], file, lineno)


def _20ng_posts(path: Path) -> Iterator[tuple[str, str, str, str]]:
    """``(split, group, post id, text)`` for every post, sorted by split, group and post number
    (the archive's own order, so archive and extracted folder read the same).

    ``path`` is the ``.tar.gz`` archive, the folder holding ``20news-bydate-train/`` and
    ``20news-bydate-test/``, or one of those two folders.
    """
    found: list[tuple[int, str, int, str, str, Any]] = []

    def add(parts: Sequence[str], load: Any) -> None:
        # parts = ("20news-bydate-train", group, post id); anything else is not a post.
        if len(parts) >= 3 and (m := _20NG_SPLIT.match(parts[-3])):
            split, group, post = m.group(1), parts[-2], parts[-1]
            number = int(post) if post.isdigit() else -1
            found.append((SPLIT_ORDER.index(split), group, number, post, split, load))

    def posts() -> Iterator[tuple[str, str, str, str]]:
        if not found:
            raise HPTInputError(
                "no 20 Newsgroups posts found (expected 20news-bydate-train/<group>/<id> "
                "and 20news-bydate-test/<group>/<id>)",
                path,
            )
        for _, group, _, post, split, load in sorted(found, key=lambda x: x[:4]):
            yield split, group, post, _decode_post(load())

    if path.is_dir():
        split_dirs = [path] if _20NG_SPLIT.match(path.name) else sorted(path.iterdir())
        for split_dir in split_dirs:
            if split_dir.is_dir() and _20NG_SPLIT.match(split_dir.name):
                for f in split_dir.glob("*/*"):
                    if f.is_file():
                        add((split_dir.name, f.parent.name, f.name), f.read_bytes)
        yield from posts()
        return
    if not path.exists():
        raise HPTInputError("file not found", path)
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        # tarfile's message lists every compression it tried, one per line: say it in one.
        raise HPTInputError("not a readable tar archive (.tar, .tar.gz, .tar.bz2 or .tar.xz)", path) from None
    with archive:
        try:
            for member in archive:
                if member.isfile():
                    # Read while streaming: seeking back in a .gz later would re-decompress it.
                    data = archive.extractfile(member).read()  # type: ignore[union-attr]
                    add(Path(member.name).parts, lambda d=data: d)
            yield from posts()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise HPTInputError(f"damaged tar archive ({' '.join(str(err).split())})", path) from None


def _decode_post(raw: bytes) -> str:
    # latin-1 maps every byte, so 20NG posts can never fail to decode.
    return raw.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")


def _20ng_records(path: Path) -> Iterator[tuple[str, _Record]]:
    for split, group, post, text in _20ng_posts(path):
        try:
            chain = path_labels(group, ".")
        except ValueError:
            raise HPTInputError(f"bad newsgroup name {group!r}", path) from None
        yield split, _Record(text, [], [chain], f"{path}:20news-bydate-{split}/{group}/{post}", None)


# --------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """Guess a corpus format from its name and first line: one of :data:`FORMATS`."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        if _20NG_SPLIT.match(p.name) or any(_20NG_SPLIT.match(d.name) for d in p.iterdir() if d.is_dir()):
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
) -> Iterator[_Record]:
    if fmt == "jsonl":
        if label_column is not None and not isinstance(label_column, str):
            raise HPTInputError("for JSON Lines, label_column is one key", path)
        return _jsonl_records(path, text_column, label_column, path_sep)
    if fmt in ("csv", "tsv"):
        return _table_records(path, "," if fmt == "csv" else "\t", text_column, label_column, path_sep)
    if fmt == "wos":
        return _wos_records(path)
    if fmt == "20ng":
        return (rec for _, rec in _20ng_records(path))
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
    docs, skipped = _documents(
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
    _warn_skipped(path, dropped)
    if skipped is not None:
        skipped.extend(dropped)
    return docs


def read_20ng(path: str | Path) -> tuple[LabelHierarchy, dict[str, list[Document]]]:
    """Read the 20 Newsgroups bydate archive (or folder) with its own train/test split.

    The hierarchy is the prefix tree of the group names (``comp`` → ``comp.sys`` → …), the same
    as ``benchmarks/20ng/taxonomy.tsv``; each document's labels are its group's prefix chain.
    """
    p = Path(path)
    by_split: dict[str, list[_Record]] = {}
    for split, rec in _20ng_records(p):
        by_split.setdefault(split, []).append(rec)
    groups = sorted({rec.paths[0][-1] for recs in by_split.values() for rec in recs})
    hierarchy = LabelHierarchy.from_paths(groups, sep=".")
    hierarchy.source = str(p)
    splits = {
        split: _documents(recs, hierarchy, on_unknown="error", require_labels=True)[0]
        for split, recs in by_split.items()
    }
    return hierarchy, splits


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


def _jsonl_text(docs: Iterable[Document]) -> str:
    # ensure_ascii keeps every line pure ASCII, as in the benchmark files: no reader can then
    # split a line on U+2028 or NEL characters found in 20NG posts.
    return "".join(json.dumps({"text": d.text, "labels": list(d.labels)}) + "\n" for d in docs)


def write_jsonl(docs: Iterable[Document], path: str | Path) -> Path:
    """Write documents in the benchmark format ``{"text", "labels"}``, one a line (atomic)."""
    return atomic_write_text(path, _jsonl_text(docs))


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
            for split, rec in _20ng_records(Path(corpus)):
                docs, skip = _documents([rec], hierarchy, on_unknown=on_unknown, require_labels=True)
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
    _warn_skipped(corpus, skipped)
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
