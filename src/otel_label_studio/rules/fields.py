"""The values review rules match on, read cheaply from a span view: only the attributes asked for.

Values are read with ``SpanView.attribute``: a view from OTLP decodes only the attributes a rule
reads, so a span the rules drop never has its prompts decoded. The same names and the same
values as the record the dialect would map (``model`` is the
response model, else the request model, else LangChain's ``ls_model_name``; ``provider`` as
``dialects`` normalises it; ``metadata.<key>`` as run metadata), but without mapping: no
message is decoded, nothing is copied. ``tests/unit/test_rules_fields.py`` holds the two to agreement
for every dialect. ``evaluation.<name>`` is the ``(score, label)`` of the span's last
``gen_ai.evaluation.result`` event of that name (``evaluations``), None when there is none. Any
other key is a span attribute, else a resource attribute, by full name.
"""

from __future__ import annotations

from typing import Any, Callable

from ..reading.dialects import genai, legacy, openinference
from ..reading.dialects._common import int_value, model_value, text_value
from ..reading.evaluations import EVENT_NAME, LABEL, NAME, SCORE, score_value
from ..reading.record import to_text
from ..reading.spanview import STATUS_ERROR, SpanView
from . import doubt
from .language import EVALUATION_PREFIX, METADATA_PREFIX

Reader = Callable[[SpanView, str], Any]  # (view, dialect name) -> value or None

_USAGE = {
    genai.NAME: genai._USAGE_KEYS,
    legacy.NAME: legacy._USAGE_KEYS,
    openinference.NAME: openinference._USAGE_KEYS,
}
_INPUT_MESSAGES = "llm.input_messages."


class FieldReader:
    """Builds one reader per match key; ``metadata_prefix`` is the bridge's (run metadata)."""

    def __init__(self, metadata_prefix: str):
        self._prefix = metadata_prefix.rstrip(".") + "."

    def reader(self, key: str) -> Reader:
        fixed = _FIELDS.get(key)
        if fixed is not None:
            return fixed
        if key == "model":
            return self._model
        if key == "provider":
            return self._provider
        if key.startswith(METADATA_PREFIX):
            name = key[len(METADATA_PREFIX) :]
            return lambda view, dialect: self.metadata(view, dialect, name)
        if key in (doubt.DISAGREEMENT, doubt.MISSING):
            return lambda view, dialect: evaluations(view)
        if key.startswith(EVALUATION_PREFIX):
            evaluation = doubt.split(key)[0]
            return lambda view, dialect: _evaluation(view, evaluation)
        return lambda view, dialect: _attribute(view, key)

    def metadata(self, view: SpanView, dialect: str, name: str) -> str | None:
        """Run metadata ``name`` as the record holds it (OpenInference's ``metadata`` JSON wins)."""
        if dialect == openinference.NAME:
            decoded = openinference.metadata_object({"metadata": view.attribute("metadata")})
            if name in decoded:
                return to_text(decoded[name])
        value = view.attribute(self._prefix + name)
        if value is None:
            return None
        return value if isinstance(value, str) else to_text(value)

    def _model(self, view: SpanView, dialect: str) -> str | None:
        read = view.attribute
        if dialect == openinference.NAME:
            found = model_value(read("llm.model_name"))
        else:
            found = model_value(read("gen_ai.response.model")) or model_value(read("gen_ai.request.model"))
        if found:
            return found
        fallback = self.metadata(view, dialect, "ls_model_name")
        return fallback if fallback and fallback != "unknown" else None

    def _provider(self, view: SpanView, dialect: str) -> str | None:
        read = view.attribute
        if dialect == openinference.NAME:
            return text_value(read("llm.provider")) or text_value(read("llm.system"))
        raw = text_value(read("gen_ai.system"))
        if dialect == genai.NAME:
            raw = text_value(read("gen_ai.provider.name")) or raw
        if raw is None or raw.lower() == "langchain":  # as dialects._common.provider_name
            ls_provider = self.metadata(view, dialect, "ls_provider")
            if ls_provider:
                return ls_provider
        return raw.lower() if raw else None


def _attribute(view: SpanView, key: str) -> Any:
    value = view.attribute(key)
    if value is None:
        value = view.resource.get(key)
    return value


def _evaluation(view: SpanView, name: str) -> tuple[float | None, str | None] | None:
    """The last ``gen_ai.evaluation.result`` event named ``name``: (score, label); None if none."""
    found = None
    for event in view.events:
        if event.name == EVENT_NAME and event.attributes.get(NAME) == name:
            label = event.attributes.get(LABEL)
            found = (score_value(event.attributes.get(SCORE)), None if label is None else str(label))
    return found


def evaluations(view: SpanView) -> dict[str, tuple[float | None, str | None]]:
    """Every judge's last ``gen_ai.evaluation.result`` on the span: {name: (score, label)}."""
    found: dict[str, tuple[float | None, str | None]] = {}
    for event in view.events:
        if event.name == EVENT_NAME:
            name = event.attributes.get(NAME)
            if name is not None:
                label = event.attributes.get(LABEL)
                found[str(name)] = (
                    score_value(event.attributes.get(SCORE)),
                    None if label is None else str(label),
                )
    return found


def _operation(view: SpanView, dialect: str) -> str | None:
    if dialect == genai.NAME:
        return genai.OPERATIONS.get(str(view.attribute(genai.OPERATION)))
    if dialect == legacy.NAME:
        return legacy.OPERATIONS.get(str(view.attribute(legacy.REQUEST_TYPE)))
    return "chat" if any(key.startswith(_INPUT_MESSAGES) for key in view.attributes) else "completion"


def _status(view: SpanView, dialect: str) -> str:
    return "error" if view.status_code == STATUS_ERROR else "ok"


def _latency_ms(view: SpanView, dialect: str) -> float | None:
    start, end = view.start_time_unix_nano, view.end_time_unix_nano
    if start and end >= start:
        return (end - start + 500) // 1000 / 1000  # as LLMRecord.latency_ms
    return None


def _usage(name: str) -> Reader:
    keys = {dialect: tuple(k for k, n in usage.items() if n == name) for dialect, usage in _USAGE.items()}

    def read(view: SpanView, dialect: str) -> int | None:
        for key in keys[dialect]:
            value = int_value(view.attribute(key))
            if value is not None:
                return value
        return None

    return read


_input_tokens = _usage("input_tokens")
_output_tokens = _usage("output_tokens")
_explicit_total = _usage("total_tokens")


def _total_tokens(view: SpanView, dialect: str) -> int | None:
    """The total the span gives, else input plus output when both are given."""
    total = _explicit_total(view, dialect)
    if total is not None:
        return total
    given = _input_tokens(view, dialect), _output_tokens(view, dialect)
    return given[0] + given[1] if given[0] is not None and given[1] is not None else None


_FIELDS: dict[str, Reader] = {
    "operation": _operation,
    "status": _status,
    "latency_ms": _latency_ms,
    "input_tokens": _input_tokens,
    "output_tokens": _output_tokens,
    "total_tokens": _total_tokens,
    "dialect": lambda view, dialect: dialect,
}
