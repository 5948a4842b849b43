"""Durable folder writes: a model or checkpoint folder is replaced whole, or not at all.

SQLite's and Git's commit discipline applied to a folder: every file is written into a staging
sibling, the files and the sibling are fsynced, the sibling is renamed into place, the parent is
fsynced, and only then is the previous copy deleted. POSIX cannot rename a folder over a non-empty
one, so the swap takes two renames; between them the previous copy waits as ``.<name>.old``, and
:func:`recover` renames it back when a crash struck there (and removes the half-written staging
folders a crash leaves).

A save holds an ``flock`` on the parent folder from its first write to its last rename, and
:func:`recover` works under the same lock, so a reader in another process (the app loading a run's
model while the run's job saves it) never undoes a save in flight.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from typing import Iterator

from hpt_core.errors import HPTInputError

logger = logging.getLogger("hpt_core.durable")

#: Failures the user can act on (free space, fix permissions, choose another folder): reported as one
#: line naming the folder, not as a traceback.
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS})

_STAGING = "staging-"
# Staging folders of the versions before this module: ``tempfile.mkdtemp(prefix=".<name>.")``.
_LEGACY_STAGING = re.compile(r"[a-z0-9_]{8}")
# Rust's io::Error (safetensors) carries the errno only in its message.
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def old_copy(target: str | Path) -> Path:
    """Where the previous copy of ``target`` waits while a save swaps the new one in."""
    target = Path(target)
    return target.with_name(f".{target.name}.old")


@contextmanager
def replace_folder(target: str | Path, what: str) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; when the block ends, it becomes ``target``.

    The staging folder's files and the folder itself are fsynced, it is swapped in, the parent is
    fsynced, and the previous copy is deleted last. If the block or the swap fails, the staging
    folder is removed and ``target`` is the previous copy (or absent, as it was).

    Args:
        target (str or Path): the folder to write.
        what (str): the folder as the user knows it (``"the model folder"``), for the error line.

    Raises:
        HPTInputError: ``<target>: no space left on device while saving <what>; …`` (or ``permission
            denied``, ``read-only file system`` …: any of :data:`STORAGE_ERRORS`, wherever it arose).
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _parent_lock(target.parent, blocking=True):
            _recover_locked(target)  # a crash of an earlier save: its good copy back before the swap
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_STAGING}", dir=target.parent))
            try:
                yield staging
                _fsync_tree(staging)
                _swap_in(staging, target)
            except BaseException:
                _remove(staging)
                _recover_locked(target)  # a swap cut between its renames: the previous copy goes back
                raise
    except BaseException as err:
        code = error_number(err)
        if code in STORAGE_ERRORS:
            raise HPTInputError(f"{reason(code)} while saving {what}; the previous copy is kept — free space (or fix "
                                "the permission) and run the same command again", target) from None
        raise


def recover(target: str | Path) -> None:
    """Undo what an interrupted save left beside ``target``; call it before reading ``target``.

    ``.<name>.old`` without ``target`` is the last good copy, caught between the swap's two renames:
    it is renamed back. Staging folders are half-written and removed, and so is an ``.old`` copy
    beside a ``target`` (the swap finished, its clean-up did not). Each with a log line. While a
    save of the same parent runs in another process, nothing is touched (that save finishes the
    job); a reader who finds ``target`` missing then waits for it. Creates nothing when nothing
    was left over, and a folder that cannot be changed (read-only) is only logged.
    """
    target = Path(target)
    if not target.parent.is_dir() or not _leftovers(target):
        return
    with _parent_lock(target.parent, blocking=not os.path.lexists(target)) as held:
        if held:
            _recover_locked(target)


def write_file(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to the file ``path`` all at once — a temporary file beside it, flushed
    to disk, then renamed over ``path`` — so a reader (or a machine that lost power) sees the old
    file or the new one, never half of one. The one implementation of an atomic file write
    (``runs.atomic_write_json``, ``hierarchy.atomic_write_text`` and the run history call it; bytes:
    :func:`write_bytes`); an ``OSError`` (a full disk) names ``path`` and leaves the old file as it was."""
    if not isinstance(text, str):
        raise TypeError(f"text to write must be str, not {type(text).__name__}")
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """:func:`write_file` for bytes (e.g. ``safetensors.torch.save``'s)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise_naming(err, target)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the data on disk before the rename makes it the file
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise_naming(err, target)
        raise
    return target


def raise_naming(err: OSError, path: str | Path) -> NoReturn:
    """Raise ``err`` again, naming ``path`` when it names no file: a full disk's ``OSError`` from a
    write often names none, and the user's one line must say which file."""
    if err.filename:
        raise err
    raise OSError(err.errno, err.strerror, str(path)) from err


def error_number(err: BaseException) -> int | None:
    """The ``errno`` behind ``err`` or an exception it was raised from or during (None if none).

    torch and safetensors wrap a failed write in their own exception types; the errno is what
    says whether the disk was full.
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno is not None:
            return err.errno
        found = _RUST_OS_ERROR.search(str(err))
        if found:
            return int(found.group(1))
        err = err.__cause__ or err.__context__
    return None


def reason(code: int) -> str:
    """``errno.ENOSPC`` → ``"no space left on device"``: the OS's words, as part of a sentence."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


# ---- the steps ----------------------------------------------------------------------------------
def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; the previous ``target`` is deleted only once the new one is
    in place and its rename is on disk. ``_recover_locked`` ran first, so no ``.old`` is in the way."""
    old = old_copy(target)
    if os.path.lexists(target):
        os.rename(target, old)
    os.rename(staging, target)
    _fsync_dir(target.parent)
    _remove(old)  # a failure here leaves a stale copy, removed by the next save or recover()


def _recover_locked(target: Path) -> None:
    old = old_copy(target)
    try:
        if os.path.lexists(old) and not os.path.lexists(target):
            os.rename(old, target)
            _fsync_dir(target.parent)
            logger.warning("recovered %s from %s, left there by a save that was interrupted", target, old.name)
        for leftover in _leftovers(target):
            _remove(leftover, strict=True)
            logger.info("removed %s, left half-written by a save that was interrupted", leftover)
    except OSError as err:
        logger.warning("could not clean up after an interrupted save of %s: %s", target, err)


def _leftovers(target: Path) -> list[Path]:
    """The ``.old`` copy and the staging folders of ``target`` in its parent."""
    prefix = f".{target.name}."
    found = []
    try:
        for path in target.parent.iterdir():
            rest = path.name[len(prefix):] if path.name.startswith(prefix) else None
            if rest is None:
                continue
            if rest == "old" or (path.is_dir() and (rest.startswith(_STAGING) or _LEGACY_STAGING.fullmatch(rest))):
                found.append(path)
    except OSError:  # the parent vanished or cannot be listed: nothing we could clean
        return []
    return found


@contextmanager
def exclusive(lock_file: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created empty if missing) for the block: one
    read-modify-write at a time, between threads (each open is its own lock holder) and processes.
    Where the file system has no ``flock``, the block runs unlocked, as before this lock existed."""
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass
        try:
            yield
        finally:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                pass


@contextmanager
def _parent_lock(parent: Path, blocking: bool) -> Iterator[bool]:
    """An exclusive ``flock`` on the folder ``parent`` itself (no lock file to leave behind).

    Yields False when ``blocking`` is False and another process holds it. Where a folder cannot
    be opened or locked (a file system without ``flock``), yields True unlocked: one writer at a
    time, as before this lock existed.
    """
    try:
        fd = os.open(parent, os.O_RDONLY)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        except OSError:
            pass
        yield True
    finally:
        os.close(fd)  # releases the lock


def _fsync_tree(folder: Path) -> None:
    """Every file under ``folder``, then every folder bottom-up, flushed to disk."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(root)


def _fsync_dir(folder: str | Path) -> None:
    """Make the folder's entries (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # a file system that cannot: nothing to do
            raise
    finally:
        os.close(fd)


def _remove(path: Path, strict: bool = False) -> None:
    """Remove a folder or file; ``strict`` raises OSError when it cannot be removed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=not strict)
    elif os.path.lexists(path):
        try:
            path.unlink()
        except OSError:
            if strict:
                raise
