"""CSV and TSV corpora: a header row, a text column, and one labels column (several labels
separated by ``;`` or ``|``), several level columns (``level1``, ``level2``…) or a ``path`` column."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import path_labels, read_text
from hpt_core.inputs import csv_records, lines_read_alone
from hpt_core.records import Record

#: Level columns: level1, level_2, lvl3, l4, label1, depth2 …
LEVEL_COLUMN = re.compile(r"^(?:level|lvl|l|label|depth)[ _-]?(\d+)$", re.IGNORECASE)


def split_label_field(value: str, path_sep: str | None) -> tuple[list[str], list[list[str]]]:
    """``"a;b|c"`` → names, or paths when ``path_sep`` is given (``"A/B;C/D"``)."""
    items = [v.strip() for v in re.split(r"[;|]", value) if v.strip()]
    if path_sep is None:
        return items, []
    return [], [path_labels(item, path_sep) for item in items]



def table_records(
    path: Path,
    delimiter: str,
    text_column: str,
    label_column: str | Sequence[str] | None,
    path_sep: str | None,
) -> Iterator[Record]:
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
            (int(m.group(1)), i) for i, name in enumerate(header) if (m := LEVEL_COLUMN.match(name))
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
                names, paths = split_label_field(row[single], sep)
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
        yield Record(row[text_at], names, paths, file, lineno, inner)
