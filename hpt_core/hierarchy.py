"""The label tree: reading, validating and indexing a hierarchy of labels.

A :class:`LabelHierarchy` is built from ``(parent, child)`` edges.  Its root is the one node
without a parent (``Root`` in HiAGM files, any name works).  The order of
:attr:`LabelHierarchy.labels` is the label index every model and metric uses, so it is fixed
by the input alone: breadth first from the root, children in the order they first appear.

Every problem with a user's file is raised as :class:`~hpt_core.errors.HPTInputError` naming the
file, the line and the problem, and nothing is ever written when input is rejected.

Readers: HiAGM ``.taxonomy`` TSV (:meth:`LabelHierarchy.from_tsv`), ``parent,child`` CSV
(:meth:`~LabelHierarchy.from_edge_csv`), one label path a line
(:meth:`~LabelHierarchy.from_paths`), and the library's own JSON
(:meth:`~LabelHierarchy.from_json`); :meth:`~LabelHierarchy.read` picks one. Each format is one
module of ``hpt_core.tree_formats`` (text → edges); this module builds and checks the tree.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from hpt_core.errors import HPTInputError
from hpt_core import tree_formats
from hpt_core.inputs import check_name, content_lines as _content_lines, parse_json, read_text
from hpt_core.tree_formats import ROOT, edge_csv, json_tree, paths, tsv
from hpt_core.tree_formats.json_tree import JSON_FORMAT, JSON_VERSION  # noqa: F401  (re-exported)
from hpt_core.tree_formats.paths import path_labels  # noqa: F401  (re-exported: the corpus formats read paths)

# Last segments that say nothing on their own ("misc" in 20 Newsgroups): display_name
# prefixes them with the parent's segment so label words stay distinguishable.
_GENERIC_NAMES = {"misc", "miscellaneous", "other", "others", "general", "etc", "various"}

# The separators a path-like label name may use, most specific first.
_PATH_SEPARATORS = (" > ", "/", ".")


# --------------------------------------------------------------------------------------------
# File helpers shared with hpt_core.data (kept here so both modules report files the same way)
# --------------------------------------------------------------------------------------------


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` all at once (``durable.write_file``): readers never see a
    half-written file and a failed write leaves the old file untouched."""
    from hpt_core.durable import write_file

    return write_file(path, text)


# --------------------------------------------------------------------------------------------
# The hierarchy
# --------------------------------------------------------------------------------------------


class LabelHierarchy:
    """A validated label tree with a fixed label order (the label index).

    Args:
        edges: ``(parent, child)`` pairs.  The root is the unique node that is never a child.
        descriptions: optional text per label, used instead of the name to initialise the
            label's verbalizer words (:meth:`name_for_init`).
        source: the file the edges came from, named in error messages.
        lines: optional input line number per edge, used only to locate errors.

    Raises:
        HPTInputError: empty label name, a label named like the root, the same edge twice, a
            label under two parents, a cycle, no root or several roots, no labels at all.
    """

    def __init__(
        self,
        edges: Iterable[tuple[str, str]],
        descriptions: dict[str, str] | None = None,
        *,
        source: str | Path | None = None,
        lines: Sequence[int | None] | None = None,
    ):
        self.source = str(source) if source is not None else None
        edge_list = [tuple(e) for e in edges]
        line_of = list(lines) if lines is not None else [None] * len(edge_list)
        if len(line_of) != len(edge_list):
            raise ValueError("lines must give one line number per edge")
        self.graph = _validated_graph(edge_list, line_of, self.source)
        self.root = next(n for n in self.graph if self.graph.in_degree(n) == 0)

        # Breadth first from the root, children in input order: depth-major, and stable for a
        # given file, which is what makes it usable as the label index.
        order: list[str] = []
        depth: dict[str, int] = {self.root: 0}
        queue = deque([self.root])
        while queue:
            node = queue.popleft()
            for child in self.graph.successors(node):  # DiGraph keeps insertion order
                depth[child] = depth[node] + 1
                order.append(child)
                queue.append(child)
        self.labels: list[str] = order
        self.label_to_index: dict[str, int] = {label: i for i, label in enumerate(order)}
        self._depth = depth
        self.depths: list[int] = [depth[label] for label in order]
        self.max_depth: int = max(self.depths)
        self._parent: dict[str, str] = {c: p for p, c in self.graph.edges}
        self.parent_index: list[int] = [
            -1 if self._parent[label] == self.root else self.label_to_index[self._parent[label]]
            for label in order
        ]
        self.descriptions: dict[str, str] = _validated_descriptions(descriptions, self, self.source)
        self._display = _display_names(self)

    # ---- structure ------------------------------------------------------------------------

    def _check(self, label: str) -> None:
        if label != self.root and label not in self.label_to_index:
            raise HPTInputError(f"unknown label {label!r}", self.source)

    def depth(self, label: str) -> int:
        """Depth of ``label``: 1 for the root's children, 0 for the root itself."""
        self._check(label)
        return self._depth[label]

    def labels_at_depth(self, d: int) -> list[str]:
        """Labels of depth ``d`` in label-index order (empty beyond :attr:`max_depth`)."""
        return [label for label, dd in zip(self.labels, self.depths) if dd == d]

    def indices_at_depth(self, d: int) -> list[int]:
        """Label indices of depth ``d``, ascending."""
        return [i for i, dd in enumerate(self.depths) if dd == d]

    def parent(self, label: str) -> str | None:
        """The parent of ``label``; ``None`` when it is the root (or ``label`` is the root)."""
        self._check(label)
        p = self._parent.get(label)
        return None if p is None or p == self.root else p

    def children(self, label: str) -> list[str]:
        """Children of ``label`` (which may be the root), in label-index order."""
        self._check(label)
        return list(self.graph.successors(label))

    def ancestors(self, label: str) -> list[str]:
        """Ancestors of ``label``, nearest first, root excluded."""
        out = []
        p = self.parent(label)
        while p is not None:
            out.append(p)
            p = self.parent(p)
        return out

    def path(self, label: str) -> list[str]:
        """The labels from depth 1 down to ``label`` itself (empty for the root)."""
        if label == self.root:
            return []
        return [*reversed(self.ancestors(label)), label]

    def leaves(self) -> list[str]:
        """Labels without children, in label-index order (leaves may sit at any depth)."""
        return [label for label in self.labels if self.graph.out_degree(label) == 0]

    def is_leaf(self, label: str) -> bool:
        self._check(label)
        return self.graph.out_degree(label) == 0

    def with_ancestors(self, labels: Iterable[str]) -> list[str]:
        """The ancestor closure of ``labels``, root excluded, in label-index order.

        The root itself is accepted and dropped, since data files sometimes list it.
        """
        index: set[int] = set()
        for label in labels:
            if label == self.root:
                continue
            self._check(label)
            i = self.label_to_index[label]
            while i >= 0 and i not in index:
                index.add(i)
                i = self.parent_index[i]
        return [self.labels[i] for i in sorted(index)]

    def multi_hot(self, label_lists: Sequence[Iterable[str]]) -> np.ndarray:
        """``(N, C)`` int8 matrix, row ``n`` marking the labels of document ``n`` and all their
        ancestors (the gold standard in hierarchical classification is ancestor-closed)."""
        out = np.zeros((len(label_lists), len(self.labels)), dtype=np.int8)
        for n, labels in enumerate(label_lists):
            for label in self.with_ancestors(labels):
                out[n, self.label_to_index[label]] = 1
        return out

    # ---- names ----------------------------------------------------------------------------

    def display_name(self, label: str) -> str:
        """A readable name for ``label``, used as label words for the verbalizer.

        Rules, in order (see :func:`_display_names`):

        1. A name that extends its parent's name with a separator (``.``, ``/``, `` > ``) keeps
           only the rest: ``comp.sys.mac.hardware`` → ``hardware``, ``CS/Machine learning`` →
           ``Machine learning``.  A name containing `` > `` keeps its last segment.  Other
           ``/`` and ``.`` are left alone, as they belong to names like ``HIV/AIDS``.
        2. ``_`` and ``-`` become spaces (``ms-windows`` → ``ms windows``).
        3. A generic result (``misc``, ``other``…), a one-character one, or one shared by
           several labels gets the parent's segment in front (``talk.politics.misc`` →
           ``politics misc``, ``comp.sys.mac.hardware`` → ``mac hardware``,
           ``comp.windows.x`` → ``windows x``).  Top-level labels are never prefixed.
        """
        self._check(label)
        return self._display.get(label, label)

    def name_for_init(self, label: str) -> str:
        """The user's description of ``label`` when given, else :meth:`display_name`."""
        self._check(label)
        return self.descriptions.get(label) or self.display_name(label)

    def with_descriptions(self, descriptions: dict[str, str], source: str | Path | None = None) -> "LabelHierarchy":
        """The same tree with these label descriptions added (they initialise label words when asked)."""
        merged = {**self.descriptions, **descriptions}
        return LabelHierarchy(self.edges(), merged, source=source if source is not None else self.source)

    @staticmethod
    def read_descriptions(path: str | Path) -> dict[str, str]:
        """A JSON object ``{label: description}`` from ``path``."""
        data = parse_json(read_text(path), path)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise HPTInputError("descriptions must be a JSON object {label: text}", path)
        return data

    # ---- container protocol ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self.label_to_index

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels)

    def __eq__(self, other: object) -> bool:
        """Same root, same labels in the same order under the same parents, same descriptions."""
        if not isinstance(other, LabelHierarchy):
            return NotImplemented
        return (
            self.root == other.root
            and self.labels == other.labels
            and self.parent_index == other.parent_index
            and self.descriptions == other.descriptions
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: not hashable

    def __repr__(self) -> str:
        return (
            f"LabelHierarchy({len(self.labels)} labels, depth {self.max_depth}, root {self.root!r}"
            + (f", from {self.source!r})" if self.source else ")")
        )

    def edges(self) -> list[tuple[str, str]]:
        """All ``(parent, child)`` edges in label-index order of the child."""
        return [(self._parent[label], label) for label in self.labels]

    # ---- readers --------------------------------------------------------------------------

    @classmethod
    def from_tsv(cls, path: str | Path, *, text: str | None = None) -> LabelHierarchy:
        """Read the HiAGM taxonomy format: ``parent<TAB>child1<TAB>child2…`` per line
        (``hpt_core.tree_formats.tsv``). ``text``: the file's content when already read (a pipe
        can be read only once)."""
        edges, lines = tsv.parse(read_text(path) if text is None else text, path)
        return cls(edges, source=path, lines=lines)

    @classmethod
    def from_edge_csv(cls, path: str | Path, *, text: str | None = None) -> LabelHierarchy:
        """Read ``parent,child`` per line (``hpt_core.tree_formats.edge_csv``); the root is the
        parent that is never a child."""
        edges, lines = edge_csv.parse(read_text(path) if text is None else text, path)
        return cls(edges, source=path, lines=lines)

    @classmethod
    def from_paths(
        cls, path_or_lines: str | Path | Iterable[str], sep: str = "/", *, text: str | None = None
    ) -> LabelHierarchy:
        """Read one label path per line, e.g. ``CS/Machine learning`` (``hpt_core.tree_formats.paths``:
        how names follow from the separator). ``path_or_lines`` is a file path, or an iterable of
        lines (errors then name ``<lines>``)."""
        if isinstance(path_or_lines, (str, Path)):
            source: str | Path = path_or_lines
            numbered = list(_content_lines(read_text(path_or_lines) if text is None else text))
        else:
            source = "<lines>"
            numbered = [(n, line.rstrip("\r\n")) for n, line in enumerate(path_or_lines, start=1) if line.strip()]
        edges, lines = paths.parse(numbered, source, sep)
        return cls(edges, source=source, lines=lines)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str | Path | None = None) -> LabelHierarchy:
        """Build from :meth:`to_dict`'s form (the ``hpt-hierarchy`` JSON format, ``hpt_core.tree_formats.json_tree``)."""
        edges, descriptions, root = json_tree.parse(d, source)
        h = cls(edges, descriptions, source=source)
        if root is not None and root != h.root:
            raise HPTInputError(f"'root' says {root!r} but the edges give root {h.root!r}", source)
        return h

    @classmethod
    def from_json(cls, path: str | Path, *, text: str | None = None) -> LabelHierarchy:
        """Read the library's own JSON format (see :meth:`to_dict`)."""
        text = read_text(path) if text is None else text
        if not text.strip():
            raise HPTInputError("file is empty", path)
        d = parse_json(text, path)
        return cls.from_dict(d, source=path)

    @classmethod
    def read(
        cls, path: str | Path, format: str = "auto", sep: str | None = None
    ) -> LabelHierarchy:
        """Read a taxonomy in any supported format.

        ``format``: ``"auto"``, ``"tsv"`` (HiAGM), ``"csv"`` (edges), ``"paths"`` or ``"json"``.
        ``auto`` goes by extension (``.json``, ``.csv``, ``.tsv``/``.taxonomy``/``.taxnomy``,
        ``.txt``) and, for ``.txt`` or unknown ones, by content: a tab means HiAGM TSV, ``{``
        JSON, otherwise one path per line.  ``sep`` is the path separator for ``paths``; when
        not given it is `` > `` or ``/`` if a line contains one, else ``.``.
        """
        p = Path(path)
        fmt = format.lower()
        if fmt != "auto" and fmt not in tree_formats.FORMATS:
            raise HPTInputError(
                f"unknown taxonomy format {format!r} (expected auto, {', '.join(tree_formats.FORMATS)})", p
            )
        text = read_text(p)  # once: a pipe (<(...)) cannot be read twice
        if fmt == "auto":
            fmt = tree_formats.sniff(p, text)
        if fmt == "tsv":
            return cls.from_tsv(p, text=text)
        if fmt == "csv":
            return cls.from_edge_csv(p, text=text)
        if fmt == "json":
            return cls.from_json(p, text=text)
        if sep is None:
            sep = next((s for s in (" > ", "/") if s in text), ".")
        return cls.from_paths(p, sep=sep, text=text)

    # ---- writers --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The ``hpt-hierarchy`` JSON form: root, edges in label order, descriptions."""
        return json_tree.to_dict(self.root, self.edges(), self.descriptions)

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (atomic)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")

    def to_tsv(self, path: str | Path) -> Path:
        """Write the HiAGM format (one line per label with children, root first); atomic.

        Round-trips with :meth:`from_tsv`, label order included.  Descriptions are not part of
        the format and are not written (use :meth:`to_json` to keep them).
        """
        return atomic_write_text(path, tsv.write(self.root, self.labels, lambda label: list(self.graph.successors(label))))


# --------------------------------------------------------------------------------------------
# Validation and naming (pure helpers)
# --------------------------------------------------------------------------------------------


def _validated_graph(
    edges: list[tuple[Any, ...]], lines: list[int | None], source: str | None
) -> nx.DiGraph:
    """Check the edges one by one (so errors carry their line), then the tree as a whole."""
    graph = nx.DiGraph()
    first_line: dict[tuple[str, str], int | None] = {}
    parent_of: dict[str, tuple[str, int | None]] = {}
    for edge, line in zip(edges, lines):
        if len(edge) != 2 or not all(isinstance(x, str) for x in edge):
            raise HPTInputError(f"an edge must be a (parent, child) pair of strings, got {edge!r}", source, line)
        parent, child = edge
        for name in (parent, child):
            if any(ch in name for ch in "\t\n\r"):
                raise HPTInputError(f"label name {name!r} contains a tab or line break", source, line)
            check_name(name, source, line)
        if child.casefold() == ROOT.casefold():
            raise HPTInputError(
                f"label {child!r} is named like the root; the root cannot be a child", source, line
            )
        if parent == child:
            raise HPTInputError(f"cycle: {child!r} is its own parent", source, line)
        if (parent, child) in first_line:
            where = first_line[(parent, child)]
            raise HPTInputError(
                f"edge {parent!r} -> {child!r} appears twice"
                + (f" (first on line {where})" if where is not None else ""),
                source,
                line,
            )
        if child in parent_of:
            other, where = parent_of[child]
            raise HPTInputError(
                f"label {child!r} has two parents: {parent!r} here and {other!r}"
                + (f" on line {where}" if where is not None else "")
                + "; a hierarchy is a tree",
                source,
                line,
            )
        first_line[(parent, child)] = line
        parent_of[child] = (parent, line)
        graph.add_edge(parent, child)
    if graph.number_of_nodes() == 0:
        raise HPTInputError("the hierarchy is empty: no labels", source)

    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = " -> ".join([repr(u) for u, _ in cycle] + [repr(cycle[0][0])])
        line = first_line.get((cycle[-1][0], cycle[-1][1]))
        raise HPTInputError(f"cycle: {names}", source, line)

    roots = [n for n in graph if graph.in_degree(n) == 0]
    if len(roots) > 1:
        def where(r: str) -> str:
            line = next((first_line[e] for e in first_line if e[0] == r), None)
            return f"{r!r}" + (f" (line {line})" if line is not None else "")

        shown = ", ".join(where(r) for r in roots[:5]) + (", …" if len(roots) > 5 else "")
        # Point at the first line that starts a second tree: usually the one missing a parent.
        second = next((first_line[e] for e in first_line if e[0] == roots[1]), None)
        raise HPTInputError(
            f"more than one root: {shown}; every label except the root needs a parent "
            f"(HiAGM files start with a line '{ROOT}<TAB>top-level labels…')",
            source,
            second,
        )
    root = roots[0]
    if root.casefold() != ROOT.casefold():
        clash = next((n for n in graph if n != root and n.casefold() == root.casefold()), None)
        if clash is not None:
            raise HPTInputError(f"label {clash!r} is named like the root {root!r}", source)
    return graph


def _validated_descriptions(
    descriptions: dict[str, str] | None, h: LabelHierarchy, source: str | None
) -> dict[str, str]:
    out: dict[str, str] = {}
    for label, text in (descriptions or {}).items():
        if label not in h.label_to_index:
            raise HPTInputError(f"description given for unknown label {label!r}", source)
        if not isinstance(text, str):
            raise HPTInputError(f"description of {label!r} must be text", source)
        if any("\ud800" <= ch <= "\udfff" for ch in text):
            raise HPTInputError(f"description of {label!r} contains a lone surrogate, not a character", source)
        if text.strip():
            out[label] = text.strip()
    return out


def _own_segment(label: str, parent: str | None) -> str:
    """The part of ``label`` that its parent's name does not already say (rule 1)."""
    if parent is not None:
        for sep in _PATH_SEPARATORS:
            if label.startswith(parent + sep) and len(label) > len(parent + sep):
                return label[len(parent + sep) :].strip()
    if " > " in label:
        return label.rsplit(" > ", 1)[-1].strip() or label
    return label


def _display_names(h: LabelHierarchy) -> dict[str, str]:
    """Display names for every label: see :meth:`LabelHierarchy.display_name` for the rules."""
    base: dict[str, str] = {}
    for label in h.labels:
        parent = h._parent[label]
        seg = _own_segment(label, None if parent == h.root else parent)
        base[label] = re.sub(r"\s+", " ", seg.replace("_", " ").replace("-", " ")).strip() or label
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    out: dict[str, str] = {}
    for label, name in base.items():
        parent = h._parent[label]
        # Too short ("x" in comp.windows.x), generic or shared: the parent's word disambiguates.
        generic = len(name) < 2 or name.casefold() in _GENERIC_NAMES or counts[name.casefold()] > 1
        out[label] = f"{base[parent]} {name}" if generic and parent != h.root else name
    return out
