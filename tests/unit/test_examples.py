"""The sample captures in ``examples/`` (written by ``devtools/examples.py``): small, and
read by the commands that take them as a user would run them (``rules check``), each mode's file
holding what its mode needs."""

from __future__ import annotations

import pytest

from devtools import examples
from otel_label_studio.cli import main
from otel_label_studio.config import default
from otel_label_studio.modes.pairs import form_pairs
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.spanview import from_otlp
from otel_label_studio.receiver.otlp_logs import judge_results, parse_logs_request
from otel_label_studio.receiver.replay import read_files

EXAMPLES = examples.EXAMPLES
RULES = "rules:\n  - name: failures\n    match: {status: error}\n  - name: everything\n"


def test_the_examples_are_small():
    for name in ("prompt", "chat", "agent", "pair", "judge-results"):
        size = (EXAMPLES / f"{name}.jsonl").stat().st_size
        assert 0 < size < 40_000, (name, size)
    assert (EXAMPLES / "README.md").is_file()


@pytest.mark.parametrize(
    ("name", "mode", "summary", "tasks"),
    [
        ("prompt", "prompt", "3 spans in 1 file, 3 of them LLM spans.", 3),
        ("chat", "chat", "3 spans in 1 file, 3 of them LLM spans.", 3),
        ("agent", "agent", "9 spans in 1 file, 2 of them LLM spans.", 2),
        ("pair", "chat", "2 of them LLM spans.", 2),
    ],
)
def test_rules_check_reads_each_example(name, mode, summary, tasks, tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    capture = str(EXAMPLES / f"{name}.jsonl")
    assert main(["rules", "check", "--review-rules", str(rules), "--mode", mode, capture]) == 0
    out = capsys.readouterr().out
    assert f"{rules}: valid, 2 rules. {summary}" in out or summary in out, out
    assert f"tasks: {tasks}" in out, out


def test_the_pair_example_is_one_pair_and_pairwise_takes_no_rules(tmp_path, capsys):
    mapper = Mapper(metadata_prefix=default("metadata_prefix"), include_errors=False)
    [request] = read_files([str(EXAMPLES / "pair.jsonl")])
    pairing = form_pairs(mapper.map(from_otlp(request)).records)
    assert len(pairing.pairs) == 1 and not pairing.unpaired
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    capture = str(EXAMPLES / "pair.jsonl")
    assert main(["rules", "check", "--review-rules", str(rules), "--mode", "pairwise", capture]) == 2
    assert "review rules do not apply to mode pairwise" in capsys.readouterr().err


def test_the_judge_results_judge_the_chat_examples_spans():
    [chat] = read_files([str(EXAMPLES / "chat.jsonl")])
    chat_spans = {view.span_id for view in from_otlp(chat)}
    body = (EXAMPLES / "judge-results.jsonl").read_bytes()
    found = judge_results(parse_logs_request(body, "json", max_records=100), observed_ns=0)
    assert found.records == 3 and not found.rejected and not found.problems
    assert {event.span_id for event in found.events} == chat_spans
    assert {event.result["name"] for event in found.events} == {"helpfulness"}
