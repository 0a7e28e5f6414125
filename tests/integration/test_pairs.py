"""Pairs from real LangChain spans (issue 17): formed, laid out blind, chosen, exported, scored back.

The pure parts run on spans made by the real instrumentation; the Label Studio parts create a
pairwise project in a real Label Studio, annotate through the API as a reviewer would and read
the results back through the CLI, the webhook mapping and the win-rate table.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableLambda

from otel_label_studio.analysis.datasets import pair_lines
from otel_label_studio.analysis.stats import wilson_interval
from otel_label_studio.delivery.labelstudio import LabelStudioClient, encode_task
from otel_label_studio.feedback import logs_request
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout, is_pairwise
from otel_label_studio.modes.pairs import (
    GENERATIONS,
    SAME_INPUT,
    Outcome,
    choice_of,
    flip,
    form_pairs,
    outcome_of,
    pair_evaluations,
    win_rates,
)
from otel_label_studio.reading.record import LLMRecord, Message
from tests.support import scenarios
from tests.support.pair_spans import (  # noqa: F401
    ANSWER_CANDIDATE,
    ANSWER_SERVED,
    QUESTION,
    NamedFakeChat,
    records_of,
    served_and_candidate,
)

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")


def record(span_id: str, outputs: list[str], *, start: int = 0, model: str = "m", trace: str = "t" * 32):
    return LLMRecord(
        trace_id=trace,
        span_id=span_id,
        operation="chat",
        dialect="genai",
        messages=[Message("user", "Hi?")],
        outputs=outputs,
        response_model=model,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 2_000_000,
    )


def pairwise(selected: str) -> dict[str, Any]:
    return {"from_name": "choice", "to_name": "choice", "type": "pairwise", "value": {"selected": selected}}


def verdict(value: str) -> dict[str, Any]:
    return {"from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": [value]}}


# --- forming pairs from real spans --------------------------------------------------------------


def test_two_models_on_the_same_messages_in_one_request_make_one_pair(captured):
    app_result = served_and_candidate()
    assert app_result["served"].content == ANSWER_SERVED  # the app got its answers
    records = records_of(captured.get_finished_spans())
    assert len(records) == 2 and len({r.trace_id for r in records}) == 1

    pairing = form_pairs(records)

    (pair,) = pairing.pairs
    assert pairing.unpaired == [] and pairing.identical == 0
    assert pair.kind == SAME_INPUT and pair.operation == "chat"
    assert [(m.role, m.content) for m in pair.messages] == [
        ("system", "Answer in one line."),
        ("user", "What is the capital of France?"),
    ]
    by_model = {side.model: side for side in (pair.a, pair.b)}
    assert set(by_model) == {"served-model", "candidate-model"}
    assert by_model["served-model"].answer == ANSWER_SERVED
    assert by_model["candidate-model"].answer == ANSWER_CANDIDATE
    span_ids = {r.span_id: r for r in records}
    for side in (pair.a, pair.b):
        assert span_ids[side.span_id].model == side.model and side.latency_ms is not None
    meta = pair.meta()["pair"]
    assert {meta["a"]["model"], meta["b"]["model"]} == {"served-model", "candidate-model"}
    assert meta["a"]["span_id"] == pair.a.span_id and meta["b"]["latency_ms"] == pair.b.latency_ms
    # replaying the same spans, in any order, gives the same sides
    assert form_pairs(list(reversed(records))).pairs == [pair]


def test_messages_equal_up_to_whitespace_pair_and_different_messages_do_not(captured):
    served = NamedFakeChat(responses=["Fine."], model_name="served-model")
    candidate = NamedFakeChat(responses=["All good, thanks."], model_name="candidate-model")
    other = NamedFakeChat(responses=["Blue."], model_name="served-model")

    def request(question: str) -> str:
        served.invoke([HumanMessage(content=question)])
        candidate.invoke([HumanMessage(content=f"  {question.replace(' ', '   ')}\n")])  # a shadow call
        return str(other.invoke([HumanMessage(content="What colour is the sky?")]).content)

    RunnableLambda(request).invoke("How are you today?")
    records = records_of(captured.get_finished_spans())
    assert len(records) == 3 and len({r.trace_id for r in records}) == 1

    pairing = form_pairs(records)

    (pair,) = pairing.pairs
    assert {pair.a.answer, pair.b.answer} == {"Fine.", "All good, thanks."}
    (lone,) = pairing.unpaired
    assert lone.outputs == ["Blue."]


def test_an_n2_call_is_one_pair_of_its_generations(captured):
    scenarios.n2()
    (single,) = records_of(captured.get_finished_spans())
    assert single.outputs == ["First answer", "Second answer"]

    (pair,) = form_pairs([single]).pairs

    assert pair.kind == GENERATIONS and pair.a.span_id == pair.b.span_id == single.span_id
    assert {(pair.a.generation, pair.a.answer), (pair.b.generation, pair.b.answer)} == {
        (0, "First answer"),
        (1, "Second answer"),
    }
    assert pair.pair_id == f"{single.span_id}#0|{single.span_id}#1"


def test_a_lone_call_is_unpaired(captured):
    scenarios.chat_system_human()
    records = records_of(captured.get_finished_spans())
    pairing = form_pairs(records)
    assert pairing.pairs == [] and pairing.unpaired == records


def test_more_than_two_candidates_each_meet_the_first():
    first = record("0" * 15 + "9", ["one"], start=10)
    later = [record(f"{i:016x}", [f"answer {i}"], start=20 + i) for i in range(3)]
    pairs = form_pairs([*later, first]).pairs
    assert len(pairs) == 3
    for pair, other in zip(pairs, later, strict=True):
        assert {pair.a.span_id, pair.b.span_id} == {first.span_id, other.span_id}


def test_identical_answers_are_dropped_and_counted_and_other_traces_do_not_mix():
    pairing = form_pairs(
        [
            record("a" * 16, ["Same  answer."]),
            record("b" * 16, ["Same answer. "]),
            record("c" * 16, ["Different."], trace="f" * 32),
        ]
    )
    assert pairing.pairs == [] and pairing.identical == 1
    assert [r.span_id for r in pairing.unpaired] == ["c" * 16]


def test_the_coin_is_fair_and_does_not_depend_on_argument_order():
    rng = random.Random(17)
    keys = [(f"{rng.getrandbits(64):016x}#0", f"{rng.getrandbits(64):016x}#0") for _ in range(4000)]
    heads = sum(flip(x, y) for x, y in keys)
    assert 1850 < heads < 2150  # 4000 fair flips: within 4.7 standard deviations of 2000
    assert all(flip(x, y) != flip(y, x) for x, y in keys)
    # and the sides follow it: the first record is A about half the time
    firsts = 0
    for i in range(400):
        one, two = record(f"{2 * i:016x}", ["x"], start=1), record(f"{2 * i + 1:016x}", ["y"], start=2)
        (pair,) = form_pairs([one, two]).pairs
        firsts += pair.a.span_id == one.span_id
    assert 160 < firsts < 240


# --- the layout --------------------------------------------------------------------------------


def test_the_pairwise_layout_binds_and_its_tasks_hide_the_models():
    layout = PairLayout.from_config(PAIRWISE_CONFIG)
    assert (layout.pairwise_name, layout.answer_keys, layout.prompt_key, layout.dialogue) == (
        "choice",
        ("answer_a", "answer_b"),
        "prompt",
        True,
    )
    assert layout.verdict_name == "verdict" and layout.correction_names == ("correction_a", "correction_b")
    assert is_pairwise(PAIRWISE_CONFIG) and not is_pairwise("<View><Text name='t' value='$t'/></View>")

    pair = form_pairs([record("a" * 16, ["Hello!"], model="gpt-x"), record("b" * 16, ["Hi."], model="gpt-y")])
    task = layout.task(pair.pairs[0])
    data = json.dumps(task["data"])
    assert (
        "gpt-x" not in data
        and "gpt-y" not in data
        and "a" * 16 not in data.replace(pair.pairs[0].pair_id, "")
    )
    assert task["data"]["prompt"] == [{"role": "user", "content": "Hi?"}]
    assert {task["data"]["answer_a"], task["data"]["answer_b"]} == {"Hello!", "Hi."}
    assert "predictions" not in task  # nothing pre-selects a side
    assert task["meta"]["pair"]["a"]["model"] in ("gpt-x", "gpt-y")


@pytest.mark.parametrize(
    "config, message",
    [
        ("<View><Text name='p' value='$p'/><TextArea name='r' toName='p'/></View>", "needs <Pairwise"),
        (
            "<View><Pairwise name='c' toName='x,y'/>"
            "<Text name='x' value='$x'/><Text name='y' value='$y'/></View>",
            "prompt",
        ),
        ("<View><Pairwise name='c' toName='x,x'/><Text name='x' value='$x'/></View>", "two objects"),
    ],
)
def test_a_pairwise_config_that_cannot_work_says_why(config, message):
    with pytest.raises(ValueError, match=message):
        PairLayout.from_config(config)


# --- choices, feedback, win rates --------------------------------------------------------------


def test_a_verdict_wins_over_a_selected_side():
    assert choice_of([pairwise("left")]) == "a"
    assert choice_of([pairwise("right")]) == "b"
    assert choice_of([verdict("Tie")]) == "tie"
    assert choice_of([pairwise("left"), verdict("Both bad")]) == "both_bad"
    assert choice_of([]) is None
    assert choice_of([pairwise("left")], pairwise_name="other") is None


def test_win_rates_match_hand_computed_numbers():
    outcomes = (
        [Outcome("m1", "m2", "a")] * 5
        + [Outcome("m2", "m1", "b")] * 2  # m1 won again, from the other side
        + [Outcome("m2", "m1", "a")] * 3  # m2 won
        + [Outcome("m1", "m2", "tie"), Outcome("m2", "m1", "both_bad"), Outcome("m1", "m1", "a")]
    )
    (rate,) = win_rates(outcomes)
    assert (rate.first, rate.second, rate.wins, rate.losses, rate.ties, rate.both_bad) == (
        "m1",
        "m2",
        7,
        3,
        1,
        1,
    )
    assert rate.win_rate == 0.7
    assert (round(rate.low, 4), round(rate.high, 4)) == (0.3968, 0.8922)  # scipy's binomtest wilson


@pytest.mark.parametrize(
    "k, n, low, high", [(7, 10, 0.3968, 0.8922), (0, 10, 0.0, 0.2775), (55, 100, 0.4524, 0.6439)]
)
def test_wilson_interval(k, n, low, high):
    got = wilson_interval(k, n)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)


# --- against the real Label Studio -------------------------------------------------------------


@pytest.mark.integration
def test_reviewers_choices_become_preference_and_reward_lines_scores_and_win_rates(
    captured, label_studio, ls, project_name, tmp_path
):
    for _ in range(4):  # four requests, each answered by both models
        served_and_candidate()
    scenarios.n2()
    pairing = form_pairs(records_of(captured.get_finished_spans()))
    assert len(pairing.pairs) == 5 and not pairing.unpaired
    model_pairs = [p for p in pairing.pairs if p.kind == SAME_INPUT]
    n2_pair = next(p for p in pairing.pairs if p.kind == GENERATIONS)
    layout = PairLayout.from_config(PAIRWISE_CONFIG)

    client = LabelStudioClient(label_studio.url, label_studio.pat, 30)
    try:
        project = client.create_project(project_name, PAIRWISE_CONFIG)  # Label Studio accepts the config
        pairs = [*model_pairs, n2_pair]
        imported = client.import_tasks(project.id, [encode_task(layout.task(p)) for p in pairs])
    finally:
        client.close()
    assert len(imported.task_ids) == 5
    tasks = {t.id: t for t in ls.tasks.list(project=project.id, fields="all")}
    for task_id, pair in zip(imported.task_ids, pairs, strict=True):
        assert tasks[task_id].data["answer_a"] == pair.a.answer
        assert tasks[task_id].meta["pair"]["a"]["span_id"] == pair.a.span_id

    # the reviewer: A on the first, B on the second, a tie, both bad, and A on the n=2 pair
    results = [
        [pairwise("left")],
        [pairwise("right")],
        [verdict("Tie")],
        [pairwise("left"), verdict("Both bad")],
        [
            pairwise("left"),
            {
                "from_name": "correction_a",
                "to_name": "answer_a",
                "type": "textarea",
                "value": {"text": ["Hi"]},
            },
        ],
    ]
    annotation_ids = []
    for task_id, result in zip(imported.task_ids, results, strict=True):
        annotation = ls.annotations.create(id=task_id, result=result, was_cancelled=False, lead_time=3.2)
        annotation_ids.append(annotation.id)
    read_back = [list(ls.annotations.list(id=task_id)) for task_id in imported.task_ids]
    assert [a[0].result for a in read_back] == results

    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    lines = {}
    for fmt in ("preference", "reward"):
        output = tmp_path / f"{fmt}.jsonl"
        done = subprocess.run(
            [SCRIPT, "export", "--project-id", str(project.id), "--format", fmt, "--output", str(output)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        lines[fmt] = [json.loads(line) for line in output.read_text().splitlines()]
        if fmt == "preference":
            assert "pairs skipped: 1 both bad, 1 tie" in done.stderr

    prompt = [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    first, second = model_pairs[0], model_pairs[1]

    def common(index):
        return {
            "trace_id": pairs[index].trace_id,
            "pair_id": pairs[index].pair_id,
            "task_id": imported.task_ids[index],
            "annotation_id": annotation_ids[index],
        }

    def preference(index, chosen, rejected):
        return {
            "prompt": prompt if index < 4 else [{"role": "user", "content": "Say something twice"}],
            "chosen": [{"role": "assistant", "content": chosen.answer}],
            "rejected": [{"role": "assistant", "content": rejected.answer}],
            "metadata": {
                "chosen_span_id": chosen.span_id,
                "chosen_model": chosen.model,
                "rejected_span_id": rejected.span_id,
                "rejected_model": rejected.model,
            }
            | common(index),
        }

    assert lines["preference"] == [
        preference(0, first.a, first.b),
        preference(1, second.b, second.a),
        preference(4, n2_pair.a, n2_pair.b),
    ]
    reward = [(line["response"], line["score"], line["metadata"]["outcome"]) for line in lines["reward"]]
    assert reward == [
        (first.a.answer, 1.0, "a"),
        (first.b.answer, 0.0, "a"),
        (second.a.answer, 0.0, "b"),
        (second.b.answer, 1.0, "b"),
        (model_pairs[2].a.answer, 0.5, "tie"),
        (model_pairs[2].b.answer, 0.5, "tie"),
        (model_pairs[3].a.answer, 0.0, "both_bad"),
        (model_pairs[3].b.answer, 0.0, "both_bad"),
        (n2_pair.a.answer, 1.0, "a"),
        (n2_pair.b.answer, 0.0, "a"),
    ]
    assert lines["reward"][0]["metadata"]["span_id"] == first.a.span_id
    assert lines["reward"][0]["metadata"]["model"] == first.a.model

    # win rates from the tasks as Label Studio returns them
    stored = [tasks_with_annotations(ls, task_id) for task_id in imported.task_ids]
    outcomes = [outcome_of(task) for task in stored]
    assert [o.choice for o in outcomes] == ["a", "b", "tie", "both_bad", "a"]
    (rate,) = win_rates(outcomes)
    wins_of_first = sum(
        1
        for p, choice in ((first, "a"), (second, "b"))
        if (p.a if choice == "a" else p.b).model == rate.first
    )
    assert (rate.first, rate.second) == ("candidate-model", "served-model")
    assert (rate.wins, rate.losses, rate.ties, rate.both_bad) == (wins_of_first, 2 - wins_of_first, 1, 1)

    # scores back: the webhook payload Label Studio would send for the first annotation
    payload = {"action": "ANNOTATION_CREATED", "task": stored[0], "annotation": stored[0]["annotations"][0]}
    events = pair_evaluations(payload, now_ns=1)
    assert [(e.span_id, e.label, e.score) for e in events] == [
        (first.a.span_id, "preferred", 1.0),
        (first.b.span_id, "rejected", 0.0),
    ]
    assert all(e.trace_id == first.trace_id and e.task_id == imported.task_ids[0] for e in events)
    tie_events = pair_evaluations(
        {"action": "ANNOTATION_UPDATED", "task": stored[2], "annotation": stored[2]["annotations"][0]},
        now_ns=1,
    )
    assert [(e.span_id, e.label) for e in tie_events] == [
        (model_pairs[2].a.span_id, "tie"),
        (model_pairs[2].b.span_id, "tie"),
    ]
    (resource_logs,) = logs_request(events).resource_logs
    encoded = resource_logs.scope_logs[0].log_records
    assert [r.span_id.hex() for r in encoded] == [first.a.span_id, first.b.span_id]


def tasks_with_annotations(ls, task_id: int) -> dict[str, Any]:
    task = ls.tasks.get(id=task_id)
    plain = task.model_dump(mode="json")
    plain["annotations"] = [a.model_dump(mode="json") for a in ls.annotations.list(id=task_id)]
    return plain


def test_pair_lines_refuse_what_does_not_apply():
    layout = PairLayout.from_config(PAIRWISE_CONFIG)
    with pytest.raises(ValueError, match="preference or reward"):
        list(pair_lines([], layout, "sft"))
    skipped: Counter[str] = Counter()
    task = {
        "id": 1,
        "data": {},
        "meta": {"pair": {"a": {}, "b": {}}},
        "annotations": [{"id": 1, "result": []}],
    }
    assert list(pair_lines([task], layout, "preference", skipped=skipped)) == []
    assert skipped == {"no_choice": 1}
