"""The LLM record: what one LLM or chat-model call said, whichever dialect described it.

Dialect adapters build records; layouts turn records into tasks. Message content is already
readable text here (Label Studio's Paragraphs and Text tags show strings), so tool calls,
tool results and media are rendered once, by the helpers below, the same way for every dialect.
An image a message carries is also kept beside its text, as the URL or data URI itself
(``Message.images``, ``image_source``), so a layout can show it as an image.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
from dataclasses import dataclass, field, fields
from typing import Any

from .jsontext import loads

ROLES = ("system", "user", "assistant", "tool")

_ROLE_ALIASES = {
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "function": "tool",
    "developer": "system",
}

#: What OpenLLMetry appends to a LangChain model's run name to name its span (``FakeListChatModel.chat``).
_OPENLLMETRY_SUFFIXES = (".chat", ".completion")

#: OpenLLMetry's placeholder for a model LangChain cannot name. The one rule for every model field
#: (``request_model``, ``response_model``, ``model``): this, like an empty name, is no model. The
#: checks are inline where they run per span.
UNKNOWN_MODEL = "unknown"


def normalize_role(role: Any, *, default: str) -> str:
    """Map whatever a dialect calls a role to system/user/assistant/tool."""
    if not isinstance(role, str):
        return default
    lowered = role.strip().lower()
    if lowered in ROLES:
        return lowered
    return _ROLE_ALIASES.get(lowered, default)


#: The longest image source a message keeps (a data URI is its bytes in base64): a larger image is
#: named in the message's text only, as before.
MAX_IMAGE_CHARS = 4_000_000
#: The most images one message keeps; the rest are named in its text only.
MAX_IMAGES = 16


@dataclass(slots=True)
class Message:
    role: str
    content: str
    # The images the message carries (``image_source``: http(s) URLs and data:image URIs), in order;
    # its text names each one (``render_media``) whether or not it is kept here.
    images: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LLMRecord:
    """One LLM call, ready to become a task."""

    trace_id: str
    span_id: str
    operation: str  # "chat" or "completion"
    dialect: str
    messages: list[Message] = field(default_factory=list)  # input, system instructions first
    outputs: list[str] = field(default_factory=list)  # one per generation
    request_model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    finish_reasons: list[str] = field(default_factory=list)
    request_params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    service_name: str | None = None
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    truncated: bool = False
    error: str | None = None
    project: str | None = None  # a per-span project override (resource attribute)
    # judge results from gen_ai.evaluation.result span events (evaluations.py): plain dicts with
    # name, score, label, explanation. Last, so a record spooled before it still loads.
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    span_name: str = ""  # last too: the LangChain model class is read from it (``model_class``)
    # why the review budget picked it, for the task's meta.review: {"reason": ..., "weight": 1/p};
    # None without a budget. Last, so a record spooled before it still loads.
    review: dict[str, Any] | None = None

    @property
    def model(self) -> str | None:
        """The response model, else the request model, else the provider's model name."""
        for candidate in (
            self.response_model,
            self.request_model,
            self.metadata.get("ls_model_name"),
        ):
            if candidate and candidate != UNKNOWN_MODEL:
                return candidate
        return None

    @property
    def model_class(self) -> str | None:
        """LangChain's name for the model's run: its class (``FakeListChatModel``) unless the app named
        the run. What tells apart two models that report no model name (fake models, some providers).
        None for a span LangChain did not make (its run metadata has no ``ls_model_type``, and the
        instrumentation does not name the provider "langchain")."""
        if "ls_model_type" not in self.metadata and self.provider != "langchain":
            return None
        name = self.span_name
        if self.dialect != "openinference":  # OpenLLMetry names the span "<run name>.<request type>"
            for suffix in _OPENLLMETRY_SUFFIXES:
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
                    break
        return name or None

    @property
    def response_id(self) -> str:
        """``gen_ai.response.id`` as the dialect read it (the GenAI dialect keeps it among the request
        parameters), or "": judge results that name no span find their record by it."""
        value = self.request_params.get("response_id")
        return value if isinstance(value, str) else ""

    @property
    def latency_ms(self) -> float | None:
        start, end = self.start_time_unix_nano, self.end_time_unix_nano
        if start and end >= start:
            return (end - start + 500) // 1000 / 1000  # to the microsecond, in integers: round() is slow
        return None

    @property
    def has_content(self) -> bool:
        return bool(self.messages or self.outputs)

    @property
    def system(self) -> str:
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    def to_bytes(self) -> bytes:
        """The record for the spool: what survives a restart is the record, not the task, because
        the task's shape depends on the project's config at delivery time.

        A pickle of plain values only (strings, numbers, lists, dicts): ``from_bytes`` refuses
        anything else, so a spool file can never make the bridge run code. It is several times
        faster than JSON on long prompts, and the spool's cost is on every acknowledged span.
        """
        values = [getattr(self, name) for name in _RECORD_FIELDS]
        # (role, content), and its images third only when it has some: a message without images is
        # written as before.
        values[_MESSAGES_INDEX] = [
            (m.role, m.content, list(m.images)) if m.images else (m.role, m.content) for m in self.messages
        ]
        return pickle.dumps(tuple(values), protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> LLMRecord:
        values = list(_PlainUnpickler(io.BytesIO(data)).load())
        values[_MESSAGES_INDEX] = [Message(*message) for message in values[_MESSAGES_INDEX]]
        return cls(*values)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the spool holds only plain values, not {module}.{name}")


def to_text(value: Any) -> str:
    """Text for a value that may be a string, a number, or JSON-able structure."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def render_tool_call(name: Any, arguments: Any, call_id: Any = None) -> str:
    """``[tool call get_weather #call_1] {"city": "Paris"}``"""
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    ident = f" #{call_id}" if call_id else ""
    args = to_text(arguments)
    return f"[tool call {to_text(name) or '?'}{ident}] {args}".rstrip()


def blocks_text(value: Any) -> str | None:
    """The text of a list of text content blocks (``[{"type": "text", "text": "22C"}]``), given as
    a list or as its JSON, one block per line; None when the value is not such a list.

    LangChain messages and tool results (MCP adapters, many tools) may hold blocks instead of a
    string, and instrumentations write them as JSON. A list with any other kind of block is not
    turned into text: nothing in it is dropped.
    """
    if isinstance(value, str):
        if not value.startswith("[{"):
            return None
        try:
            value = loads(value)
        except ValueError:
            return None
    if not isinstance(value, (list, tuple)) or not value:
        return None
    texts = []
    for block in value:
        if not isinstance(block, dict) or block.get("type") != "text":
            return None
        text = block.get("text")
        if not isinstance(text, str):
            return None
        texts.append(text)
    return "\n".join(texts)


def render_tool_result(result: Any, call_id: Any = None) -> str:
    """``[tool result #call_1] 22C``; a result given as text blocks shows their text."""
    ident = f" #{call_id}" if call_id else ""
    text = blocks_text(result)
    return f"[tool result{ident}] {to_text(result) if text is None else text}".rstrip()


def render_media(modality: Any, *, uri: Any = None, mime_type: Any = None, size: int | None = None) -> str:
    """A readable stand-in for an image or other media part: never the raw bytes."""
    kind = to_text(modality) or "media"
    if uri:
        uri_text = to_text(uri)
        if uri_text.startswith("data:"):
            head = uri_text.split(",", 1)[0]
            return f"[{kind}: {head}, {len(uri_text)} characters inline]"
        return f"[{kind}: {uri_text}]"
    details = ", ".join(
        part for part in (to_text(mime_type), f"{size} characters inline" if size else "") if part
    )
    return f"[{kind}: {details}]" if details else f"[{kind}]"


def image_source(value: Any, mime_type: Any = None) -> str | None:
    """An image a layout can show: an http(s) URL or a data:image URI as is, base64 bytes given with
    their image MIME type as a data URI; None for anything else (another scheme, another kind of
    media, more than ``MAX_IMAGE_CHARS``)."""
    if not isinstance(value, str) or not value:
        return None
    if mime_type is not None and not value[:8].lower().startswith(("data:", "http://", "https://")):
        if not (isinstance(mime_type, str) and mime_type.lower().startswith("image/")):
            return None
        value = f"data:{mime_type};base64,{value}"
    head = value[:11].lower()
    if not (head.startswith(("http://", "https://")) or head == "data:image/"):
        return None
    return value if len(value) <= MAX_IMAGE_CHARS else None


def blocks_images(value: Any) -> list[str]:
    """The images in a list of content blocks (given as a list or as its JSON), in order: OpenAI's
    ``image_url`` and ``input_image``, LangChain's ``image`` (a URL, or base64 data with its MIME
    type) and Anthropic's ``image`` with a ``source``. Nothing for any other value."""
    if isinstance(value, str):
        if not value.startswith("[{") or "image" not in value:
            return []
        try:
            value = loads(value)
        except ValueError:
            return []
    if not isinstance(value, (list, tuple)):
        return []
    found: list[str] = []
    for block in value:
        image = _block_image(block) if isinstance(block, dict) else None
        if image is not None and len(found) < MAX_IMAGES:
            found.append(image)
    return found


def _block_image(block: dict[str, Any]) -> str | None:
    kind = block.get("type")
    if kind in ("image_url", "input_image"):
        url = block.get("image_url")
        return image_source(url.get("url") if isinstance(url, dict) else url)
    if kind != "image":
        return None
    source = block.get("source")
    if isinstance(source, dict):  # Anthropic's: base64 data with its media_type, or a URL
        if source.get("type") == "base64":
            return image_source(source.get("data"), source.get("media_type"))
        return image_source(source.get("url"))
    if block.get("source_type") == "base64" or ("data" in block and "url" not in block):
        return image_source(block.get("data"), block.get("mime_type"))
    return image_source(block.get("url"))


def join_parts(parts: list[str]) -> str:
    return "\n".join(part for part in parts if part)


_RECORD_FIELDS = tuple(f.name for f in fields(LLMRecord))
_MESSAGES_INDEX = _RECORD_FIELDS.index("messages")
