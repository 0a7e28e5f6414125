"""docs/alerts/judges.yaml: Prometheus alerting rules that parse, and name only metrics serve declares."""

from __future__ import annotations

import re

import yaml

from otel_label_studio.receiver.metrics import INSTRUMENTS
from tests.support.prerequisites import REPO_ROOT


def prometheus_name(name: str, kind: str) -> str:
    """The Prometheus reader's name: dots to underscores, ``_total`` on a counter (these have no unit)."""
    base = name.replace(".", "_")
    return base + "_total" if kind == "counter" else base


def test_the_alert_rules_parse_and_name_declared_metrics():
    rules = yaml.safe_load((REPO_ROOT / "docs" / "alerts" / "judges.yaml").read_text(encoding="utf-8"))
    declared = {prometheus_name(i.name, i.kind) for i in INSTRUMENTS}
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} >= {"JudgeCorrectedPassRateLow"}
    for rule in alerts:
        named = set(re.findall(r"otel_label_studio_[a-z_]+", rule["expr"]))
        assert named and named <= declared, rule["expr"]
    low = next(rule for rule in alerts if rule["alert"] == "JudgeCorrectedPassRateLow")
    assert low["expr"] == "otel_label_studio_judge_corrected_pass_rate < 0.9"
    assert "otel_label_studio_judge_corrected_pass_rate" in declared
