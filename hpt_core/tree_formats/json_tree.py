"""The library's own JSON format (``hpt-hierarchy``): the root, the edges in label order and the
labels' descriptions — what ``model/hierarchy.json`` and dataset folders keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpt_core.errors import HPTInputError

JSON_FORMAT = "hpt-hierarchy"
JSON_VERSION = 1


def parse(d: Any, source: str | Path | None) -> tuple[list[tuple[str, str]], dict[str, str], str | None]:
    """``(edges, descriptions, root or None)`` of a parsed ``hpt-hierarchy`` object, every field checked."""
    if not isinstance(d, dict):
        raise HPTInputError("expected a JSON object with format 'hpt-hierarchy'", source)
    if d.get("format") != JSON_FORMAT:
        raise HPTInputError(
            f"not an hpt-hierarchy file: 'format' is {d.get('format')!r}, expected {JSON_FORMAT!r}", source)
    if d.get("version") != JSON_VERSION:
        raise HPTInputError(
            f"unsupported hpt-hierarchy version {d.get('version')!r} (this library reads {JSON_VERSION})", source)
    raw_edges = d.get("edges")
    if not isinstance(raw_edges, list) or not raw_edges:
        raise HPTInputError("'edges' must be a non-empty list of [parent, child] pairs", source)
    edges: list[tuple[str, str]] = []
    for k, e in enumerate(raw_edges):
        if not (isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e)):
            raise HPTInputError(f"edges[{k}] must be a [parent, child] pair of strings", source)
        edges.append((e[0].strip(), e[1].strip()))
    descriptions = d.get("descriptions") or {}
    if not isinstance(descriptions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in descriptions.items()
    ):
        raise HPTInputError("'descriptions' must map label names to strings", source)
    return edges, descriptions, d.get("root")


def to_dict(root: str, edges: list[tuple[str, str]], descriptions: dict[str, str]) -> dict[str, Any]:
    """The ``hpt-hierarchy`` object of a tree: root, edges in label order, descriptions."""
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "root": root,
            "edges": [[p, c] for p, c in edges], "descriptions": dict(descriptions)}
