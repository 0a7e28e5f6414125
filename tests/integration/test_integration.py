"""Real LangChain runs, real instrumentation, real SDK pipeline, real Label Studio: tasks read back."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.delivery.labelstudio import LabelStudioClient
from tests.support import fixtures, scenarios
from tests.support.configs import SEED_CUSTOM_CONFIG
from tests.support.label_studio_reads import project_by_title, tasks_of
from tests.support.pipelines import deliver, pipeline
from tests.support.scenarios import LIVE

pytestmark = pytest.mark.integration


def expected_prompt(mode, name):
    operation, turns, _ = LIVE[name]
    if mode == "chat":
        return [{"role": r, "content": c} for r, c in turns]
    if operation == "completion" and len(turns) == 1:
        return turns[0][1]
    return "\n\n".join(f"{r}: {c}" for r, c in turns)


@pytest.mark.parametrize("mode", ["prompt", "chat"])
@pytest.mark.parametrize("name", sorted(LIVE))
def test_each_llm_call_becomes_the_exact_task(routing, captured, label_studio, ls, project_name, mode, name):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode=mode
    )
    with pipeline(routing, exporter):
        app_result = scenarios.SCENARIOS[name]()
    assert app_result is not None
    llm_span = next(
        s
        for s in captured.get_finished_spans()
        if s.attributes.get("gen_ai.operation.name") in ("chat", "text_completion")
    )
    (task,) = tasks_of(ls, project_name)
    _, _, outputs = LIVE[name]
    assert task.data["prompt"] == expected_prompt(mode, name)
    assert task.data["trace_id"] == format(llm_span.context.trace_id, "032x")
    assert task.data["span_id"] == format(llm_span.context.span_id, "016x")
    assert task.data["service_name"] == "otel-ls-tests"
    assert task.data["provider"] and task.data["model"] == ""
    (prediction,) = task.predictions
    assert prediction.result == [
        {
            "from_name": "response",
            "to_name": "dialogue" if mode == "chat" else "prompt",
            "type": "textarea",
            "value": {"text": outputs},
        }
    ]
    assert task.meta["operation"] == LIVE[name][0] and task.meta["dialect"] == "genai"
    assert task.meta["truncated"] is False and task.meta["latency_ms"] >= 0
    assert exporter.counts["tasks_created"] == 1


@pytest.mark.parametrize("dialect", ["legacy", "openinference"])
def test_recorded_dialects_land_like_live_spans(label_studio, ls, project_name, dialect):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode="chat"
    )
    deliver(exporter, fixtures.load(dialect, "tool_call"))
    (task,) = tasks_of(ls, project_name)
    assert task.data["prompt"] == [
        {"role": "system", "content": "You can look up the weather."},
        {"role": "user", "content": "What is the weather in London, then in Paris?"},
        {"role": "assistant", "content": '[tool call get_weather #call_0] {"city": "London"}'},
        {"role": "tool", "content": "[tool result #call_0] 22C"},
    ]
    assert task.predictions[0].result[0]["value"] == {
        "text": ['[tool call get_weather #call_1] {"city": "Paris"}']
    }
    assert task.meta["usage"]["total_tokens"] == 49


def test_legacy_token_works(routing, label_studio, ls, project_name):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.legacy_token, project_name=project_name
    )
    with pipeline(routing, exporter):
        scenarios.completion()
    assert len(tasks_of(ls, project_name)) == 1


def test_wrong_key_leaves_the_app_alone_and_logs_once(routing, label_studio, ls, project_name, caplog):
    caplog.set_level(logging.DEBUG, logger="otel_label_studio")
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key="not-a-real-key-000", project_name=project_name
    )
    with pipeline(routing, exporter):
        answers = [scenarios.completion() for _ in range(3)]
    assert exporter.export(fixtures.load("legacy", "completion")) == SpanExportResult.FAILURE  # shut down
    assert answers == ["Why did the chicken cross the road?"] * 3
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, errors  # the refusal once, then at shutdown what was not delivered
    assert "HTTP 401" in errors[0] and "LABEL_STUDIO_API_KEY" in errors[0]
    assert "the legacy token was refused" in errors[0]
    assert "3 records were not delivered to Label Studio before shutdown" in errors[1]
    assert "not-a-real-key-000" not in caplog.text
    assert project_by_title(ls, project_name) is None


def test_title_must_match_exactly_not_contain(label_studio, ls, project_name):
    decoy = ls.projects.create(
        title=f"{project_name}-decoy", label_config=LabelStudioSpanExporter(api_key="k").layout.label_config
    )
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    deliver(exporter, fixtures.load("legacy", "completion"))
    assert len(tasks_of(ls, project_name)) == 1
    assert list(ls.tasks.list(project=decoy.id)) == []
    deliver(exporter, fixtures.load("legacy", "n2"))  # the project is reused, not created again
    assert len([p for p in ls.projects.list(title=project_name) if p.title == project_name]) == 1
    assert len(tasks_of(ls, project_name)) == 2


def test_project_name_is_strftimed_and_project_id_wins(label_studio, ls, project_name):
    from datetime import datetime

    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name + "-%Y"
    )
    deliver(exporter, fixtures.load("legacy", "completion"))
    dated = f"{project_name}-{datetime.now():%Y}"
    target = project_by_title(ls, dated)
    assert target is not None
    by_id = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_id=target.id, project_name="ignored-%Y"
    )
    deliver(by_id, fixtures.load("legacy", "stream"))
    assert len(tasks_of(ls, dated)) == 2 and project_by_title(ls, f"ignored-{datetime.now():%Y}") is None


CONTEXT_CONFIG = """
<View>
  <Header value="$context"/>
  <Paragraphs name="chat" value="$dialogue" layout="dialogue" nameKey="role" textKey="content"/>
  <TextArea name="response" toName="chat" editable="true"/>
</View>
"""


@pytest.mark.parametrize(
    "config", [SEED_CUSTOM_CONFIG, CONTEXT_CONFIG], ids=["seed-example", "extra-variable"]
)
def test_custom_configs_import(routing, label_studio, ls, project_name, config):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, project_config=config
    )
    with pipeline(routing, exporter):
        scenarios.chat_system_human()
    (task,) = tasks_of(ls, project_name)
    result = task.predictions[0].result[0]
    assert result["value"] == {"text": ["Hi there 😀 café"]}
    if config is CONTEXT_CONFIG:
        assert task.data["context"] == ""
        assert task.data["dialogue"] == [
            {"role": "system", "content": "Always use emojis"},
            {"role": "user", "content": "Tell me a joke"},
        ]
        assert result["to_name"] == "chat"
    else:
        assert task.data["prompt"] == "system: Always use emojis\n\nuser: Tell me a joke"


def test_invalid_config_raises_and_creates_nothing(label_studio, ls, project_name):
    before = len(list(ls.projects.list()))
    with pytest.raises(ValueError, match="toName"):
        LabelStudioSpanExporter(
            url=label_studio.url,
            api_key=label_studio.pat,
            project_name=project_name,
            project_config='<View><Text name="p" value="$p"/><TextArea name="r" toName="missing"/></View>',
        )
    assert len(list(ls.projects.list())) == before


def test_existing_project_that_cannot_take_tasks_is_reported_once(label_studio, ls, project_name, caplog):
    project = ls.projects.create(
        title=project_name,
        label_config=(
            '<View><Text name="t" value="$text"/>'
            '<Choices name="c" toName="t"><Choice value="a"/></Choices></View>'
        ),
    )
    caplog.set_level(logging.DEBUG, logger="otel_label_studio")
    exporter = LabelStudioSpanExporter(url=label_studio.url, api_key=label_studio.pat, project_id=project.id)
    spy = []
    original = exporter._client.import_tasks
    exporter._client.import_tasks = lambda *a, **k: spy.append(1) or original(*a, **k)
    for name in ("completion", "n2", "stream"):
        exporter.export(fixtures.load("legacy", name))
    assert not exporter.force_flush(3_000)  # they wait: the project cannot take them
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and project_name in errors[0] and "no <TextArea>" in errors[0]
    assert spy == []


def test_existing_project_with_another_fitting_config_gets_tasks_shaped_for_it(
    label_studio, ls, project_name, caplog
):
    ls.projects.create(title=project_name, label_config=CONTEXT_CONFIG)
    exporter = LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        project_config=SEED_CUSTOM_CONFIG,
    )
    deliver(exporter, fixtures.load("legacy", "chat_system_human"))
    (task,) = tasks_of(ls, project_name)
    assert task.data["dialogue"][0] == {"role": "system", "content": "Always use emojis"}
    assert "already exists with a different label config" in caplog.text


def test_one_import_request_per_export_batch(routing, captured, label_studio, ls, project_name, monkeypatch):
    calls = []
    original = LabelStudioClient.import_tasks

    def counting(self, project_id, tasks, *args, **kwargs):
        calls.append(len(tasks))
        return original(self, project_id, tasks, *args, **kwargs)

    monkeypatch.setattr(LabelStudioClient, "import_tasks", counting)
    for _ in range(25):
        scenarios.completion()
    spans = captured.get_finished_spans()
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    deliver(exporter, spans)
    assert calls == [25]
    small = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, batch_size=10
    )
    deliver(small, spans)
    assert calls == [25, 10, 10, 5]
    assert len(tasks_of(ls, project_name)) == 50


def test_the_bridges_own_http_calls_make_no_spans(routing, label_studio, ls, project_name):
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        import httpx

        httpx.get(f"{label_studio.url}/health")  # proves the instrumentation is live
        assert len(memory.get_finished_spans()) == 1
        memory.clear()
        exporter = LabelStudioSpanExporter(
            url=label_studio.url, api_key=label_studio.pat, project_name=project_name
        )
        with pipeline(routing, exporter):
            scenarios.completion()
    finally:
        instrumentor.uninstrument()
    assert len(tasks_of(ls, project_name)) == 1
    assert memory.get_finished_spans() == ()


def test_otel_traces_exporter_entry_point_under_opentelemetry_instrument(
    label_studio, ls, project_name, tmp_path
):
    app = tmp_path / "app.py"
    # Auto-instrumentation enables the LangChain instrumentor only when the `langchain` package
    # is installed; with langchain-core alone the app instruments it on the configured provider.
    app.write_text(
        "from opentelemetry.instrumentation.langchain import LangchainInstrumentor\n"
        "LangchainInstrumentor().instrument()\n"
        "from langchain_core.language_models.fake import FakeListLLM\n"
        "print(FakeListLLM(responses=['entry point works']).invoke('Who am I?'))\n"
    )
    instrument = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console,label_studio",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "entry-point-app",
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.pat,
        "OTEL_LABEL_STUDIO_PROJECT_NAME": project_name,
    }
    done = subprocess.run(
        [instrument, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "entry point works" in done.stdout and '"name": "FakeListLLM.completion"' in done.stdout
    (task,) = tasks_of(ls, project_name)
    assert task.data["prompt"] == "Who am I?" and task.data["service_name"] == "entry-point-app"
    assert json.dumps(task.predictions[0].result[0]["value"]) == json.dumps({"text": ["entry point works"]})


def test_failed_calls_become_tasks_only_when_asked(routing, label_studio, ls, project_name):
    quiet = LabelStudioSpanExporter(url=label_studio.url, api_key=label_studio.pat, project_name=project_name)
    with pipeline(routing, quiet):
        assert scenarios.failing() == "raised"
    assert quiet.counts["errors_skipped"] == 1 and project_by_title(ls, project_name) is None
    loud = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, include_errors=True
    )
    with pipeline(routing, loud):
        scenarios.failing()
    (task,) = tasks_of(ls, project_name)
    assert task.data["prompt"] == "This call fails" and task.data["error"] == "ValueError: boom"
    assert task.predictions[0].result[0]["value"] == {"text": ["[error] ValueError: boom"]}


def test_resource_attribute_routes_spans_to_their_own_project(label_studio, ls, project_name):
    memory = InMemorySpanExporter()
    routed = TracerProvider(resource=Resource.create({"label_studio.project": project_name + "-%Y"}))
    routed.add_span_processor(SimpleSpanProcessor(memory))
    with routed.get_tracer("test").start_as_current_span("Model.chat") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute(
            "gen_ai.input.messages",
            json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        )
        span.set_attribute(
            "gen_ai.output.messages",
            json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]),
        )
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name + "-default"
    )
    deliver(exporter, [*memory.get_finished_spans(), *fixtures.load("legacy", "completion")])
    from datetime import datetime

    (routed_task,) = tasks_of(ls, f"{project_name}-{datetime.now():%Y}")
    assert routed_task.data["prompt"] == "user: hi"
    (default_task,) = tasks_of(ls, project_name + "-default")
    assert default_task.data["prompt"] == "Tell me a joke"


def test_records_left_in_a_spool_path_are_delivered_after_a_restart(label_studio, ls, tmp_path, project_name):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    spool_path = str(tmp_path / "app-spool.sqlite3")
    before = LabelStudioSpanExporter(
        url=f"http://127.0.0.1:{closed}",
        api_key="k",
        project_name=project_name,
        timeout=1,
        spool_path=spool_path,
    )
    before.export(fixtures.load("legacy", "completion"))
    before.shutdown()  # the app stops while Label Studio is unreachable
    after = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, spool_path=spool_path
    )
    workflow_only = [s for s in fixtures.load("legacy", "chain") if "llm.request.type" not in s.attributes]
    after.export(workflow_only)  # any export starts delivery, LLM spans or not
    assert after.force_flush(30_000)
    (task,) = tasks_of(ls, project_name)
    assert task.predictions[0].result[0]["value"] == {"text": ["Why did the chicken cross the road?"]}
    after.shutdown()
