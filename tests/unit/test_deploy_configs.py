"""The deployment files: docker-compose.yml, the Collector configs and the Dockerfile.

No Docker engine, Collector or Compose binary is needed (docker-compose.yml is validated by the real
Compose binary in tests/integration/test_compose.py):
- the Collector YAML is checked structurally with PyYAML by ``collector_config_problems``, the same rules
  the Collector applies at start-up to component ids and pipeline references, plus this project's rules
  (memory_limiter first, batch last, receivers on 0.0.0.0, the llm-only filter, the persistent queue).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.prerequisites import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COLLECTOR_DIR = REPO_ROOT / "collector-config"
SIDECAR = COLLECTOR_DIR / "sidecar.yaml"
LOADBALANCED = COLLECTOR_DIR / "loadbalanced.yaml"
PREFILTER = COLLECTOR_DIR / "review-prefilter.yaml"
AGENT = COLLECTOR_DIR / "agent.yaml"

# The filter from the reference: a span for which the condition is true is dropped.
LLM_ONLY_CONDITION = (
    'not (attributes["gen_ai.operation.name"] == "chat"'
    ' or attributes["gen_ai.operation.name"] == "text_completion"'
    ' or attributes["llm.request.type"] != nil'
    ' or attributes["openinference.span.kind"] == "LLM")'
)
COMPONENT_ID = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.-]+)?$")
PIPELINE_ID = re.compile(r"^(traces|metrics|logs)(/[A-Za-z0-9_.-]+)?$")
SECTIONS = ("receivers", "processors", "exporters", "extensions")


# --- Collector config checker -------------------------------------------------------------------


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def _storage_refs(node: Any, path: str) -> list[tuple[str, str]]:
    """Every ``sending_queue.storage`` below ``node`` (the loadbalancing exporter nests one)."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        queue = node.get("sending_queue")
        if isinstance(queue, dict) and queue.get("storage") is not None:
            found.append((f"{path}.sending_queue.storage", str(queue["storage"])))
        for key, value in node.items():
            found.extend(_storage_refs(value, f"{path}.{key}"))
    return found


def collector_config_problems(config: Any) -> list[str]:
    """What is wrong with a Collector config, as readable sentences; empty when it is fine."""
    if not isinstance(config, dict):
        return ["the config is not a mapping"]
    problems: list[str] = []
    defined: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        components = config.get(section) or {}
        if not isinstance(components, dict):
            problems.append(f"{section} is not a mapping")
            components = {}
        for component_id in components:
            if not isinstance(component_id, str) or not COMPONENT_ID.match(component_id):
                problems.append(f"{section}: {component_id!r} is not a type[/name] id")
        defined[section] = {k: (v or {}) for k, v in components.items()}

    service = config.get("service") or {}
    service_extensions = service.get("extensions") or []
    for ext in service_extensions:
        if ext not in defined["extensions"]:
            problems.append(f"service.extensions lists {ext!r}, which extensions does not define")

    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("service.pipelines is empty")
    for name, pipeline in pipelines.items():
        if not PIPELINE_ID.match(str(name)):
            problems.append(f"pipeline {name!r} is not traces|metrics|logs[/name]")
        pipeline = pipeline or {}
        for section in ("receivers", "processors", "exporters"):
            for ref in pipeline.get(section) or []:
                if ref not in defined[section]:
                    problems.append(f"pipeline {name}: {section[:-1]} {ref!r} is not defined in {section}")
        for section in ("receivers", "exporters"):
            if not pipeline.get(section):
                problems.append(f"pipeline {name}: no {section}")
        processors = [component_type(p) for p in pipeline.get("processors") or []]
        if not processors or processors[0] != "memory_limiter":
            problems.append(f"pipeline {name}: memory_limiter must be the first processor, got {processors}")
        if not processors or processors[-1] != "batch":
            problems.append(f"pipeline {name}: batch must be the last processor, got {processors}")

    for exporter_id, exporter in defined["exporters"].items():
        for where, storage in _storage_refs(exporter, f"exporters.{exporter_id}"):
            if storage not in defined["extensions"]:
                problems.append(f"{where} names {storage!r}, which extensions does not define")
            elif storage not in service_extensions:
                problems.append(f"{where} names {storage!r}, which service.extensions does not list")

    expected_binds = {"grpc": "0.0.0.0:4317", "http": "0.0.0.0:4318"}
    for receiver_id, receiver in defined["receivers"].items():
        if component_type(receiver_id) != "otlp":
            continue
        protocols = receiver.get("protocols") or {}
        for protocol, endpoint in expected_binds.items():
            actual = (protocols.get(protocol) or {}).get("endpoint")
            if actual != endpoint:
                problems.append(
                    f"receivers.{receiver_id}: {protocol} endpoint is {actual!r}, want {endpoint}"
                )
    return problems


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def pipelines_from(config: dict[str, Any], receiver: str) -> dict[str, dict[str, Any]]:
    return {
        name: pipeline
        for name, pipeline in config["service"]["pipelines"].items()
        if receiver in pipeline.get("receivers", [])
    }


# --- Collector configs ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SIDECAR, LOADBALANCED, PREFILTER, AGENT], ids=lambda p: p.name)
def test_collector_config_is_structurally_sound(path):
    assert collector_config_problems(load(path)) == []


@pytest.mark.parametrize("path", [SIDECAR, LOADBALANCED], ids=lambda p: p.name)
def test_label_studio_pipeline_keeps_only_llm_spans(path):
    config = load(path)
    pipeline = config["service"]["pipelines"]["traces/label-studio"]
    assert pipeline["receivers"] == ["otlp"]
    assert pipeline["processors"] == ["memory_limiter", "filter/llm-only", "batch"]
    llm_filter = config["processors"]["filter/llm-only"]
    assert llm_filter["error_mode"] == "ignore"
    assert llm_filter["traces"]["span"] == [LLM_ONLY_CONDITION]


@pytest.mark.parametrize("path", [SIDECAR, LOADBALANCED, PREFILTER], ids=lambda p: p.name)
def test_otlp_receiver_fans_out_to_backend_and_bridge(path):
    config = load(path)
    fed = pipelines_from(config, "otlp")
    backend = [p for p in fed.values() if "otlp/backend" in p["exporters"]]
    bridge = [p for p in fed.values() if "filter/llm-only" in p.get("processors", [])]
    assert len(backend) == 1 and len(bridge) == 1, fed
    # The backend gets every span: no filter on its way.
    assert not any(component_type(p) == "filter" for p in backend[0]["processors"])
    assert "otlp/backend" not in bridge[0]["exporters"]
    assert config["exporters"]["otlp/backend"]["endpoint"] == "tracing-backend:4317"


# The agent config's filter: a span for which it is true is dropped; it names attributes only.
LANGCHAIN_RUNS_CONDITION = (
    'not (attributes["gen_ai.operation.name"] != nil'
    ' or attributes["traceloop.span.kind"] != nil'
    ' or attributes["llm.request.type"] != nil'
    ' or attributes["openinference.span.kind"] != nil)'
)
_PRESENT = re.compile(r'attributes\["([^"]+)"\] != nil')


def _dropped_by(condition: str, attributes: dict[str, Any]) -> bool:
    """The Collector's verdict for a condition of the form ``not (attributes["a"] != nil or ...)``."""
    inner = condition.removeprefix("not (").removesuffix(")")
    terms = inner.split(" or ")
    assert all(_PRESENT.fullmatch(term) for term in terms), condition  # no other form is evaluated here
    return not any(attributes.get(_PRESENT.fullmatch(term).group(1)) is not None for term in terms)  # type: ignore[union-attr]


def test_agent_config_sends_every_span_of_a_langchain_run_to_the_bridge(captured):
    from otel_label_studio.modes.runs import is_run_span
    from otel_label_studio.reading.spanview import SpanView, from_readable_span
    from tests.support import fixtures, scenarios

    config = load(AGENT)
    pipeline = config["service"]["pipelines"]["traces/label-studio"]
    assert pipeline["processors"] == ["memory_limiter", "filter/langchain-runs", "batch"]
    assert pipeline["exporters"] == ["otlphttp/label-studio"]
    assert config["exporters"]["otlphttp/label-studio"]["sending_queue"]["storage"] == "file_storage/queue"
    assert config["service"]["pipelines"]["traces/backend"]["processors"] == ["memory_limiter", "batch"]
    condition = config["processors"]["filter/langchain-runs"]["traces"]["span"]
    assert condition == [LANGCHAIN_RUNS_CONDITION]
    scenarios.agent_run()
    spans = list(captured.get_finished_spans())
    spans += fixtures.load("legacy", "agent_run") + fixtures.load("openinference", "agent_run")
    app_span = SpanView("1" * 32, "2" * 16, "GET /weather", {"http.request.method": "GET"})  # the app's own
    views = [from_readable_span(span) for span in spans] + [app_span]
    run_spans = [view for view in views if is_run_span(view)]
    kinds = {view.attributes.get("gen_ai.operation.name") for view in run_spans}
    assert {"execute_tool", "vector_db_retrieve", "chat"} <= kinds  # tool and retriever steps too
    assert {view.attributes.get("openinference.span.kind") for view in run_spans} >= {"TOOL", "CHAIN", "LLM"}
    dropped = [view.name for view in views if _dropped_by(LANGCHAIN_RUNS_CONDITION, dict(view.attributes))]
    assert dropped == ["GET /weather"]  # every span of the runs goes on, in all three dialects


def test_sidecar_sends_llm_spans_to_the_bridge_through_a_persistent_queue():
    config = load(SIDECAR)
    exporter = config["exporters"]["otlphttp/label-studio"]
    assert config["service"]["pipelines"]["traces/label-studio"]["exporters"] == ["otlphttp/label-studio"]
    assert exporter["endpoint"] == "http://bridge:4318"
    assert exporter["compression"] == "gzip"
    assert exporter["retry_on_failure"]["enabled"] is True
    assert exporter["sending_queue"]["enabled"] is True
    assert exporter["sending_queue"]["storage"] == "file_storage/queue"
    assert config["service"]["extensions"] == ["health_check", "file_storage/queue"]
    assert config["extensions"]["file_storage/queue"]["create_directory"] is True


def test_sidecar_sends_only_judge_results_to_the_bridge_s_logs_endpoint():
    config = load(SIDECAR)
    pipeline = config["service"]["pipelines"]["logs/label-studio"]
    assert pipeline == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "filter/judge-results", "batch"],
        "exporters": ["otlphttp/label-studio"],  # the same exporter and queue as the LLM spans
    }
    judge_only = config["processors"]["filter/judge-results"]
    assert judge_only["error_mode"] == "ignore"
    assert judge_only["logs"]["log_record"] == ['attributes["gen_ai.evaluation.name"] == nil']


def test_loadbalanced_routes_by_trace_id_to_the_bridges_grpc_port():
    config = load(LOADBALANCED)
    assert config["service"]["pipelines"]["traces/label-studio"]["exporters"] == ["loadbalancing"]
    exporter = config["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert exporter["protocol"]["otlp"]["tls"]["insecure"] is True
    assert exporter["resolver"]["dns"] == {"hostname": "bridge", "port": 4317}


def test_prefilter_drops_by_attribute_and_samples_before_the_bridge():
    config = load(PREFILTER)
    pipeline = config["service"]["pipelines"]["traces/label-studio"]
    assert pipeline["processors"] == [
        "memory_limiter",
        "filter/llm-only",
        "filter/review-prefilter",
        "probabilistic_sampler",
        "batch",
    ]
    assert pipeline["exporters"] == ["otlphttp/label-studio"]
    assert config["processors"]["filter/llm-only"]["traces"]["span"] == [LLM_ONLY_CONDITION]
    prefilter = config["processors"]["filter/review-prefilter"]
    assert prefilter["error_mode"] == "ignore" and prefilter["traces"]["span"]
    sampler = config["processors"]["probabilistic_sampler"]
    assert sampler["mode"] == "proportional"  # explicit: the processor's README contradicts itself
    assert 0 < sampler["sampling_percentage"] <= 100
    assert config["exporters"]["otlphttp/label-studio"]["sending_queue"]["storage"] == "file_storage/queue"


def _broken_sidecar(change: str) -> dict[str, Any]:
    config = copy.deepcopy(load(SIDECAR))
    pipelines = config["service"]["pipelines"]
    if change == "undefined exporter":
        pipelines["traces/label-studio"]["exporters"].append("otlphttp/nowhere")
    elif change == "undefined processor":
        pipelines["traces/backend"]["processors"].insert(1, "filter/missing")
    elif change == "storage not declared":
        config["exporters"]["otlphttp/label-studio"]["sending_queue"]["storage"] = "file_storage/other"
    elif change == "storage not enabled":
        config["service"]["extensions"].remove("file_storage/queue")
    elif change == "batch not last":
        pipelines["traces/label-studio"]["processors"] = ["memory_limiter", "batch", "filter/llm-only"]
    elif change == "memory_limiter not first":
        pipelines["traces/backend"]["processors"] = ["batch", "memory_limiter", "batch"]
    elif change == "localhost bind":
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "localhost:4317"
    elif change == "bad id":
        config["exporters"]["otlphttp//label-studio"] = config["exporters"].pop("otlphttp/label-studio")
    return config


@pytest.mark.parametrize(
    "change, expected",
    [
        ("undefined exporter", "exporter 'otlphttp/nowhere' is not defined"),
        ("undefined processor", "processor 'filter/missing' is not defined"),
        ("storage not declared", "'file_storage/other', which extensions does not define"),
        ("storage not enabled", "'file_storage/queue', which service.extensions does not list"),
        ("batch not last", "batch must be the last processor"),
        ("memory_limiter not first", "memory_limiter must be the first processor"),
        ("localhost bind", "grpc endpoint is 'localhost:4317'"),
        ("bad id", "'otlphttp//label-studio' is not a type[/name] id"),
    ],
)
def test_checker_reports_a_broken_config(change, expected):
    problems = collector_config_problems(_broken_sidecar(change))
    assert any(expected in problem for problem in problems), problems


# --- Dockerfile -------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", text)
    result = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_installs_the_package_and_runs_the_cli():
    instructions = dockerfile_instructions()
    values = {}
    for keyword, rest in instructions:
        values.setdefault(keyword, []).append(rest)
    assert values["FROM"] == ["python:3.11-slim"]
    # the locked dependencies (requirements/app.txt, with the demo extra demo-app uses and the postgres
    # extra a shared review state needs), then the package
    assert any(
        "pip install --no-cache-dir --require-hashes -r requirements/app.txt" in run for run in values["RUN"]
    )
    assert any('pip install --no-cache-dir --no-deps ".[demo,postgres]"' in run for run in values["RUN"])
    lock = (REPO_ROOT / "requirements" / "app.txt").read_text()
    assert "\npsycopg==" in lock and "\npsycopg-binary==" in lock
    assert "requirements/app.txt ./requirements/" in values["COPY"]
    assert any(copy.startswith("devtools/demo.py ") for copy in values["COPY"])  # the demo-app's script
    assert json.loads(values["ENTRYPOINT"][-1]) == ["otel-label-studio"]
    assert json.loads(values["CMD"][-1])[0] == "serve"
    assert values["EXPOSE"][-1].split() == ["4317", "4318"]
    user = values["USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    # USER comes after the install, so pip ran as root and the server does not.
    keywords = [k for k, _ in instructions]
    assert keywords.index("USER") > max(i for i, (k, r) in enumerate(instructions) if "pip install" in r)


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    patterns = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv*", ".pytest_cache", ".mypy_cache", ".ruff_cache"} <= patterns
    assert not patterns & {"src", "pyproject.toml", "README.md", "devtools"}
