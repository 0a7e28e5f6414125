"""End to end as a user's app sees it: the app makes instrumented LangChain calls, a
BatchSpanProcessor hands the spans to the in-process exporter, and the clock runs from the first
call until the last task is readable in Label Studio (the calls are on the clock). Beside it,
Label Studio's own ceiling (the same task dicts imported directly, 500 per request) and the seed
handler's pattern (one import request per span). With a review-rules file that samples 10%, ten
times the calls make about as many tasks: the rows give the tasks per second reviewers get and the
calls per second the app made meanwhile."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake import FakeListLLM
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.common import app_switch, genai_attributes, prompt_text
from otel_label_studio import PROMPT_CONFIG, LabelStudioSpanExporter
from otel_label_studio.delivery.labelstudio import LabelStudioClient, encode_task
from otel_label_studio.modes.layouts import layout_for
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import from_readable_span

TARGET_OF_CEILING = 0.95
PROMPT_BYTES = 2048
TARGET_OVER_PER_SPAN = 30.0
REVIEW_SAMPLE = 0.1
REVIEW_RULES = f"""\
rules:
  - name: ten-percent
    sample: {REVIEW_SAMPLE}
"""


def make_spans(count: int, prompt_bytes: int = 2048) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for n in range(count):
        attributes = genai_attributes(f"#{n} " + prompt_text(prompt_bytes, n % 50), prompt_text(512, 1))
        with tracer.start_as_current_span("ChatOpenAI.chat", attributes=attributes):
            pass
    return list(memory.get_finished_spans())


def prompts(count: int) -> list[str]:
    return [f"#{n} " + prompt_text(PROMPT_BYTES, n % 50) for n in range(count)]


def app_calls(exporter: SpanExporter, questions: list[str]) -> BatchSpanProcessor:
    """The user's app: one instrumented LangChain call per question, spans to ``exporter`` through a
    BatchSpanProcessor with the SDK's default settings, as an app configures it; returns once every
    span was handed over, with the processor (its ``shutdown`` also shuts the exporter down)."""
    llm = FakeListLLM(responses=[prompt_text(512, 1)])
    switch = app_switch()
    processor = BatchSpanProcessor(exporter)
    switch.target = processor
    try:
        for question in questions:
            llm.invoke(question)
        processor.force_flush()
    finally:
        switch.target = None
    return processor


def app_spans(count: int) -> list:
    """The spans the app's calls make, kept in memory (for the ceiling's tasks)."""
    memory = InMemorySpanExporter()
    app_calls(memory, prompts(count)).shutdown()
    return list(memory.get_finished_spans())


def task_count(ls: LabelStudio, title: str) -> int:
    for project in ls.projects.list(title=title):
        if project.title == title:
            return int(project.task_number or 0)
    return 0


def through_app(
    url: str, api_key: str, count: int, batch_size: int, review_rules: str | None = None
) -> tuple[float, int]:
    """Seconds from the app's first LangChain call until the last task is readable, and the tasks
    made (every call's, or with ``review_rules`` those the rules kept, checked against the exporter's
    counts)."""
    title = f"bench-app-{batch_size}-{uuid.uuid4().hex[:6]}"
    ls = LabelStudio(base_url=url, api_key=api_key)
    client = LabelStudioClient(url, api_key, timeout=300)
    client.create_project(title, PROMPT_CONFIG)  # before the clock, as for the direct import
    client.close()
    exporter = LabelStudioSpanExporter(
        url=url, api_key=api_key, project_name=title, batch_size=batch_size, review_rules=review_rules
    )
    questions = prompts(count)
    started = time.perf_counter()
    processor = app_calls(exporter, questions)
    assert exporter.force_flush(600_000)
    elapsed = time.perf_counter() - started
    expected = exporter.counts["review.ten-percent.kept"] if review_rules else count
    processor.shutdown()
    created = task_count(ls, title)
    assert created == expected, f"{created} tasks readable in {title!r}, expected {expected}"
    return elapsed, created


def through_exporter(url: str, api_key: str, spans: list, batch_size: int) -> float:
    """Seconds from the first export until the last task is readable."""
    title = f"bench-ours-{batch_size}-{uuid.uuid4().hex[:6]}"
    ls = LabelStudio(base_url=url, api_key=api_key)
    # The project exists before the clock starts, as it does for the direct import: both measure
    # importing into a project, not creating one (the exporter still looks it up by title).
    client = LabelStudioClient(url, api_key, timeout=300)
    client.create_project(title, PROMPT_CONFIG)
    client.close()
    exporter = LabelStudioSpanExporter(url=url, api_key=api_key, project_name=title, batch_size=batch_size)
    started = time.perf_counter()
    for start in range(0, len(spans), 512):  # as a BatchSpanProcessor hands them over
        exporter.export(spans[start : start + 512])
    # force_flush returns when the last import request has returned: its tasks are committed and
    # readable. Polling Label Studio meanwhile would load the very server being measured.
    assert exporter.force_flush(600_000)
    elapsed = time.perf_counter() - started
    exporter.shutdown()
    count = task_count(ls, title)
    assert count == len(spans), f"{count} tasks readable in {title!r}, expected {len(spans)}"
    return elapsed


def direct_import(url: str, api_key: str, tasks: list[dict], per_request: int) -> float:
    """Seconds to import ``tasks`` straight through the API, ``per_request`` at a time."""
    client = LabelStudioClient(url, api_key, timeout=300)
    project = client.create_project(f"bench-direct-{per_request}-{uuid.uuid4().hex[:6]}", PROMPT_CONFIG)
    started = time.perf_counter()
    for start in range(0, len(tasks), per_request):  # encoding is on the clock, as it is for the app
        client.import_tasks(project.id, [encode_task(task) for task in tasks[start : start + per_request]])
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def with_review_rule(url: str, api_key: str, calls: int) -> dict:
    """The app's calls through the exporter with a rules file that keeps 10% of traces."""
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as temp:
        rules = Path(temp) / "rules.yaml"
        rules.write_text(REVIEW_RULES)
        elapsed, tasks = through_app(url, api_key, calls, 500, review_rules=str(rules))
    return {
        "sample": REVIEW_SAMPLE,
        "calls": calls,
        "tasks": tasks,
        "calls_per_s": round(calls / elapsed, 1),
        "tasks_per_s": round(tasks / elapsed, 1),
    }


def run(url: str, api_key: str, quick: bool, *, exporter_sweep: bool = True) -> dict:
    """The figures; without ``exporter_sweep`` only the ceiling, the app and the app with a review
    rule (what changes with Label Studio's database; the rest measures the exporter)."""
    count = 1_000 if quick else 5_000
    per_span_count = 50 if quick else 300
    spans = app_spans(count)
    layout = layout_for("prompt", None)
    records = Mapper(metadata_prefix="traceloop.association.properties", include_errors=False).map(
        from_readable_span(span) for span in spans
    )
    tasks = [layout.task(record) for record in records.records]
    direct_import(
        url, api_key, tasks[:1000], 500
    )  # warm Label Studio up, so the first path measured is not cold
    assert len(tasks) == count, f"{len(tasks)} tasks from {count} LangChain calls"
    # Ceiling and the app alternate A B B A, and each is the mean of its two rounds: Label Studio
    # slows as its database grows, and this order cancels a steady drift between the two.
    ceilings: list[float] = []
    ours_rounds: list[float] = []
    for path in ("ceiling", "ours", "ours", "ceiling"):
        if path == "ceiling":
            ceilings.append(count / direct_import(url, api_key, tasks, 500))
        else:
            ours_rounds.append(count / through_app(url, api_key, count, 500)[0])
    ceiling, ours = statistics.mean(ceilings), statistics.mean(ours_rounds)
    reviewed = with_review_rule(url, api_key, count * 10)
    rows = [
        {
            "path": "Label Studio ceiling: direct import, 500 per request",
            "tasks": count,
            "rounds": len(ceilings),
            "tasks_per_s": round(ceiling, 1),
            "each_round": [round(r, 1) for r in ceilings],
        },
        {
            "path": "app: LangChain calls, BatchSpanProcessor, exporter (batch 500); calls on the clock",
            "tasks": count,
            "rounds": len(ours_rounds),
            "tasks_per_s": round(ours, 1),
            "each_round": [round(r, 1) for r in ours_rounds],
        },
        {
            "path": f"app as above, review rule sampling {REVIEW_SAMPLE:.0%}: "
            f"{reviewed['calls']} calls, {reviewed['calls_per_s']} calls/s",
            "tasks": reviewed["tasks"],
            "rounds": 1,
            "tasks_per_s": reviewed["tasks_per_s"],
        },
    ]
    result = {
        "rows": rows,
        "of_ceiling": round(ours / ceiling, 3),
        "review_rule": {**reviewed, "of_ceiling": round(reviewed["tasks_per_s"] / ceiling, 3)},
        "targets": {"of_ceiling": TARGET_OF_CEILING},
        "met": ours / ceiling >= TARGET_OF_CEILING,
    }
    if not exporter_sweep:
        return result
    per_span = per_span_count / direct_import(url, api_key, tasks[:per_span_count], 1)
    rows.append(
        {
            "path": "seed pattern: one import request per span",
            "tasks": per_span_count,
            "rounds": 1,
            "tasks_per_s": round(per_span, 1),
        }
    )
    sweep_count = 500 if quick else 2_000
    sweep_spans = make_spans(sweep_count)
    for batch_size in (50, 200, 1000):
        rate = sweep_count / through_exporter(url, api_key, sweep_spans, batch_size)
        rows.append(
            {
                "path": f"in-process exporter (batch_size {batch_size})",
                "tasks": sweep_count,
                "rounds": 1,
                "tasks_per_s": round(rate, 1),
            }
        )
    result["over_per_span"] = round(ours / per_span, 1)
    result["targets"]["over_per_span"] = TARGET_OVER_PER_SPAN
    result["met"] = result["met"] and ours / per_span >= TARGET_OVER_PER_SPAN
    return result
