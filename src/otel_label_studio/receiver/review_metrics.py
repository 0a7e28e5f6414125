"""The review rules' counters on ``/metrics``: one function, kept apart from the rest of the
exposition so it can be pointed at whichever metrics backend ``/metrics`` uses."""

from __future__ import annotations

from ..rules import ReviewGate

PREFIX = "otel_label_studio_"

#: ReviewCounts' per-rule counters, as the metric's ``outcome`` label names them.
_OUTCOMES = ("matched", "kept", "sampled_out", "over_limit", "folded")


def render(gate: ReviewGate) -> str:
    """Per rule the spans matched, kept, sampled out, over the limit and folded; the spans no rule
    matched; folded repeats per project (Prometheus text format 0.0.4)."""
    counts = gate.counts()
    name = f"{PREFIX}review_spans_total"
    lines = [
        f"# HELP {name} LLM spans decided by the review rules, per rule and outcome "
        '(rule="" outcome="no_rule_matched": spans no rule matched, no task).',
        f"# TYPE {name} counter",
    ]
    for rule, values in counts.rules.items():
        for outcome in _OUTCOMES:
            lines.append(f'{name}{{rule="{_label(rule)}",outcome="{outcome}"}} {getattr(values, outcome)}')
    lines.append(f'{name}{{rule="",outcome="no_rule_matched"}} {counts.no_rule}')
    folded = f"{PREFIX}review_folded_repeats_total"
    lines += [
        f"# HELP {folded} Repeats of a recent task (same input and response) folded, per project.",
        f"# TYPE {folded} counter",
    ]
    for project, count in sorted(gate.state.folded_by_project().items()):
        lines.append(f'{folded}{{project="{_label(project)}"}} {count}')
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
