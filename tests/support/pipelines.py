"""Driving the in-process exporter the way an app's span pipeline does."""

from __future__ import annotations

from contextlib import contextmanager

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_label_studio import LabelStudioSpanExporter


@contextmanager
def pipeline(routing, exporter):
    """The app's pipeline: a BatchSpanProcessor with our exporter, flushed at the end."""
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=60_000, max_export_batch_size=512)
    routing.attach(processor)
    try:
        yield
        assert processor.force_flush(30_000)
    finally:
        routing.detach(processor)
        processor.shutdown()


def deliver(exporter: LabelStudioSpanExporter, spans) -> None:
    """Export the way a span processor does, then wait until the delivery thread has imported it."""
    exporter.export(spans)
    assert exporter.force_flush(30_000), exporter.counts


def routed(spans, title: str) -> list[ReadableSpan]:
    """The spans as sent by an app whose resource names the project ``title``."""
    resource = Resource.create({"label_studio.project": title})
    return [
        ReadableSpan(
            name=s.name,
            context=s.context,
            parent=s.parent,
            resource=resource,
            attributes=s.attributes,
            events=s.events,
            kind=s.kind,
            status=s.status,
            start_time=s.start_time,
            end_time=s.end_time,
        )
        for s in spans
    ]
