"""``parent,child`` a line (CSV quoting allowed), an optional header ``parent,child``."""

from __future__ import annotations

from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.inputs import csv_rows


def parse(text: str, source: str | Path | None) -> tuple[list[tuple[str, str]], list[int]]:
    """The edges (parent, child) and the line each record starts on (a quoted field may span
    lines). A record of other than two fields is an error at its line."""
    edges: list[tuple[str, str]] = []
    lines: list[int] = []
    first_row = True
    for lineno, row in csv_rows(text, ",", source):
        if len(row) != 2:
            raise HPTInputError(f"expected 2 fields 'parent,child', found {len(row)}", source, lineno)
        parent, child = (f.strip() for f in row)
        is_header = first_row and (parent.lower(), child.lower()) == ("parent", "child")
        first_row = False
        if is_header:
            continue
        edges.append((parent, child))
        lines.append(lineno)
    if not edges:
        raise HPTInputError("file is empty: no 'parent,child' lines", source)
    return edges, lines
