"""The strict input layer: every reader of a user's file or option goes through these checks.

Each function turns one way input can be wrong into an :class:`~hpt_core.errors.HPTInputError`
naming the file, the line and the problem, so that a format reader cannot forget a check:

* :func:`read_text` — a file (or a pipe such as ``<(...)``, read once) decoded strictly;
* :func:`parse_json` — JSON with its line, depth and lone-surrogate escapes checked;
* :func:`csv_rows` — csv records with the line each starts on, any field size, and an
  unterminated quote reported instead of silently merging the rest of the file into one field
  (:func:`csv_records` and :func:`lines_read_alone` let a reader find rows merged by a stray quote
  that a later quote closed);
* :func:`check_name` / :func:`check_text` — label names and texts a tokenizer can use;
* :func:`require_file` / :func:`check_output_path` — paths where a file is read or a folder written.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpt_core.errors import HPTInputError

# Unicode categories that draw nothing: controls, format characters (zero-width space, joiners,
# BOM), separators, unassigned and private-use code points, lone surrogates.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def require_file(path: str | Path) -> Path:
    """``path`` as a ``Path`` when it can be read as a file (a regular file or a pipe)."""
    p = Path(path)
    if not str(path):
        raise HPTInputError("empty file name")
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as err:  # a name too long for the file system, a loop of links …
        raise HPTInputError(f"cannot use this path ({err.strerror or err})", p) from None
    if is_dir:
        raise HPTInputError("is a folder, expected a file", p)
    if not exists:
        raise HPTInputError("file not found", p)
    return p


def read_bytes(path: str | Path) -> bytes:
    """All bytes of ``path``, read once (so a pipe works), with every failure as an input error."""
    p = require_file(path)
    try:
        return p.read_bytes()
    except OSError as err:
        raise HPTInputError(f"cannot read file ({err.strerror or err})", p) from None


def decode_text(raw: bytes, source: str | Path | None, encoding: str = "utf-8") -> str:
    """``raw`` decoded strictly; a UTF-8 BOM dropped; ``\\r\\n`` and ``\\r`` become ``\\n``."""
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        byte = raw[err.start : err.start + 1].hex()
        raise HPTInputError(
            f"not valid {encoding} text (byte 0x{byte} at column {column}); save the file as {encoding}",
            source,
            line,
        ) from None
    except LookupError:
        raise HPTInputError(f"unknown text encoding {encoding!r}", source) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole text file once, turning every way it can fail into an :class:`HPTInputError`.

    A UTF-8 byte-order mark is dropped (spreadsheet exports add one) and ``\\r\\n`` / ``\\r``
    become ``\\n``.  Bytes that are not valid in ``encoding`` are reported with their line,
    instead of escaping as a ``UnicodeDecodeError`` the user cannot place.
    """
    return decode_text(read_bytes(path), Path(path), encoding)


def parse_json(text: str, source: str | Path | None, line: int | None = None) -> Any:
    """``json.loads(text)`` with every failure as an input error at ``line`` (or the error's line).

    Rejected beyond what ``json`` rejects: nesting deep enough to exhaust Python's recursion,
    and ``\\udXXX`` escapes that leave a lone surrogate (not a character: tokenizers crash on it).
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        where = line if line is not None else err.lineno
        raise HPTInputError(f"invalid JSON: {err.msg} (column {err.colno})", source, where) from None
    except RecursionError:
        raise HPTInputError("invalid JSON: nested too deeply", source, line) from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise HPTInputError(
                "invalid JSON: a \\ud800-\\udfff escape without its pair (a lone surrogate, not a character)",
                source,
                line,
            ) from None
        except RecursionError:
            raise HPTInputError("invalid JSON: nested too deeply", source, line) from None
    return value


def content_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers (split on ``\\n`` only, never on other
    Unicode line breaks that ``str.splitlines`` would honour)."""
    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield n, line


def csv_rows(text: str, delimiter: str, source: str | Path | None) -> Iterator[tuple[int, list[str]]]:
    """Non-blank csv records with the line each starts on (quoted fields may span lines).

    Fields may be of any size (abstracts are long).  A quote that opens a field and never closes
    is an error at the line where it opened: the csv module would otherwise read the rest of the
    file as that one field.
    """
    for start, _, row in csv_records(text, delimiter, source):
        yield start, row


def csv_records(text: str, delimiter: str, source: str | Path | None,
                keep_blank: bool = False) -> Iterator[tuple[int, int, list[str]]]:
    """:func:`csv_rows` with the line each record ends on too: ``(start, end, fields)``. A record
    with ``end > start`` has a quoted field across lines — a multi-line abstract, or rows merged by
    a stray quote that a later quote closed (:func:`lines_read_alone` helps the caller tell).
    ``keep_blank``: blank records too (for a caller that reports them)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, min(sys.maxsize, 2**31 - 1)))
    start = 1
    last_line = text.rstrip("\n").count("\n") + 1
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        for row in reader:
            lineno, start = start, reader.line_num + 1
            if keep_blank or (row and any(f.strip() for f in row)):
                # Only the last record can have run into the end of the text inside a quote.
                if lineno < reader.line_num >= last_line and _unterminated(text, lineno, delimiter):
                    raise HPTInputError("a quoted field opens here and is never closed (unterminated \")", source, lineno)
                yield lineno, reader.line_num, row
    except csv.Error as err:
        raise HPTInputError(f"malformed line ({err})", source, start) from None
    finally:
        csv.field_size_limit(limit)


def lines_read_alone(lines: list[str], first: int, last: int, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Lines ``first`` … ``last`` (1-based, inclusive) of a text split into ``lines``, each split
    into fields as if it were a record of its own, with its quote characters dropped: ``(line, fields)``."""
    for lineno in range(first, last + 1):
        fields = next(csv.reader([lines[lineno - 1].replace('"', "").rstrip("\r")], delimiter=delimiter), [])
        yield lineno, fields


def _unterminated(text: str, lineno: int, delimiter: str) -> bool:
    """Whether the record starting on ``lineno`` runs to the end of the text inside a quote."""
    rest = "\n".join(text.split("\n")[lineno - 1 :])
    try:
        for _ in csv.reader(io.StringIO(rest), delimiter=delimiter, strict=True):
            return False  # the record closed before the end of the text
    except csv.Error as err:
        return "unexpected end of data" in str(err)
    return False


def is_visible(name: str) -> bool:
    """Whether ``name`` has at least one character that draws something."""
    return any(unicodedata.category(ch) not in _INVISIBLE for ch in name)


def check_name(name: str, source: str | Path | None, line: int | None = None, what: str = "label name") -> str:
    """Reject a label name that is empty, invisible, or holds control characters or lone surrogates."""
    if not name.strip():
        raise HPTInputError(f"empty {what}", source, line)
    bad = next((ch for ch in name if unicodedata.category(ch) in ("Cc", "Cs")), None)
    if bad is not None:
        kind = "a lone surrogate" if unicodedata.category(bad) == "Cs" else "a control character"
        raise HPTInputError(f"{what} {name!r} contains {kind} (U+{ord(bad):04X})", source, line)
    if not is_visible(name):
        raise HPTInputError(f"{what} {name!r} is invisible (only blank or zero-width characters)", source, line)
    return name


def check_text(text: str, source: str | Path | None, line: int | None = None) -> str:
    """Reject a text with nothing to read (empty or invisible) or with lone surrogates."""
    bad = next((ch for ch in text if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        raise HPTInputError(f"text contains a lone surrogate (U+{ord(bad):04X}), not a character", source, line)
    if not is_visible(text):
        raise HPTInputError("empty text" if not text.strip() else "text is invisible (only zero-width characters)", source, line)
    return text


def check_output_path(path: str | Path, what: str = "output folder") -> Path:
    """``path`` as a ``Path`` when a folder can be created there: it is not a file and no part
    of it is a file."""
    p = Path(path)
    if not str(path):
        raise HPTInputError(f"empty {what} name")
    for part in [p, *p.parents]:
        try:
            if part.exists() and not part.is_dir():
                problem = "is a file" if part == p else f"lies inside {part}, which is a file"
                raise HPTInputError(f"{problem}, expected a folder ({what})", p)
        except OSError as err:
            raise HPTInputError(f"cannot use this path ({err.strerror or err})", p) from None
    return p
