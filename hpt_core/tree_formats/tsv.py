"""HiAGM's taxonomy format: ``parent<TAB>child1<TAB>child2…`` a line, the first usually ``Root``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.inputs import content_lines


def parse(text: str, source: str | Path | None) -> tuple[list[tuple[str, str]], list[int]]:
    """The edges (parent, child) and the line of each. Blank lines are ignored, fields are stripped
    of surrounding spaces; a line without children, an empty name or a child listed twice under one
    parent is an error at its line."""
    edges: list[tuple[str, str]] = []
    lines: list[int] = []
    for lineno, line in content_lines(text):
        fields = [f.strip() for f in line.split("\t")]
        parent, children = fields[0], fields[1:]
        if not parent:
            raise HPTInputError("empty parent name at the start of the line", source, lineno)
        if not children:
            raise HPTInputError(
                f"{parent!r} has no children: expected parent<TAB>child1<TAB>child2…"
                + (" (fields must be separated by tabs, not spaces)" if " " in line.strip() else ""),
                source,
                lineno,
            )
        seen: set[str] = set()
        for column, child in enumerate(children, start=2):
            if not child:
                raise HPTInputError(f"empty label name in field {column}", source, lineno)
            if child in seen:
                raise HPTInputError(f"child {child!r} listed twice under {parent!r}", source, lineno)
            seen.add(child)
            edges.append((parent, child))
            lines.append(lineno)
    if not edges:
        raise HPTInputError("file is empty: no taxonomy lines", source)
    return edges, lines


def write(root: str, labels: list[str], children: Callable[[str], list[str]]) -> str:
    """The file's text: one line per node with children, the root first, then in label order (so it
    reads back with the same label order). Descriptions are not part of the format."""
    rows = []
    for parent in [root, *labels]:
        below = children(parent)
        if below:
            rows.append("\t".join([parent, *below]))
    return "\n".join(rows) + "\n"
