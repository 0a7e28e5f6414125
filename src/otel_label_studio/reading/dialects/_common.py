"""Helpers the dialect adapters share: reading typed attributes and filling a record's common fields."""

from __future__ import annotations

from typing import Any, Mapping

from ..evaluations import read_evaluations
from ..record import UNKNOWN_MODEL, LLMRecord, to_text
from ..spanview import STATUS_ERROR, SpanView

SERVICE_NAME = "service.name"
PROJECT_ATTRIBUTE = "label_studio.project"


def text_attr(attributes: Mapping[str, Any], key: str) -> str | None:
    return text_value(attributes.get(key))


def text_value(value: Any) -> str | None:
    """An attribute's value as text; None for none or empty (``text_attr`` of a value read)."""
    if value is None or value == "":
        return None
    return str(value)


def model_attr(attributes: Mapping[str, Any], key: str) -> str | None:
    """A model name; OpenLLMetry's ``"unknown"`` placeholder counts as none."""
    value = attributes.get(key)
    if not value or value == UNKNOWN_MODEL:  # inline: two of these run per span
        return None
    return value if type(value) is str else str(value)  # noqa: E721 - no call: it runs per span


def model_value(value: Any) -> str | None:
    """``model_attr`` of a value read (review rules read one attribute, not the mapping)."""
    if not value or value == UNKNOWN_MODEL:
        return None
    return value if type(value) is str else str(value)  # noqa: E721


def int_attr(attributes: Mapping[str, Any], key: str) -> int | None:
    return int_value(attributes.get(key))


def int_value(value: Any) -> int | None:
    """An attribute's value as a count: ints, and floats or text that read as a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (float, str)):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def usage_from(attributes: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, int]:
    """Token counts under our names; where two keys name the same count, the first present wins."""
    usage: dict[str, int] = {}
    for key, name in keys.items():
        value = attributes.get(key)
        if value is None:
            continue
        if type(value) is not int:  # noqa: E721 - exact: a bool is not a count
            value = int_attr(attributes, key)
            if value is None:
                continue
        usage.setdefault(name, value)
    return usage


def metadata_from(attributes: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """Run metadata (``<prefix>.<key>``), e.g. LangChain's ``ls_provider`` or a user's ``user_id``.

    A value that is not a string (a list such as LangGraph's ``langgraph_triggers``, a number, a
    bool) becomes its JSON text, as OpenInference writes run metadata: ``["branch:to:model"]``.
    """
    dotted = prefix.rstrip(".") + "."
    return {
        key[len(dotted) :]: value if isinstance(value, str) else to_text(value)
        for key, value in attributes.items()
        if key.startswith(dotted)
    }


def new_record(view: SpanView, *, operation: str, dialect: str, metadata_prefix: str) -> LLMRecord:
    """A record with everything that does not depend on the dialect filled in."""
    record = LLMRecord(
        trace_id=view.trace_id,
        span_id=view.span_id,
        operation=operation,
        dialect=dialect,
        metadata=metadata_from(view.attributes, metadata_prefix),
        service_name=text_attr(view.resource, SERVICE_NAME),
        start_time_unix_nano=view.start_time_unix_nano,
        end_time_unix_nano=view.end_time_unix_nano,
        truncated=view.dropped_attributes_count > 0,
        project=text_attr(view.resource, PROJECT_ATTRIBUTE),
        evaluations=read_evaluations(view.events) if view.events else [],
        span_name=view.name,
    )
    if view.status_code == STATUS_ERROR:
        record.error = error_text(view)
    return record


def provider_name(provider: str | None, metadata: Mapping[str, str]) -> str | None:
    """The provider; where the instrumentation only knows "langchain", LangChain's ``ls_provider``."""
    if (provider is None or provider.lower() == "langchain") and metadata.get("ls_provider"):
        return metadata["ls_provider"]
    return provider.lower() if provider else None


def error_text(view: SpanView) -> str:
    """``Type: message`` from the exception event, else the status description's first line."""
    for event in view.events:
        if event.name == "exception":
            kind = text_attr(event.attributes, "exception.type")
            message = text_attr(event.attributes, "exception.message")
            if kind or message:
                return ": ".join(part for part in (kind, message) if part)
    if view.status_message:
        return view.status_message.strip().splitlines()[0]
    return text_attr(view.attributes, "error.type") or "error"


def indexed(attributes: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Group ``<prefix>.<i>.<rest>`` attributes into a list of ``{rest: value}`` in index order.

    Indexed dialects flatten a list of messages into keys; an SDK attribute limit may have
    dropped some of them, so gaps are tolerated and the order of the indices is kept.
    """
    dotted = prefix + "."
    groups: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(dotted):
            continue
        index, _, rest = key[len(dotted) :].partition(".")
        if not index.isdigit() or not rest:
            continue
        groups.setdefault(int(index), {})[rest] = value
    return [groups[i] for i in sorted(groups)]
