"""Taxonomy formats: one module each, every parser turning a file's text into ``(parent, child)``
edges with the line each came from; ``hpt_core.hierarchy.LabelHierarchy`` builds and checks the
tree from them (``LabelHierarchy.read`` picks the format: :func:`sniff`).

* ``tsv``: HiAGM's ``parent<TAB>child1<TAB>child2…`` (``.taxonomy``, ``.tsv``), also written;
* ``edge_csv``: ``parent,child`` a line (``.csv``);
* ``paths``: one label path a line (``CS/Machine learning``, ``comp.sys.mac.hardware``);
* ``json_tree``: the library's own JSON (``hpt-hierarchy``: edges and descriptions), also written.

Adding a format: a module with ``parse``, its name in :data:`FORMATS`, its test in :func:`sniff`,
its call in ``LabelHierarchy.read``.
"""

from __future__ import annotations

from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.inputs import content_lines

#: The root's name in HiAGM files (any name works: the root is the one node without a parent).
ROOT = "Root"
#: ``LabelHierarchy.read``'s ``format`` values (besides ``"auto"``).
FORMATS = ("tsv", "csv", "paths", "json")


def show_node(node: str) -> str:
    """A node as an error message names it."""
    return "the root" if node == ROOT else repr(node)


def sniff(path: Path, text: str) -> str:
    """The format of a taxonomy file: by extension (``.json``, ``.csv``, ``.tsv`` / ``.taxonomy`` /
    ``.taxnomy``), else by content — ``{`` JSON, a tab HiAGM TSV, otherwise one path a line."""
    ext = path.suffix.lower()
    if ext == ".json":
        return "json"
    if ext == ".csv":
        return "csv"
    if ext in (".tsv", ".taxonomy", ".taxnomy"):
        return "tsv"
    if not text.strip():
        raise HPTInputError("file is empty", path)
    if text.lstrip().startswith("{"):
        return "json"
    if "\t" in text:
        return "tsv"
    first_line, first = next(content_lines(text))
    words = first.split()
    if len(words) > 1 and words[0].casefold() == ROOT.casefold() and not any(s in first for s in ("/", ".")):
        # "Root CS Medical": a HiAGM taxonomy whose tabs became spaces, not a label path.
        raise HPTInputError(
            "looks like a HiAGM taxonomy separated by spaces; separate parent and children with tabs",
            path,
            first_line,
        )
    return "paths"
