"""What a Label Studio failure, or an output file that cannot be written, means to a user: one
sentence of what is wrong and one of what to do, the same words wherever they are said (every
command through ``cli/errors.py``, ``doctor``'s findings, serve's readiness).

Pure: it reads a ``LabelStudioError``'s kind (decided once, in ``labelstudio.py``) and an
``OSError``'s errno, never a status code or a message text of its own.
"""

from __future__ import annotations

import errno
import os
from typing import NamedTuple

from .. import config
from .labelstudio import NOT_THE_API, ErrorKind, LabelStudioError

#: What to do when the URL is not Label Studio's base URL.
BASE_URL_FIX = (
    f"set {config.spec('url').env} (or --url) to Label Studio's base URL, scheme://host:port "
    "(http://localhost:8080)"
)
#: What to do when nothing answers at the URL.
START_FIX = f"start Label Studio, or set {config.spec('url').env} (or --url) to where it runs"
#: What to do about a refused key (a legacy token refused by an organization that disabled them: below).
KEY_FIX = f"check {config.spec('api_key').env}: copy the token from Label Studio > Account & Settings"
LEGACY_OFF_FIX = (
    "this organization has legacy tokens disabled: use a Personal Access Token from Account & Settings, "
    "or enable legacy tokens in Organization > API Tokens Settings"
)


class Problem(NamedTuple):
    """What is wrong, and what to do about it."""

    what: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.what}: {self.fix}" if self.fix else self.what


def unreachable(url: str, detail: str) -> Problem:
    return Problem(f"cannot reach Label Studio at {url} ({detail})", START_FIX)


def not_label_studio(url: str, detail: str = "") -> Problem:
    return Problem(
        f"{url} does not answer as Label Studio" + (f" ({detail})" if detail else ""), BASE_URL_FIX
    )


def key_refused(url: str, detail: str, kind: str | None = None) -> Problem:
    fix = LEGACY_OFF_FIX if "legacy token" in detail.lower() else KEY_FIX
    return Problem(f"Label Studio at {url} refused the {kind or 'API key'} ({detail})", fix)


def no_project(url: str, project_id: int | None) -> Problem:
    return Problem(
        f"no project {project_id} on {url}",
        f"check --project-id (or {config.spec('project_id').env}), and that {config.spec('url').env} and "
        "the key are those of the Label Studio that holds the project (a project of another organization "
        "answers the same)",
    )


def label_studio_problem(
    error: LabelStudioError, url: str, project_id: int | None = None, *, token_kind: str | None = None
) -> Problem:
    """The words for a failure of Label Studio at ``url`` (asked about ``project_id``)."""
    if error.kind == ErrorKind.AUTH:
        return key_refused(url, error.detail, token_kind)
    if error.kind == ErrorKind.PROJECT_GONE:
        return no_project(url, project_id)
    if error.kind == ErrorKind.UNREACHABLE:
        if error.detail == NOT_THE_API:
            status = f"HTTP {error.status}: " if error.status else ""
            return not_label_studio(url, f"{status}it answers with a web page, not Label Studio's API")
        return unreachable(url, error.detail)
    return Problem(f"Label Studio at {url}: {error.detail}")


#: Which failures are the user's input (the URL, the key, the project id): the same at once, every time.
INPUT_KINDS = frozenset({ErrorKind.AUTH, ErrorKind.PROJECT_GONE, ErrorKind.UNREACHABLE})


def unwritable(path: str, error: OSError) -> Problem:
    """The words for an output file that cannot be opened for writing."""
    parent = os.path.dirname(os.path.abspath(path))
    if error.errno == errno.ENOENT:
        reason = f"no directory {parent}"
    elif error.errno == errno.EISDIR or os.path.isdir(path):
        reason = "it is a directory"
    elif error.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    else:
        reason = (error.strerror or str(error)).lower()
    return Problem(
        f"cannot write {path}: {reason}", "give a file in a directory that exists and you may write"
    )


def writable_problem(path: str) -> Problem | None:
    """Whether ``path`` can be written, found by opening it to append (a file that was not there is
    removed again): an existing file is neither truncated nor changed."""
    existed = os.path.lexists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        return unwritable(path, error)
    if not existed:
        os.unlink(path)
    return None
