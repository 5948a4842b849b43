"""JSON Lines corpora: ``{"text": str, "labels": [names]}`` a line, also the HPT/HiAGM spellings
``{"token": ..., "label": [...]}`` and ``{"doc_token": ..., "doc_label": [...]}``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import path_labels, read_text
from hpt_core.inputs import parse_json
from hpt_core.records import Record

#: Keys accepted, in order of preference (ours, HPT's, HiAGM's).
TEXT_KEYS = ("text", "token", "doc_token")
LABEL_KEYS = ("labels", "label", "doc_label")


def jsonl_records(
    path: Path, text_column: str, label_column: str | None, path_sep: str | None
) -> Iterator[Record]:
    text = read_text(path)
    if not text.strip():
        raise HPTInputError("file is empty", path)
    file = str(path)
    text_keys = TEXT_KEYS if text_column == "text" else (text_column,)
    label_keys = LABEL_KEYS if label_column is None else (label_column,)
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
        yield Record(value, names, paths, file, lineno)
