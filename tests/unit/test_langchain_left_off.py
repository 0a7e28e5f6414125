"""Which LangChain instrumentors ``opentelemetry-instrument`` would leave off (``distro.langchain_left_off``),
read from their distributions' declared instruments as ``opentelemetry-instrument`` reads them."""

from __future__ import annotations

from importlib.metadata import entry_points

from opentelemetry.instrumentation import dependencies
from packaging.requirements import Requirement

from otel_label_studio import distro
from otel_label_studio.doctor import WARN, diagnose


def langchain_entry_points():
    return [entry for entry in entry_points(group="opentelemetry_instrumentor") if entry.name == "langchain"]


def test_an_instrumentor_whose_package_is_missing_is_named_with_what_to_install(monkeypatch):
    assert langchain_entry_points(), "the dev environment has a LangChain instrumentor"
    for required in ('langchain; extra == "instruments"', Requirement('langchain; extra == "instruments"')):
        conflict = dependencies.DependencyConflict(required)
        monkeypatch.setattr(dependencies, "get_dist_dependency_conflicts", lambda dist, c=conflict: c)
        left_off = distro.langchain_left_off()
        assert {item.package for item in left_off} == {"langchain"}
        assert {item.distribution for item in left_off} == {e.dist.name for e in langchain_entry_points()}
        assert left_off[0].fix().startswith("pip install langchain")
    monkeypatch.setattr(dependencies, "get_dist_dependency_conflicts", lambda dist: None)
    assert distro.langchain_left_off() == []


def test_doctor_warns_instead_of_saying_langchain_is_instrumented(monkeypatch):
    conflict = dependencies.DependencyConflict('langchain; extra == "instruments"')
    monkeypatch.setattr(dependencies, "get_dist_dependency_conflicts", lambda dist: conflict)
    settings = distro_settings()
    findings = [f for f in diagnose(settings, timeout=0.5) if f.check == "instrumentation"]
    assert findings and all(f.status == WARN and "leaves it off" in f.detail for f in findings), findings
    assert all(f.fix.startswith("pip install langchain") for f in findings)


def distro_settings():
    from otel_label_studio.config import read_settings

    return read_settings(
        ("url", "api_key"), environ={"LABEL_STUDIO_URL": "http://127.0.0.1:9"}, unchecked=("url",)
    )
