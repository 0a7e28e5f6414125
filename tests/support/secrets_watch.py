"""Every token and key the suite hands out, so the session can check that no log holds one."""

from __future__ import annotations

import logging

SECRETS: set[str] = set()


def register(*values: str | None) -> None:
    SECRETS.update(value for value in values if value and len(value) >= 8)


class LogCollector(logging.Handler):
    """Keeps the final text of every record logged in the test process."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the logger's problem, not ours to hide
            text = str(record.msg)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


def leaks(texts: list[str]) -> list[str]:
    """The secrets that appear in any of the texts (named by a prefix only)."""
    return sorted({secret[:4] + "..." for secret in SECRETS for text in texts if secret in text})
