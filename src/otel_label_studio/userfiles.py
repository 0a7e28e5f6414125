"""Reading a file a user points us at (the review rules, a label config, a capture to replay): a
regular file, read with a bound.

A path can name anything: a device that never ends (``/dev/zero``), a FIFO that blocks until a
writer comes, a directory, or a symlink to any of them, and a regular file can be gigabytes. So the
file is opened without blocking (``O_NONBLOCK``: a FIFO opens at once), checked to be a regular file
through the open handle (``fstat``: what was checked is what is read, even when the path is
swapped meanwhile), refused when its size is over the limit, and read for at most the limit plus
one byte (a file that grows past its stated size, or a ``/proc`` file that says 0, is still caught).
Every refusal names the file, what it is, and the limit.
"""

from __future__ import annotations

import os
import stat

RULES_LIMIT = 1024 * 1024
"""Largest review-rules file: 1 MiB (a file of a thousand rules is under 200 KB)."""

LABEL_CONFIG_LIMIT = 4 * 1024 * 1024
"""Largest label config file: 4 MiB (a taxonomy of ten thousand choices is about 1 MB)."""

CAPTURE_LIMIT = 256 * 1024 * 1024
"""Largest capture file for ``replay`` and ``rules check``: 256 MiB (the Collector's file exporter
rotates at 100 MB by default)."""


class UserFileError(ValueError):
    """A file that cannot be used: ``str()`` names it and says why; ``problem`` is the why, in words
    that follow the file's name ("is a directory, not a regular file (of at most 1 MiB)")."""

    def __init__(self, what: str, path: str, problem: str):
        super().__init__(f"{what} {path} {problem}")
        self.path = path
        self.problem = problem


def read_bytes(path: str, *, what: str, limit: int) -> bytes:
    """The whole of the regular file ``path`` if it holds at most ``limit`` bytes; ``UserFileError``
    otherwise (``what`` names the file for the user: "rules file", "label config file")."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _unreadable(what, path, exc) from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            kind = _kind(status.st_mode)
            raise UserFileError(what, path, f"is {kind}, not a regular file (of at most {_size(limit)})")
        if status.st_size > limit:
            raise _too_large(what, path, limit, status.st_size)
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise _unreadable(what, path, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _too_large(what, path, limit, None)
    return data


def read_text(path: str, *, what: str, limit: int) -> str:
    """``read_bytes`` as UTF-8 text; not UTF-8 is a ``UserFileError`` too."""
    data = read_bytes(path, what=what, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserFileError(what, path, f"is not UTF-8 text: {exc}") from None


def _read_at_most(fd: int, size: int) -> bytes:
    pieces = []
    left = size
    while left > 0:
        piece = os.read(fd, min(left, 1024 * 1024))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def _unreadable(what: str, path: str, exc: OSError) -> UserFileError:
    return UserFileError(what, path, f"cannot be read: {exc.strerror or exc}")


def _too_large(what: str, path: str, limit: int, size: int | None) -> UserFileError:
    held = f" ({size} bytes)" if size is not None else ""
    return UserFileError(what, path, f"is larger than the {_size(limit)} limit for a {what}{held}")


def _size(value: int) -> str:
    return f"{value >> 20} MiB" if value >= 1 << 20 and value % (1 << 20) == 0 else f"{value} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "something other than a file"
