"""Small helpers shared by the test modules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

#: The real corpora beside the project (../shared/data); tests that need them skip when absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(rel: str) -> Path:
    """A path of the shared data folder, or skip the test when it is absent."""
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """Write ``text`` (UTF-8) or raw bytes to ``tmp_path/name``."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def big_taxonomy(path: Path, labels: int = 5000, depth: int = 4, top: int = 10) -> Path:
    """Write a generated taxonomy (HiAGM TSV) of exactly ``labels`` labels and ``depth`` levels.

    Each level has about eight times as many labels as the one above (10, 80, 640, then the rest);
    children are dealt round-robin to the labels of the level above, names spell their path
    (``t3.1.4``).
    """
    sizes = [top * 8 ** d for d in range(depth - 1)]
    sizes.append(labels - sum(sizes))
    if sizes[-1] < sizes[-2]:
        raise ValueError("too few labels for this depth")
    children: dict[str, list[str]] = {"Root": [f"t{i + 1}" for i in range(sizes[0])]}
    level = children["Root"]
    for size in sizes[1:]:
        nxt = []
        for i in range(size):
            parent = level[i % len(level)]
            kids = children.setdefault(parent, [])
            kids.append(f"{parent}.{len(kids) + 1}")
            nxt.append(kids[-1])
        level = nxt
    path.write_text("".join("\t".join([p, *cs]) + "\n" for p, cs in children.items()), encoding="utf-8")
    return path


def wait_for(condition, timeout: float = 20.0, poll: float = 0.05) -> bool:
    """Whether ``condition()`` became true within ``timeout`` seconds (checked every ``poll``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False
