"""``LabelStudioSpanExporter``: LLM and chat spans in, Label Studio tasks out.

Thin glue between the pure mapping and the delivery edge. It sits in an app's whole trace
pipeline: spans that are not LLM calls pass through untouched. ``export()`` never raises into
the app and never waits past its deadline; the constructor does no network I/O.
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .config import Settings, resolve_settings
from .delivery import Delivery, DeliveryResult
from .labelstudio import LabelStudioClient
from .layouts import Layout, layout_for
from .mapping import Mapper
from .projects import Projects
from .spanview import from_readable_span

_logger = logging.getLogger(__name__)


class LabelStudioSpanExporter(SpanExporter):
    """Export LLM and chat spans to Label Studio as tasks.

    Arguments mean what they mean for LangChain's ``LabelStudioCallbackHandler``; each one
    not given is read from the environment (see ``otel_label_studio.config``), then defaulted.

    Args:
        url: Label Studio URL (``LABEL_STUDIO_URL``, default ``http://localhost:8080``).
        api_key: Personal Access Token or legacy token (``LABEL_STUDIO_API_KEY``).
        project_id: existing project to fill (``LABEL_STUDIO_PROJECT_ID``).
        project_name: project title, strftime'd (default ``LangChain-%Y-%m-%d``).
        project_config: label config XML for a new project (replaces the layout's default).
        mode: ``"prompt"`` (default) or ``"chat"``: the default layout.
        batch_size: most tasks per import request (default 500).
        timeout: seconds one export may spend on Label Studio (default 10).
        include_errors: make tasks of failed LLM calls, showing the error (default False).
        metadata_prefix: attribute prefix of run metadata (default
            ``traceloop.association.properties``).

    Raises:
        ValueError: a bad argument or an unusable ``project_config``, before anything is created.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        project_id: int | str | None = None,
        project_name: str | None = None,
        project_config: str | None = None,
        mode: str | None = None,
        *,
        batch_size: int | None = None,
        timeout: float | None = None,
        include_errors: bool | None = None,
        metadata_prefix: str | None = None,
    ):
        self._settings: Settings = resolve_settings(
            url=url,
            api_key=api_key,
            project_id=project_id,
            project_name=project_name,
            project_config=project_config,
            mode=mode,
            batch_size=batch_size,
            timeout=timeout,
            include_errors=include_errors,
            metadata_prefix=metadata_prefix,
        )
        settings = self._settings
        try:
            self.layout: Layout = layout_for(settings.mode, settings.project_config)
        except ValueError as exc:
            raise ValueError(f"project_config: {exc}") from None
        if not settings.api_key:
            _logger.warning(
                "No Label Studio API key: set LABEL_STUDIO_API_KEY or pass api_key=; "
                "exports will fail until one is given"
            )
        self._client = LabelStudioClient(settings.url, settings.api_key, settings.timeout)
        self._projects = Projects(
            self._client,
            self.layout,
            project_id=settings.project_id,
            project_name=settings.project_name,
            config_given=settings.project_config is not None,
        )
        self._mapper = Mapper(
            metadata_prefix=settings.metadata_prefix, include_errors=settings.include_errors
        )
        self._delivery = Delivery(
            self._client, self._projects, batch_size=settings.batch_size, timeout=settings.timeout
        )
        self._lock = threading.Lock()
        self._shutdown = False
        self.counts = {
            "spans": 0,
            "llm_spans": 0,
            "tasks_created": 0,
            "tasks_failed": 0,
            "no_content": 0,
            "errors_skipped": 0,
            "unreadable": 0,
        }

    @property
    def settings(self) -> Settings:
        return self._settings

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            _logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        try:
            with self._lock, suppress_instrumentation():
                return self._export(spans)
        except Exception:  # never into the app
            _logger.exception("Unexpected error while exporting spans to Label Studio")
            return SpanExportResult.FAILURE

    def _export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        mapped = self._mapper.map(from_readable_span(span) for span in spans)
        counts = self.counts
        counts["spans"] += mapped.spans
        counts["llm_spans"] += mapped.llm_spans
        counts["no_content"] += mapped.no_content
        counts["errors_skipped"] += mapped.errors_skipped
        counts["unreadable"] += mapped.unreadable
        if not mapped.records:
            return SpanExportResult.SUCCESS
        delivered: DeliveryResult = self._delivery.deliver(mapped.records)
        counts["tasks_created"] += delivered.tasks_created
        counts["tasks_failed"] += delivered.tasks_failed
        return SpanExportResult.FAILURE if delivered.tasks_failed else SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is held between exports: every export delivers before it returns."""
        return True

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        with self._lock:
            self._client.close()
