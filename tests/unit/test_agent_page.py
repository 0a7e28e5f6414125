"""The agent layout's page, the pure parts (issue 25): what a run's task holds for the reviewer (step 0, the
steps named by kind, a failed step marked, the status line and the final answer), what the config asks of
them (nothing required that a pre-fill defeats), the Data Manager tab, and the first wrong step as the
earliest step marked wrong."""

from __future__ import annotations

from dataclasses import replace
from xml.etree import ElementTree

from otel_label_studio.modes.layouts import AGENT_CONFIG, Layout
from otel_label_studio.modes.run_tasks import run_task
from tests.support.agent_runs import captured_run, raising_run

AGENT = Layout.from_config(AGENT_CONFIG)


def test_step_0_is_the_system_prompt_and_the_tools_offered(captured):
    data = run_task(AGENT, raising_run(captured))["data"]
    assert data["setup"] == [
        {
            "role": "0 · system prompt and tools offered",
            "content": "System prompt:\nYou are a weather assistant. Answer in Fahrenheit.\n\n"
            "Tools offered (2):\n"
            "• get_weather(city): Today's weather in a city.\n"
            "• get_time(zone): The local time in a time zone.",
        }
    ]
    # shown by the layout above the steps, in the same dialogue style
    assert AGENT_CONFIG.index('value="$setup"') < AGENT_CONFIG.index('value="$steps"')
    assert data["steps"][0] == {"role": "user", "content": "What's the weather in Rome?"}  # item n: step n


def test_a_run_whose_spans_recorded_no_system_prompt_or_tools_says_so(captured):
    run = replace(captured_run(captured), prompt=[], tools=[])
    [setup] = run_task(AGENT, run)["data"]["setup"]
    assert setup["content"] == "System prompt:\n(none recorded)\n\nTools offered: none recorded"


def test_each_step_is_named_by_its_kind_and_a_failed_step_says_so_in_its_heading(captured):
    answered = run_task(AGENT, captured_run(captured))["data"]["steps"]
    assert [item["role"] for item in answered] == [
        "user",
        "1 · model ToolCallingFake.chat",
        "2 · tool search_weather",
        "3 · retriever WeatherNotes",
        "4 · model ToolCallingFake.chat",
    ]
    captured.clear()
    raised = run_task(AGENT, raising_run(captured))["data"]["steps"]
    assert [item["role"] for item in raised] == [
        "user",
        "1 · model ToolCallingFake.chat",
        "2 · tool get_weather · ✗ failed",
    ]
    # Label Studio colours a turn by a hash of its name: the layout gives every step one colour instead
    style = AGENT_CONFIG[AGENT_CONFIG.index("<Style>") : AGENT_CONFIG.index("</Style>")]
    assert "--highlight-color: #9e9e9e !important" in style and "color: #212121 !important" in style
    assert not set(style[len("<Style>") :]) & set("\"'<>&")  # Label Studio HTML-escapes a Style's text


def test_the_status_line_and_the_final_answer_beside_it(captured):
    answered = captured_run(captured)
    data = run_task(AGENT, answered)["data"]
    assert (data["status"], data["run_status"]) == ("succeeded", "✓ Succeeded · 4 steps, none failed")
    assert data["answer"] == "It is sunny and 22C in Paris."

    cut = run_task(AGENT, replace(answered, incomplete=True, final_answer=""))["data"]
    assert cut["status"] == "cut off"
    assert cut["run_status"].startswith("⚠ Cut off (incomplete): the run's end was never recorded · 4 steps")
    assert cut["answer"] == "No final answer recorded: the run was cut off."

    captured.clear()
    data = run_task(AGENT, raising_run(captured))["data"]
    assert data["status"] == "raised"
    assert data["run_status"] == (
        "✗ Raised ConnectionError: weather service unreachable for Rome · "
        "2 steps, 1 failed (2 · tool get_weather)"
    )
    assert data["answer"] == "No final answer: the run raised before answering."
    # both at the top of the page, beside each other, above the steps
    top = AGENT_CONFIG.index('className="run-summary"')
    assert top < AGENT_CONFIG.index('value="$run_status"') < AGENT_CONFIG.index('value="$answer"')
    assert AGENT_CONFIG.index('value="$answer"') < AGENT_CONFIG.index("<Paragraphs")


def test_nothing_is_marked_required_that_submitting_without_it_would_not_stop(captured):
    """The answer box was required="true", yet a run that raised pre-filled it with an empty answer, which
    Label Studio counts as filled: submitting with it empty succeeded. It is optional now, and a run without
    an answer pre-fills nothing (the box shows its placeholder)."""
    controls = ElementTree.fromstring(AGENT_CONFIG.strip()).iter()
    assert [c.get("name") for c in controls if c.get("required") == "true"] == []
    [prediction] = run_task(AGENT, raising_run(captured))["predictions"]
    assert prediction["result"] == []
    assert 'placeholder="The right final answer, if you know it (optional)"' in AGENT_CONFIG
    captured.clear()
    [prediction] = run_task(AGENT, captured_run(captured))["predictions"]
    assert prediction["result"][0]["value"] == {"text": ["It is sunny and 22C in Paris."]}


def test_the_data_manager_tab_shows_the_run_fields_typed_and_no_raw_json(captured):
    from otel_label_studio.modes.dm_view import data_column, needs_tab, view_for

    data = run_task(AGENT, raising_run(captured))["data"]
    assert needs_tab(AGENT)
    view = view_for(AGENT, [])
    # the fields a reviewer sorts by first come first (after what the config shows, all hidden)
    table = [key for key in data if data_column(key) not in view["hiddenColumns"]["explore"]]
    first = ["status", "errors", "tools_called", "steps_count", "duration_ms", "total_tokens"]
    assert table == [*first, "model", "trace_id"]
    assert list(AGENT.variables[:6]) == first  # the config declares them first: Label Studio lists them so
    assert [data[key] for key in table[:6]] == ["raised", 2, "get_weather", 2, data["duration_ms"], 0]
    assert isinstance(data["duration_ms"], int)  # whole milliseconds
    for key in ("errors", "steps_count", "duration_ms", "total_tokens"):
        assert view["columnsDisplayType"][data_column(key)] == "Number"
    # no list or object shows as a column, in the table or the labeling view's task list
    raw = [key for key, value in data.items() if isinstance(value, (list, dict))]
    assert "step_options" not in data and raw == ["steps", "setup", "trajectory"]
    for mode in ("explore", "labeling"):
        assert {data_column(key) for key in raw} <= set(view["hiddenColumns"][mode])
    listed = [key for key in data if data_column(key) not in view["hiddenColumns"]["labeling"]]
    assert listed == ["status", "errors", "tools_called", "steps_count"]
    assert "tasks:total_predictions" in view["hiddenColumns"]["explore"]  # one per run, always


def test_the_first_wrong_step_is_the_earliest_step_marked_wrong():
    from otel_label_studio.modes.run_answers import read_run_answer

    def region(start: int, end: int, label: str) -> dict:
        value = {"start": str(start), "end": str(end), "text": "x", "paragraphlabels": [label]}
        return {"from_name": "step_judgment", "type": "paragraphlabels", "value": value}

    def choice(name: str, *values: str) -> dict:
        return {"from_name": name, "type": "choices", "value": {"choices": list(values)}}

    marked = read_run_answer(
        [region(1, 1, "Good step"), region(5, 5, "Wrong step"), region(3, 4, "Wrong step")]
    )
    assert marked.first_wrong_step == 3 and marked.chosen is None
    assert list(marked.marks) == [1, 3, 4, 5] and marked.marks[4] == (["Wrong step"], ["x"])
    assert read_run_answer([region(0, 0, "Wrong step")]).first_wrong_step is None  # item 0: the request
    assert read_run_answer([region(2, 2, "Good step")]).first_wrong_step is None
    # the first agent layout's row, where a project still has it, says it outright
    chosen = read_run_answer(
        [region(3, 3, "Wrong step"), choice("first_wrong_step", "2 · tool search_weather")]
    )
    assert (chosen.first_wrong_step, chosen.chosen) == (2, "2 · tool search_weather")
    nothing = read_run_answer([region(3, 3, "Wrong step"), choice("first_wrong_step", "No step went wrong")])
    assert (nothing.first_wrong_step, nothing.chosen) == (None, "No step went wrong")
    modes = read_run_answer([choice("failure_modes", "Wrong tool", "Gave up")]).failure_modes
    assert modes == ["Wrong tool", "Gave up"]
