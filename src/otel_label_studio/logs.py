"""Process logging for the command line: one JSON object per line (or plain text), secrets masked.

The bridge never logs a key or token on purpose; the mask is a second line of defence for text
that comes from elsewhere (an exception message quoting a header, a URL with credentials).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Iterable

MASK = "***"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and masked) by SecretMask
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class SecretMask(logging.Filter):
    """Replaces each secret in a record's final text with ``***``."""

    def __init__(self, secrets: Iterable[str | None]):
        super().__init__()
        self._secrets = [secret for secret in secrets if secret and len(secret) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = message
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, MASK)
            record.exc_info = None
        if text != message:
            record.msg, record.args = text, None
        return True


def configure(level: str, fmt: str, secrets: Iterable[str | None] = ()) -> None:
    """Send the package's logs (and warnings from libraries) to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMask(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("otel_label_studio").setLevel(level)
