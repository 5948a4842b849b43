"""The 20 Newsgroups corpus as published: the ``20news-bydate.tar.gz`` archive or its extracted
folder, its own train/test split, labels = the prefix chain of the group name."""

from __future__ import annotations

import re
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hpt_core.documents import SPLIT_ORDER, Document
from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import LabelHierarchy, path_labels
from hpt_core.records import Record, documents_of

SPLIT_FOLDER = re.compile(r"^20news-bydate-(train|test)$")


def newsgroup_posts(path: Path) -> Iterator[tuple[str, str, str, str]]:
    """``(split, group, post id, text)`` for every post, sorted by split, group and post number
    (the archive's own order, so archive and extracted folder read the same).

    ``path`` is the ``.tar.gz`` archive, the folder holding ``20news-bydate-train/`` and
    ``20news-bydate-test/``, or one of those two folders.
    """
    found: list[tuple[int, str, int, str, str, Any]] = []

    def add(parts: Sequence[str], load: Any) -> None:
        # parts = ("20news-bydate-train", group, post id); anything else is not a post.
        if len(parts) >= 3 and (m := SPLIT_FOLDER.match(parts[-3])):
            split, group, post = m.group(1), parts[-2], parts[-1]
            number = int(post) if post.isdigit() else -1
            found.append((SPLIT_ORDER.index(split), group, number, post, split, load))

    def posts() -> Iterator[tuple[str, str, str, str]]:
        if not found:
            raise HPTInputError(
                "no 20 Newsgroups posts found (expected 20news-bydate-train/<group>/<id> "
                "and 20news-bydate-test/<group>/<id>)",
                path,
            )
        for _, group, _, post, split, load in sorted(found, key=lambda x: x[:4]):
            yield split, group, post, decode_post(load())

    if path.is_dir():
        split_dirs = [path] if SPLIT_FOLDER.match(path.name) else sorted(path.iterdir())
        for split_dir in split_dirs:
            if split_dir.is_dir() and SPLIT_FOLDER.match(split_dir.name):
                for f in split_dir.glob("*/*"):
                    if f.is_file():
                        add((split_dir.name, f.parent.name, f.name), f.read_bytes)
        yield from posts()
        return
    if not path.exists():
        raise HPTInputError("file not found", path)
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        # tarfile's message lists every compression it tried, one per line: say it in one.
        raise HPTInputError("not a readable tar archive (.tar, .tar.gz, .tar.bz2 or .tar.xz)", path) from None
    with archive:
        try:
            for member in archive:
                if member.isfile():
                    # Read while streaming: seeking back in a .gz later would re-decompress it.
                    data = archive.extractfile(member).read()  # type: ignore[union-attr]
                    add(Path(member.name).parts, lambda d=data: d)
            yield from posts()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise HPTInputError(f"damaged tar archive ({' '.join(str(err).split())})", path) from None


def decode_post(raw: bytes) -> str:
    # latin-1 maps every byte, so 20NG posts can never fail to decode.
    return raw.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")


def newsgroup_records(path: Path) -> Iterator[tuple[str, Record]]:
    for split, group, post, text in newsgroup_posts(path):
        try:
            chain = path_labels(group, ".")
        except ValueError:
            raise HPTInputError(f"bad newsgroup name {group!r}", path) from None
        yield split, Record(text, [], [chain], f"{path}:20news-bydate-{split}/{group}/{post}", None)



def read_20ng(path: str | Path) -> tuple[LabelHierarchy, dict[str, list[Document]]]:
    """Read the 20 Newsgroups bydate archive (or folder) with its own train/test split.

    The hierarchy is the prefix tree of the group names (``comp`` → ``comp.sys`` → …), the same
    as ``benchmarks/20ng/taxonomy.tsv``; each document's labels are its group's prefix chain.
    """
    p = Path(path)
    by_split: dict[str, list[Record]] = {}
    for split, rec in newsgroup_records(p):
        by_split.setdefault(split, []).append(rec)
    groups = sorted({rec.paths[0][-1] for recs in by_split.values() for rec in recs})
    hierarchy = LabelHierarchy.from_paths(groups, sep=".")
    hierarchy.source = str(p)
    splits = {
        split: documents_of(recs, hierarchy, on_unknown="error", require_labels=True)[0]
        for split, recs in by_split.items()
    }
    return hierarchy, splits
