"""Masking prompts and responses before a task leaves the process (pure)."""

from __future__ import annotations

import pytest

from otel_label_studio.config import parse_patterns, resolve_settings
from otel_label_studio.reading.redact import BUILTIN_PATTERNS, MASK, Redactor
from tests.support.builders import record

SAMPLES = {
    "email": "write to jane.doe+ls@example.co.uk today",
    "openai-key": "key sk-proj-abcdefghijklmnopqrstuvwxyz0123 here",
    "aws-access-key-id": "AKIAIOSFODNN7EXAMPLE",
    "github-token": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB",
    "slack-token": "xoxb-123456789012-abcdefghij",
    "google-api-key": "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer": "Authorization: Bearer abcdefghijklmnop1234",
}


def test_off_by_default():
    original = record(1)
    original.messages[-1].content = "mail me at jane@example.com"
    assert Redactor().record(original).messages[-1].content == "mail me at jane@example.com"
    assert not Redactor()


@pytest.mark.parametrize("name", sorted(BUILTIN_PATTERNS))
def test_every_builtin_pattern_masks_its_shape(name):
    masked = Redactor(builtin=True).text(SAMPLES[name])
    assert MASK in masked
    secret = SAMPLES[name].split()[-2 if name in ("email", "openai-key") else -1]
    assert secret not in masked


def test_plain_text_is_left_alone_by_the_builtin_set():
    text = "The skeleton key opened 3 doors; call +1 555 0100 at 10:30."
    assert Redactor(builtin=True).text(text) == text


def test_user_patterns_mask_prompts_responses_metadata_and_errors():
    redactor = Redactor([r"ACME-\d+", r"(?i)project\s+falcon"])
    item = record(1)
    item.messages[-1].content = "ticket ACME-42 about Project Falcon"
    item.outputs = ["closed ACME-42"]
    item.metadata = {"ticket": "ACME-7"}
    item.error = "failed on ACME-9"
    redactor.record(item)
    assert item.messages[-1].content == f"ticket {MASK} about {MASK}"
    assert item.outputs == [f"closed {MASK}"]
    assert item.metadata == {"ticket": MASK}
    assert item.error == f"failed on {MASK}"


def test_a_bad_pattern_is_a_clear_error():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Redactor(["(unclosed"])


def test_patterns_from_the_environment():
    assert parse_patterns(r"ACME-\d+") == (r"ACME-\d+",)
    assert parse_patterns(r'["a+", "b\\d"]') == ("a+", r"b\d")
    with pytest.raises(ValueError):
        parse_patterns("[1, 2]")
    settings = resolve_settings(
        environ={"OTEL_LABEL_STUDIO_REDACT": '["x+"]', "OTEL_LABEL_STUDIO_REDACT_BUILTIN": "true"}
    )
    assert settings.redact == ("x+",) and settings.redact_builtin is True
    with pytest.raises(ValueError, match="OTEL_LABEL_STUDIO_REDACT"):
        resolve_settings(environ={"OTEL_LABEL_STUDIO_REDACT": "[not json"})
