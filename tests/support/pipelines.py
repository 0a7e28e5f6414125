"""Driving the in-process exporter the way an app's span pipeline does."""

from __future__ import annotations

from contextlib import contextmanager

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
