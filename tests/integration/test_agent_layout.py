"""The agent layout against the real Label Studio: a run captured from a real LangGraph agent becomes a
task the server takes, a reviewer's judgments on it round-trip, and `export` turns it into training lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_label_studio.analysis.datasets import Binding, dataset_lines
from otel_label_studio.modes.layouts import AGENT_CONFIG, CHAT_CONFIG, PROMPT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import NO_WRONG_STEP, TRAJECTORY_KEY, run_task
from tests.support.agent_runs import captured_run
from tests.support.old_agent_config import FIRST_AGENT_CONFIG

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
CORRECTED = "Sunny, 22C in Paris today (source: today.txt)."


def test_the_agent_task_holds_the_trajectory(captured):
    run = captured_run(captured)
    task = run_task(Layout.from_config(AGENT_CONFIG), run)
    data = task["data"]
    assert [item["role"] for item in data["steps"]] == [
        "user",
        "1 · model ToolCallingFake.chat",
        "2 · tool search_weather",
        "3 · retriever WeatherNotes",
        "4 · model ToolCallingFake.chat",
    ]
    assert data["steps"][0]["content"] == "What's the weather in Paris?"
    assert data["steps"][1]["content"] == '→ calls search_weather {"city": "Paris"}'
    assert data["steps"][2]["content"] == (
        'arguments: {"city": "Paris"}\nresult: Paris weather today: sunny, 22C.'
    )
    assert data["steps"][3]["content"].startswith(
        "query: weather in Paris\n[1] Paris weather today: sunny, 22C. (source: today.txt)\n[2] Lyon"
    )
    assert "… [cut: 2320 more characters] (source: lyon)" in data["steps"][3]["content"]
    assert data["steps"][4]["content"] == "It is sunny and 22C in Paris."
    assert "step_options" not in data  # issue 25: no "first wrong step" row, no raw JSON of its options
    assert all(isinstance(item["content"], str) for item in data["steps"])  # Paragraphs needs strings
    assert (data["trace_id"], data["span_id"]) == (run.trace_id, run.span_id)
    assert (data["steps_count"], data["tools_called"], data["errors"], data["incomplete"]) == (
        4,
        "search_weather",
        0,
        False,
    )
    assert data[TRAJECTORY_KEY] == {"messages": run.messages(), "tools": run.tools}
    assert [step["span_id"] for step in task["meta"]["steps"]] == [step.span_id for step in run.steps]
    assert task["meta"]["steps"][1]["tool_call_id"] == "call_Paris"
    assert task["meta"]["totals"] == run.totals
    [prediction] = task["predictions"]
    assert prediction["result"] == [
        {
            "from_name": "response",
            "to_name": "steps",
            "type": "textarea",
            "value": {"text": ["It is sunny and 22C in Paris."]},
        }
    ]


def test_a_project_of_the_first_agent_layout_still_gets_its_step_options(captured):
    """A project made before issue 25 reads $step_options for its "first wrong step" row: still filled."""
    run = captured_run(captured)
    data = run_task(Layout.from_config(FIRST_AGENT_CONFIG), run)["data"]
    assert data["step_options"][0] == {"value": NO_WRONG_STEP}
    assert [o["value"] for o in data["step_options"][1:]] == [i["role"] for i in data["steps"][1:]]
    assert data["steps"][0] == {"role": "user", "content": "What's the weather in Paris?"}


@pytest.mark.parametrize("config, key, kind", [(PROMPT_CONFIG, "prompt", str), (CHAT_CONFIG, "prompt", list)])
def test_a_users_own_config_binds_to_runs(captured, config, key, kind):
    run = captured_run(captured)
    custom = config.replace("</View>\n<Header", '</View>\n<Text name="ask" value="$request"/>\n<Header', 1)
    tools = '<Text name="tools" value="$tools_called"/>\n'
    custom = custom.replace('<Rating name="rating"', tools + '<Rating name="rating"')
    task = run_task(Layout.from_config(custom), run)
    assert isinstance(task["data"][key], kind)
    assert task["data"]["request"] == "What's the weather in Paris?"
    assert task["data"]["tools_called"] == "search_weather"
    assert "2 · tool search_weather" in json.dumps(task["data"][key], ensure_ascii=False)


def assert_openai_sft_line(line: dict) -> None:
    """The OpenAI chat fine-tuning line with tools (``FineTuneChatRequestInput``)."""
    messages = line["messages"]
    assert {m["role"] for m in messages} <= {"system", "user", "assistant", "tool"}
    called: set[str] = set()
    for message in messages:
        if message["role"] == "assistant" and "tool_calls" in message:
            for call in message["tool_calls"]:
                assert set(call) == {"id", "type", "function"} and call["type"] == "function"
                assert isinstance(call["function"]["name"], str)
                assert isinstance(call["function"]["arguments"], str)  # JSON text, not an object
                json.loads(call["function"]["arguments"])
                called.add(call["id"])
        elif message["role"] == "tool":
            assert set(message) == {"role", "tool_call_id", "content"}
            assert message["tool_call_id"] in called, "a tool result answers a call made before it"
            assert isinstance(message["content"], str)
        else:
            assert isinstance(message["content"], str)
    assert messages[-1]["role"] == "assistant" and "tool_calls" not in messages[-1]
    for tool in line.get("tools", []):
        assert tool["type"] == "function" and isinstance(tool["function"]["name"], str)
        assert tool["function"]["parameters"]["type"] == "object"


@pytest.mark.integration
def test_label_studio_takes_the_run_and_export_writes_tool_calls(
    captured, label_studio, ls, project_name, tmp_path
):
    run = captured_run(captured)
    project = ls.projects.create(title=project_name, label_config=AGENT_CONFIG)
    task = run_task(Layout.from_config(AGENT_CONFIG), run)
    imported = ls.projects.import_tasks(id=project.id, request=[task], return_task_ids=True)
    [task_id] = imported.task_ids
    stored = ls.tasks.get(id=task_id)
    assert stored.data["steps"] == task["data"]["steps"]
    assert stored.data[TRAJECTORY_KEY] == task["data"][TRAJECTORY_KEY]
    assert stored.meta["steps"][1]["span_id"] == run.steps[1].span_id

    tool_item = task["data"]["steps"][2]["content"]
    region = {"start": "2", "end": "2", "startOffset": 0, "endOffset": len(tool_item)}
    result = [
        {"id": "r1", "from_name": "step_judgment", "to_name": "steps", "type": "paragraphlabels",
         "value": {**region, "text": tool_item, "paragraphlabels": ["Wrong step"]}},
        {"from_name": "failure_modes", "to_name": "steps", "type": "choices",
         "value": {"choices": ["Unsupported claim"]}},
        {"from_name": "response", "to_name": "steps", "type": "textarea", "value": {"text": [CORRECTED]}},
        {"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 2}},
    ]  # fmt: skip
    annotation = ls.annotations.create(id=task_id, result=result, was_cancelled=False)
    assert annotation.result == result

    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    lines = {}
    for fmt in ("sft", "preference"):
        output = tmp_path / f"{fmt}.jsonl"
        done = subprocess.run(
            [SCRIPT, "export", "--project-id", str(project.id), "--format", fmt, "--output", str(output),
             "--no-progress"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines[fmt] = [json.loads(line) for line in output.read_text().splitlines()]

    [sft] = lines["sft"]
    assert_openai_sft_line(sft)
    assert sft["messages"] == [*run.messages(), {"role": "assistant", "content": CORRECTED}]
    assert [m["role"] for m in sft["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert sft["messages"][2]["tool_calls"][0]["function"] == {
        "name": "search_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert sft["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_Paris",
        "content": "Paris weather today: sunny, 22C.",
    }
    assert sft["tools"] == run.tools
    assert (sft["metadata"]["trace_id"], sft["metadata"]["span_id"]) == (run.trace_id, run.span_id)
    [preference] = lines["preference"]
    assert preference["prompt"] == run.messages()
    assert preference["chosen"] == [{"role": "assistant", "content": CORRECTED}]
    assert preference["rejected"] == [{"role": "assistant", "content": "It is sunny and 22C in Paris."}]
    assert preference["tools"] == run.tools


def test_a_call_task_has_no_tools_and_keeps_its_line(captured):
    """A project of single calls exports as before: no trajectory, no tools key."""
    binding = Binding.from_config(CHAT_CONFIG)
    task = {
        "id": 1,
        "data": {"prompt": [{"role": "user", "content": "Hi"}]},
        "predictions": [{"result": [{"from_name": "response", "type": "textarea",
                                     "value": {"text": ["Yo"]}}]}],
        "annotations": [{"id": 2, "result": [{"from_name": "response", "type": "textarea",
                                              "value": {"text": ["Hello"]}}]}],
    }  # fmt: skip
    [line] = dataset_lines([task], binding, "sft")
    assert "tools" not in line
    assert line["messages"] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


@pytest.mark.integration
def test_a_project_of_the_first_agent_layout_still_receives_runs_exports_and_reports(
    routing, label_studio, ls, project_name, tmp_path
):
    """issue 25: a project created with the agent layout before it still gets tasks (its $steps and
    $step_options filled), its "first wrong step" choice is what the report counts, and export works."""
    from otel_label_studio import LabelStudioSpanExporter
    from tests.support import scenarios
    from tests.support.pipelines import pipeline

    project = ls.projects.create(title=project_name, label_config=FIRST_AGENT_CONFIG)
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode="agent", run_grace=0.5
    )
    with pipeline(routing, exporter):
        scenarios.agent_run()
    assert exporter.force_flush(30_000)
    exporter.shutdown()
    [task] = ls.tasks.list(project=project.id, fields="all")
    assert task.data["step_options"][2] == {"value": "2 · tool search_weather"}
    result = [
        {"from_name": "first_wrong_step", "to_name": "steps", "type": "choices",
         "value": {"choices": ["2 · tool search_weather"]}},
        {"from_name": "failure_modes", "to_name": "steps", "type": "choices",
         "value": {"choices": ["Ignored tool result"]}},
        {"from_name": "response", "to_name": "steps", "type": "textarea", "value": {"text": [CORRECTED]}},
        {"from_name": "rating", "to_name": "steps", "type": "rating", "value": {"rating": 2}},
    ]  # fmt: skip
    ls.annotations.create(id=task.id, result=result, was_cancelled=False)

    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    output = tmp_path / "sft.jsonl"
    done = subprocess.run(
        [SCRIPT, "export", "--project-id", str(project.id), "--format", "sft", "--output", str(output),
         "--no-progress"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [sft] = [json.loads(line) for line in output.read_text().splitlines()]
    assert_openai_sft_line(sft)
    assert sft["messages"][-1] == {"role": "assistant", "content": CORRECTED}
    done = subprocess.run(
        [SCRIPT, "report", "--project-id", str(project.id), "--json", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert (runs["runs"], runs["reviewed"], runs["statuses"]) == (1, 1, {"succeeded": 1})
    assert runs["first_wrong_by_kind"] == {"tool": 1}
    assert runs["first_wrong_by_tool"] == {"tool search_weather": 1}
    assert runs["failure_modes"] == {"Ignored tool result": 1}
