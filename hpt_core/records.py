"""Documents as a format reader yields them (:class:`Record`), and their labels checked against a
label tree: names or paths looked up (loosely for WOS's padded names), ancestors filled in, a bad
label an error naming the file and line — or, with ``on_unknown="skip"``, the document dropped
with one warning. Every format (``hpt_core.formats``) goes through here, so a label means the same
whatever file it came from."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hpt_core.documents import Document
from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import ROOT, LabelHierarchy
from hpt_core.inputs import check_text


@dataclass
class Record:
    """A document as read, before its labels are checked against a hierarchy."""

    text: str
    names: list[str]  # label names given as a set
    paths: list[list[str]]  # label paths, top first, whose chain must match the tree
    file: str
    line: int | None
    # csv/tsv records across lines: each inner line that reads as a whole record of its own, as
    # (line, names, paths) — if its labels are real, a stray quote merged rows (see documents_of)
    lines_like_records: list[tuple[int, list[str], list[list[str]]]] = field(default_factory=list)


class LabelProblem(Exception):
    """A label outside the tree (or a path against it): an error, or a reason to skip."""


def lookup_label(name: str, hierarchy: LabelHierarchy, loose: dict[str, str] | None) -> str:
    if name in hierarchy or name == hierarchy.root:
        return name
    if loose is not None:
        # WOS pads and varies case in its label fields: match on the normalised spelling.
        found = loose.get(loose_key(name))
        if found is not None:
            return found
    raise LabelProblem(f"label {name!r} is not in the taxonomy")


def loose_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def loose_index(hierarchy: LabelHierarchy) -> dict[str, str]:
    """Normalised spelling → label, for spellings that identify one label only."""
    index: dict[str, str] = {}
    clashes: set[str] = set()
    for label in hierarchy.labels:
        key = loose_key(label)
        if key in index:
            clashes.add(key)
        index[key] = label
    return {k: v for k, v in index.items() if k not in clashes}


def check_labels(
    rec: Record, hierarchy: LabelHierarchy | None, loose: dict[str, str] | None
) -> list[str]:
    """The document's final labels; raises :class:`LabelProblem` when they do not fit the tree."""
    if hierarchy is None:
        seen: dict[str, None] = {}
        for name in [*rec.names, *(n for p in rec.paths for n in p)]:
            if name != ROOT:
                seen[name] = None
        return list(seen)
    names = [lookup_label(n, hierarchy, loose) for n in rec.names]
    for raw_path in rec.paths:
        try:
            path = [lookup_label(n, hierarchy, loose) for n in raw_path if n != hierarchy.root]
        except LabelProblem as problem:
            if len(raw_path) < 2:
                raise
            raise LabelProblem(f"{problem} (path {' > '.join(raw_path)!r})") from None
        expected_parent: str | None = None
        for name in path:
            actual = hierarchy.parent(name)
            if actual != expected_parent:
                where = "at the top" if actual is None else f"under {actual!r}"
                wanted = "at the top" if expected_parent is None else f"under {expected_parent!r}"
                raise LabelProblem(
                    f"path {' > '.join(raw_path)!r} does not match the taxonomy: "
                    f"{name!r} is {where} there, not {wanted}"
                )
            expected_parent = name
        names.extend(path)
    return hierarchy.with_ancestors(names)


def documents_of(
    records: Iterable[Record],
    hierarchy: LabelHierarchy | None,
    *,
    on_unknown: str,
    require_labels: bool,
    loose: bool = False,
) -> tuple[list[Document], list[HPTInputError]]:
    """Check records into documents; returns the documents and the skipped problems."""
    if on_unknown not in ("error", "skip"):
        raise HPTInputError(f"on_unknown must be 'error' or 'skip', not {on_unknown!r}")
    by_loose_key = loose_index(hierarchy) if (loose and hierarchy is not None) else None
    docs: list[Document] = []
    skipped: list[HPTInputError] = []
    if hierarchy is None:  # labels are real when other records have them: read every record first
        records = list(records)
    is_real = real_labels(records, hierarchy, by_loose_key)
    for rec in records:
        for line, names, paths in rec.lines_like_records:
            if is_real(names, paths):
                labels = ", ".join(repr(n) for n in [*names, *(" > ".join(p) for p in paths)])
                what = (f"this line reads as a document of its own (labels {labels}) but a quote opened in it "
                        f"runs on into the next line" if line == rec.line else
                        f"a quoted field opens here and runs on over line {line}, which reads as a document of "
                        f"its own (labels {labels})")
                raise HPTInputError(f"{what}: a stray quote (\") probably merged rows; remove it, or double it "
                                    f"(\"\") inside a quoted text", rec.file, rec.line)
        check_text(rec.text, rec.file, rec.line)
        if require_labels and not rec.names and not rec.paths:
            raise HPTInputError("document has no labels", rec.file, rec.line)
        try:
            labels = check_labels(rec, hierarchy, by_loose_key)
        except LabelProblem as problem:
            err = HPTInputError(str(problem), rec.file, rec.line)
            if on_unknown == "error":
                raise err from None
            skipped.append(err)
            continue
        if require_labels and not labels:
            # Ancestors are implied and the root is dropped: a root-only document has no label.
            raise HPTInputError("document's only label is the root; give a label below it", rec.file, rec.line)
        docs.append(Document(rec.text, labels))
    return docs, skipped


def real_labels(records: Iterable[Record], hierarchy: LabelHierarchy | None, loose: dict[str, str] | None):
    """Whether labels (names, paths) read off a line inside a multi-line csv record are real: they
    fit the tree, or, with no tree, every name labels some record of the file. A line of an
    abstract that happens to hold the right number of commas rarely ends in real labels."""
    if hierarchy is not None:
        def fits(names: list[str], paths: list[list[str]]) -> bool:
            try:
                check_labels(Record("", names, paths, "", None), hierarchy, loose)
            except LabelProblem:
                return False
            return True
        return fits
    seen = {n for rec in records for n in [*rec.names, *(n for p in rec.paths for n in p)]}
    return lambda names, paths: all(n in seen for n in [*names, *(n for p in paths for n in p)])


def warn_skipped(path: str | Path, skipped: list[HPTInputError]) -> None:
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} document(s) whose labels do not fit the taxonomy "
            f"(first: {skipped[0]})",
            stacklevel=3,
        )
