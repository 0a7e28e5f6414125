"""OpenTelemetry LLM and chat spans into Label Studio tasks for human review."""

from .exporter import LabelStudioSpanExporter
from .modes.layouts import CHAT_CONFIG, PROMPT_CONFIG

__all__ = ["CHAT_CONFIG", "PROMPT_CONFIG", "LabelStudioSpanExporter"]
