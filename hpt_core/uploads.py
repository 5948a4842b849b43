"""Uploaded files before they are trusted: the checks every upload passes (type by suffix, size,
emptiness) and the reading of a file of texts — a batch to predict, a pool to label — with every
input column kept and each skipped row named. Nothing here writes a file; datasets are saved by
``hpt_core.workspace``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hpt_core.errors import HPTInputError
from hpt_core.inputs import csv_records

if TYPE_CHECKING:  # imported where a table is built: pandas costs a second at startup
    import pandas as pd

#: Default upper bound of one uploaded file (the 20 Newsgroups archive is 14 MB, WOS Data.xlsx 60 MB).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024

def check_upload(data: bytes, suffix: str | None, allowed: tuple[str, ...], label: str, max_bytes: int) -> str:
    """An uploaded file's suffix (lower case) once its type, emptiness and size are checked."""
    suffix = (suffix or "").lower()
    if suffix not in allowed:
        raise HPTInputError(f"unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(allowed)}", label)
    if not isinstance(data, (bytes, bytearray)):
        raise HPTInputError("expected the file's bytes", label)
    if len(data) == 0:
        raise HPTInputError("file is empty", label)
    if len(data) > max_bytes:
        raise HPTInputError(f"file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB", label)
    return suffix


def upload_suffix(file_name: str, allowed: tuple[str, ...]) -> str:
    """The allowed suffix an uploaded file name ends with (longest match, lower case).

    Only the suffix is taken from a user's file name; it picks the reader, never a path.
    """
    lower = str(file_name).lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix
    raise HPTInputError(f"unsupported file type; expected one of {', '.join(allowed)}")


#: Suffixes of a batch-prediction upload: one text a line, or a table / JSON Lines with a ``text`` field.
TEXTS_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")


@dataclass
class TextsUpload:
    """A batch-prediction upload as read: every input row that has a text, in file order.

    ``table`` holds every input column (``.txt``: one ``text`` column) of those rows, ``lines``
    their line numbers in the file (first line 1; a CSV header is line 1), ``texts`` the texts to
    classify, ``skipped`` one ``(line, reason)`` per row left out (a blank text), and ``spanning``
    the ``(first, last)`` lines of each csv/tsv row whose quoted text runs over several lines — a
    multi-line text, or rows a stray quote merged: the page names them.
    """

    table: "pd.DataFrame"
    lines: list[int]
    texts: list[str]
    skipped: list[tuple[int, str]]
    spanning: list[tuple[int, int]] = field(default_factory=list)


def texts_upload(data: bytes, suffix: str, label: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                 max_texts: int = 10_000) -> TextsUpload:
    """Read a batch-prediction upload in memory (nothing is written), keeping every column and the row order.

    ``.txt``: one text per line (blank lines are skipped and reported); ``.csv``/``.tsv``: a header
    with a ``text`` column (any other columns are kept); ``.jsonl``: one object per line with a
    ``text`` (or ``token``/``doc_token``) field (other fields are kept).
    """
    import pandas as pd

    suffix = check_upload(data, suffix, TEXTS_SUFFIXES, label, max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise HPTInputError(f"not valid UTF-8 text (byte 0x{data[err.start:err.start + 1].hex()}); save the file as UTF-8",
                            label, line) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    rows: list[dict] = []
    lines: list[int] = []
    texts: list[str] = []
    skipped: list[tuple[int, str]] = []
    spanning: list[tuple[int, int]] = []
    columns: list[str] | None = None
    if suffix == ".txt":
        columns = ["text"]
        for lineno, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                rows.append({"text": line.strip()})
                lines.append(lineno)
                texts.append(line.strip())
            elif lineno < len(text.split("\n")) or text and not text.endswith("\n"):
                skipped.append((lineno, "blank line"))
    elif suffix == ".jsonl":
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue  # blank lines separate nothing in JSON Lines
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise HPTInputError(f"invalid JSON: {err.msg} (column {err.colno})", label, lineno) from None
            if not isinstance(obj, dict):
                raise HPTInputError('expected an object with a "text" string', label, lineno)
            key = next((k for k in ("text", "token", "doc_token") if k in obj), None)
            value = obj.get(key) if key else None
            if isinstance(value, list) and all(isinstance(t, str) for t in value):
                value = " ".join(value)
            if not isinstance(value, str) or not value.strip():
                skipped.append((lineno, 'no "text" string' if key is None else "blank text"))
                continue
            rows.append({k: (v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v))
                         for k, v in obj.items()})
            lines.append(lineno)
            texts.append(value)
    else:
        records = csv_records(text, "," if suffix == ".csv" else "\t", label, keep_blank=True)
        _, _, header = next(records, (1, 1, None))
        if header is None:
            raise HPTInputError("file is empty", label)
        lowered = [h.strip().lower() for h in header]
        if "text" not in lowered:
            raise HPTInputError(f"no 'text' column; the header has {', '.join(map(repr, header))}", label, 1)
        at = lowered.index("text")
        columns = [h.strip() or f"column {i + 1}" for i, h in enumerate(header)]
        for lineno, end, row in records:
            if not row or not any(cell.strip() for cell in row):
                skipped.append((lineno, "blank line"))
                continue
            if at >= len(row) or not row[at].strip():
                skipped.append((lineno, "blank text"))
                continue
            rows.append(dict(zip(columns, row + [""] * (len(columns) - len(row)))))
            lines.append(lineno)
            texts.append(row[at])
            if "\n" in row[at]:
                spanning.append((lineno, end))
    if not texts:
        raise HPTInputError("no texts found", label)
    if len(texts) > max_texts:
        raise HPTInputError(f"{len(texts)} texts; at most {max_texts} per batch", label)
    # object columns: a JSON id stays 5, not 5.0 beside a row without it
    table = pd.DataFrame(rows, columns=columns, dtype=object) if columns else pd.DataFrame(rows, dtype=object)
    return TextsUpload(table, lines, texts, skipped, spanning)


def texts_from_upload(data: bytes, suffix: str, label: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                      max_texts: int = 10_000) -> list[str]:
    """The texts of a batch-prediction upload (:func:`texts_upload` without the other columns)."""
    return texts_upload(data, suffix, label, max_bytes, max_texts).texts


def predictions_beside_inputs(upload: TextsUpload, predictions) -> "pd.DataFrame":
    """The upload's rows, every input column in its place, then the line number and the predictions.

    ``predictions`` is ``Predictor.predict_table(upload.texts)``; its columns are prefixed
    ``predicted `` (scores keep their ``score:`` names) so they never overwrite an input column.
    """
    out = upload.table.reset_index(drop=True).copy()
    out.insert(0, "line", upload.lines)
    for column in predictions.columns:
        if column == "text":
            continue
        name = column if column.startswith("score:") else f"predicted {column}"
        while name in out.columns:
            name = f"{name}_"
        out[name] = list(predictions[column])
    return out
