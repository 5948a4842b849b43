"""One label path a line: ``CS/Machine learning``, ``Books > Fiction``, ``comp.sys.mac.hardware``.

Label names depend on the separator, so that names stay unambiguous:

* ``sep="."`` (dotted names, as in 20 Newsgroups): the label is the full prefix, so
  ``comp.sys.mac.hardware`` gives ``comp``, ``comp.sys``, ``comp.sys.mac`` and
  ``comp.sys.mac.hardware``;
* any other separator: the label is the segment (``CS/Machine learning`` gives ``CS`` and
  ``Machine learning``); a segment appearing under two different parents is rejected, since it
  would be one label with two parents.

Segments are stripped of spaces; blank lines are ignored; repeated paths and paths that are
prefixes of others are fine. The root is implicit and must not appear.
"""

from __future__ import annotations

from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.tree_formats import ROOT, show_node


def path_labels(path: str, sep: str) -> list[str]:
    """The label names along one label path, top first (the rule above).

    ``sep="."`` gives full prefixes (``a.b.c`` → ``a``, ``a.b``, ``a.b.c``); any other separator
    gives the stripped segments.  Raises ``ValueError`` on an empty segment.
    """
    segments = [s.strip() for s in path.strip().split(sep)]
    if any(not s for s in segments):
        raise ValueError(f"empty label name in path {path.strip()!r}")
    if sep == ".":
        return [".".join(segments[: k + 1]) for k in range(len(segments))]
    return segments


def parse(numbered: list[tuple[int, str]], source: str | Path | None,
          sep: str = "/") -> tuple[list[tuple[str, str]], list[int]]:
    """The edges (parent, child) of the paths on ``numbered`` lines ``(line number, text)``, and the
    line each edge was first seen on; errors name their line."""
    if not sep:
        raise HPTInputError("path separator must not be empty", source)
    edges: list[tuple[str, str]] = []
    lines: list[int] = []
    parent_of: dict[str, tuple[str, int]] = {}
    for lineno, line in numbered:
        try:
            names = path_labels(line, sep)
        except ValueError as err:
            raise HPTInputError(str(err), source, lineno) from None
        parent = ROOT
        for name in names:
            if name.casefold() == ROOT.casefold():
                raise HPTInputError(f"label {name!r} is named like the root; leave the root out of paths",
                                    source, lineno)
            known = parent_of.get(name)
            if known is None:
                parent_of[name] = (parent, lineno)
                edges.append((parent, name))
                lines.append(lineno)
            elif known[0] != parent:
                raise HPTInputError(
                    f"label {name!r} appears under {show_node(parent)} here and under "
                    f"{show_node(known[0])} on line {known[1]}; a label has one parent "
                    "(rename one, or use dotted names with sep='.')",
                    source,
                    lineno,
                )
            parent = name
    if not edges:
        raise HPTInputError("file is empty: no label paths", source)
    return edges, lines
