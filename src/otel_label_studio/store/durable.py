"""Opening the SQLite files that hold acknowledged data (the spool, the feedback outbox), and
telling their two operational failures apart from bugs: a damaged file, and a full disk.

A damaged file (not an SQLite database, or corrupt: truncated, overwritten, a disk fault) is
found when it is opened, before anything listens, and raised as ``DamagedFile`` (a ValueError,
so a command stops with exit status 2) saying which file, what is wrong and the ``mv`` that
moves it aside. A full disk (SQLITE_FULL, ENOSPC) is recognised by ``is_disk_full`` so that
callers can refuse with a retryable answer (``DiskFull``, a ``QueueFull``); ``DiskFullEpisode``
logs one WARNING when it starts and one when space is free again, not one per request.
"""

from __future__ import annotations

import errno
import logging
import os
import shlex
import sqlite3
import time

from .queue import QueueFull

_logger = logging.getLogger(__name__)

_SQLITE_FULL = 13
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
BUSY_TIMEOUT_MS = 10_000  # how long a statement waits for another process's lock
_LOW_SPACE_BYTES = 1 << 20  # an I/O error with less than this left on the disk is taken for a full disk
RETRY_AFTER_SECONDS = 5.0  # what a durable file that cannot take a write asks its sender to wait


class DiskFull(QueueFull):
    """The disk under a durable file has no room left: nothing was written; retry once space is free."""


class DamagedFile(ValueError):
    """A data file is not an SQLite database, or is corrupt: it must be moved aside by hand."""


def open_durable(path: str, *, what: str = "spool file") -> sqlite3.Connection:
    """A connection whose every commit is on disk when it returns (WAL, ``synchronous=FULL``),
    in autocommit mode (transactions are explicit), shared by the threads of one process.

    The whole file is checked first (``PRAGMA quick_check``: every page read once, about 0.6 s
    per GB from the page cache), so damage shows at start rather than at the first request."""
    try:
        db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open the {what} {path}: {exc}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        db.close()
        raise damaged(path, what, exc) from None
    if problems != ["ok"]:
        db.close()
        raise _damaged_file(path, what, f"is corrupt (SQLite's check finds: {'; '.join(problems)})")
    return db


def damaged(path: str, what: str, error: sqlite3.DatabaseError) -> ValueError:
    """The error to raise for ``error``, met reading ``path``: DamagedFile, with what to do, when
    the file itself is at fault; a ValueError with what SQLite said otherwise (locked, unreadable)."""
    code, text = _primary_code(error), str(error)
    if code == _SQLITE_NOTADB or (code is None and "not a database" in text):
        return _damaged_file(
            path, what, "is not an SQLite database (another file at this path, or its header was overwritten)"
        )
    if code == _SQLITE_CORRUPT or (code is None and "malformed" in text):
        return _damaged_file(path, what, f"is corrupt (truncated, overwritten or a disk fault: {text})")
    return ValueError(f"cannot use the {what} {path}: {text}")


def _damaged_file(path: str, what: str, wrong: str) -> DamagedFile:
    aside = f"{path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    moves = [(path, aside)] + [
        (path + suffix, aside + suffix) for suffix in ("-wal", "-shm") if os.path.exists(path + suffix)
    ]
    command = " && ".join(f"mv {shlex.quote(old)} {shlex.quote(new)}" for old, new in moves)
    return DamagedFile(
        f"the {what} {path} is damaged: it {wrong}. Stop the processes using it, then move it aside "
        f"to start with an empty one (what it held is not delivered; `sqlite3 {shlex.quote(aside)} "
        f".recover` may salvage some of it): {command}"
    )


def is_disk_full(error: BaseException, path: str) -> bool:
    """Whether ``error``, met writing ``path``, means there is no room left on its disk."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if not isinstance(error, sqlite3.Error):
        return False
    code = _primary_code(error)
    if code == _SQLITE_FULL or (code is None and "database or disk is full" in str(error)):
        return True
    if code == _SQLITE_IOERR or (code is None and "disk I/O error" in str(error)):
        return _space_left(path) < _LOW_SPACE_BYTES  # SQLite reports some ENOSPC (shm, fsync) as I/O errors
    return False


class DiskFullEpisode:
    """One WARNING when writing a file first fails for lack of space, one when a write works again."""

    def __init__(self, path: str, what: str, effect: str):
        self._path = path
        self._what = what
        self._effect = effect
        self.since: float | None = None

    def full(self, error: BaseException) -> None:
        if self.since is not None:
            return
        self.since = time.monotonic()
        _logger.warning(
            "No space left on the disk of the %s %s (%s): %s until space is free on that disk; "
            "nothing already acknowledged is lost",
            self._what,
            self._path,
            error,
            self._effect,
        )

    def written(self) -> None:
        if self.since is None:
            return
        _logger.warning(
            "Space is free again on the disk of the %s %s: writing again after %.0f s",
            self._what,
            self._path,
            time.monotonic() - self.since,
        )
        self.since = None


def rollback(db: sqlite3.Connection) -> None:
    """End a failed transaction if SQLite has not already (it rolls back itself on some errors,
    a full disk among them), so the connection takes the next one."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            _logger.exception("Could not roll back a failed transaction")


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else int(code) & 0xFF


def _space_left(path: str) -> int:
    try:
        figures = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return 1 << 62
    return figures.f_bavail * figures.f_frsize
