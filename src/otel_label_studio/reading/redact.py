"""Masking of prompts and responses before a task leaves the process.

Off by default. Users give their own regular expressions (``--redact PATTERN`` / ``redact=``),
and may switch on a built-in set (``--redact-builtin`` / ``redact_builtin=True``) for e-mail
addresses and common API-key shapes. Pure: records in, records out.
"""

from __future__ import annotations

import re
from typing import Iterable

from .record import LLMRecord

MASK = "[REDACTED]"

BUILTIN_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "openai-key": r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    "aws-access-key-id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "github-token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "slack-token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "google-api-key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "jwt": r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "bearer": r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*",
}
"""The built-in set: what each name masks. Documented in docs/settings.md ("Redaction")."""


class Redactor:
    def __init__(self, patterns: Iterable[str] = (), *, builtin: bool = False):
        sources = list(patterns)
        if builtin:
            sources.extend(BUILTIN_PATTERNS.values())
        compiled = []
        for source in sources:
            try:
                compiled.append(re.compile(source))
            except re.error as exc:
                raise ValueError(
                    f"redact pattern {source!r} is not a valid regular expression: {exc}"
                ) from None
        self._patterns = compiled

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def text(self, value: str) -> str:
        for pattern in self._patterns:
            value = pattern.sub(MASK, value)
        return value

    def record(self, record: LLMRecord) -> LLMRecord:
        """Mask the record's messages, outputs, error and metadata values in place; returns it.

        A message's images are dropped: no pattern can look inside an image, and a URL that was
        masked would not load. The message's text still names each one (masked like any text)."""
        if not self._patterns:
            return record
        for message in record.messages:
            message.content = self.text(message.content)
            message.images = []
        record.outputs = [self.text(output) for output in record.outputs]
        record.metadata = {key: self.text(value) for key, value in record.metadata.items()}
        if record.error:
            record.error = self.text(record.error)
        for evaluation in record.evaluations:  # a judge's explanation may quote the prompt
            if evaluation.get("explanation"):
                evaluation["explanation"] = self.text(evaluation["explanation"])
        return record
