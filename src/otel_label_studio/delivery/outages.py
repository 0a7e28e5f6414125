"""Outage logging: how delivery talks about failures (once per outage, not once per span), and
what to do about a refused key.

Used by the delivery worker (``worker.py``) wherever it runs, in the exporter's thread or in the
sidecar, and by ``serve``'s readiness and ``doctor`` for the key hint.
"""

from __future__ import annotations

import logging

from .labelstudio import NOT_THE_API, ErrorKind, LabelStudioClient, LabelStudioError

_logger = logging.getLogger(__name__)


class OutageLog:
    """Says a failure once per outage (not once per span), and says when delivery recovered."""

    def __init__(self, client: LabelStudioClient):
        self._client = client
        self._outage: str | None = None
        self._affected = 0

    @property
    def in_outage(self) -> bool:
        return self._outage is not None

    def failed(self, error: LabelStudioError, key: str, count: int, fate: str) -> None:
        """``count`` tasks for project ``key`` failed with ``error``; ``fate`` says what became of them."""
        self._affected += count
        signature = f"{error.kind}:{error.status}"
        if self._outage == signature:
            _logger.debug("Still failing (%s): %d tasks for %s %s", error.detail, count, key, fate)
            return
        self._outage = signature
        if error.kind == ErrorKind.MISFIT:
            return  # Projects already said exactly what is wrong, once
        _logger.error(
            "Label Studio at %s: %s; %d tasks for project %s %s%s. "
            "Further failures of this kind are logged at DEBUG until delivery recovers.",
            self._client.url,
            error.detail,
            count,
            key,
            fate,
            _hint(error, self._client.token_kind),
        )

    def recovered(self, what: str) -> None:
        if self._outage is None:
            return
        _logger.warning("Label Studio delivery recovered; during the outage %d %s", self._affected, what)
        self._outage, self._affected = None, 0


def _hint(error: LabelStudioError, kind: str | None) -> str:
    if error.kind == ErrorKind.AUTH:
        return auth_hint(error, kind)
    if error.kind == ErrorKind.UNREACHABLE and error.detail != NOT_THE_API:  # that one says what to do itself
        return " (start Label Studio, or set LABEL_STUDIO_URL or serve's --url to where it runs)"
    return ""


def auth_hint(error: LabelStudioError, kind: str | None) -> str:
    """What to do about a refused key, in one clause."""
    if "legacy token" in error.detail.lower():
        return (
            " (this organization has legacy tokens disabled: use a Personal Access Token from "
            "Account & Settings, or enable legacy tokens in Organization > API Tokens Settings)"
        )
    refused = f"the {kind} was refused; " if kind else ""
    return f" ({refused}check LABEL_STUDIO_API_KEY: copy the token from Label Studio > Account & Settings)"
