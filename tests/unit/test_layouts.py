"""Record -> task, and binding label configs, without a server."""

import pytest

from otel_label_studio.modes.layouts import CHAT_CONFIG, PROMPT_CONFIG, Layout, layout_for
from otel_label_studio.reading.record import LLMRecord, Message
from tests.support.configs import EXTRA_VARIABLES_CONFIG, SEED_CUSTOM_CONFIG
from tests.support.prerequisites import REPO_ROOT


def chat_record(**kwargs):
    defaults = dict(
        trace_id="a" * 32,
        span_id="b" * 16,
        operation="chat",
        dialect="genai",
        messages=[Message("system", "Always use emojis"), Message("user", "Tell me a joke")],
        outputs=["Hi 😀"],
        response_model="gpt-4o-mini-2024-07-18",
        request_model="gpt-4o-mini",
        provider="openai",
        usage={"input_tokens": 12, "output_tokens": 3},
        start_time_unix_nano=1_000_000,
        end_time_unix_nano=3_500_000,
        service_name="shop",
        metadata={"user_id": "u-42"},
    )
    defaults.update(kwargs)
    return LLMRecord(**defaults)


def test_default_configs_are_the_seed_handlers():
    assert '<Text name="prompt" value="$prompt"/>' in PROMPT_CONFIG
    assert 'layout="dialogue"' in CHAT_CONFIG and 'value="$prompt"' in CHAT_CONFIG
    prompt, chat = layout_for("prompt", None), layout_for("chat", None)
    assert (prompt.response_name, prompt.target_name, prompt.prompt_key, prompt.dialogue) == (
        "response",
        "prompt",
        "prompt",
        False,
    )
    assert (chat.response_name, chat.target_name, chat.prompt_key, chat.dialogue) == (
        "response",
        "dialogue",
        "prompt",
        True,
    )


def test_prompt_layout_task():
    task = layout_for("prompt", None).task(chat_record())
    assert task["data"] == {
        "prompt": "system: Always use emojis\n\nuser: Tell me a joke",
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "model": "gpt-4o-mini-2024-07-18",
        "latency_ms": 3,  # whole milliseconds, a number (issue 25: sorted as one in the Data Manager)
        "images": "",  # no image: "" (issue 25: the Image tag's valueList)
        "provider": "openai",
        "service_name": "shop",
        "judges": "",  # issue 25: the judges' verdict, shown by the config's Text; empty: nothing shown
    }
    assert task["predictions"] == [
        {
            "model_version": "gpt-4o-mini-2024-07-18",
            "result": [
                {
                    "from_name": "response",
                    "to_name": "prompt",
                    "type": "textarea",
                    "value": {"text": ["Hi 😀"]},
                }
            ],
        }
    ]
    assert task["meta"]["usage"] == {"input_tokens": 12, "output_tokens": 3}
    assert task["meta"]["latency_ms"] == 2.5 and task["meta"]["truncated"] is False


def test_completion_prompt_is_the_text_itself():
    record = chat_record(operation="completion", messages=[Message("user", "Tell me a joke")])
    assert layout_for("prompt", None).task(record)["data"]["prompt"] == "Tell me a joke"
    assert layout_for("chat", None).task(record)["data"]["prompt"] == [
        {"role": "user", "content": "Tell me a joke"}
    ]


def test_chat_layout_task():
    task = layout_for("chat", None).task(chat_record(outputs=["one", "two"]))
    assert task["data"]["prompt"] == [
        {"role": "system", "content": "Always use emojis"},
        {"role": "user", "content": "Tell me a joke"},
    ]
    result = task["predictions"][0]["result"][0]
    assert (result["from_name"], result["to_name"], result["value"]) == (
        "response",
        "dialogue",
        {"text": ["one", "two"]},
    )


def test_model_version_falls_back_to_the_request_model_then_the_provider():
    layout = layout_for("prompt", None)
    assert (
        layout.task(chat_record(response_model="unknown"))["predictions"][0]["model_version"] == "gpt-4o-mini"
    )
    unknown = layout.task(chat_record(response_model="unknown", request_model="unknown"))
    assert unknown["predictions"][0]["model_version"] == "openai"
    nothing = layout.task(chat_record(response_model=None, request_model=None, provider=None))
    assert nothing["predictions"][0]["model_version"] == "unknown model"


def test_seed_custom_config_fills_the_textarea_named_response():
    layout = Layout.from_config(SEED_CUSTOM_CONFIG)
    assert (layout.response_name, layout.target_name, layout.prompt_key) == ("response", "prompt", "prompt")


def test_every_variable_of_a_custom_config_is_filled():
    layout = Layout.from_config(EXTRA_VARIABLES_CONFIG)
    assert (layout.response_name, layout.prompt_key, layout.variables) == (
        "answer",
        "question",
        ("context", "question", "user_id"),
    )
    data = layout.task(chat_record())["data"]
    assert data["context"] == "" and data["user_id"] == "u-42"
    assert data["question"] == "system: Always use emojis\n\nuser: Tell me a joke"


def test_error_task_shows_the_error():
    task = layout_for("prompt", None).task(chat_record(outputs=[], error="ValueError: boom"))
    assert task["data"]["error"] == "ValueError: boom"
    assert task["predictions"][0]["result"][0]["value"]["text"] == ["[error] ValueError: boom"]


@pytest.mark.parametrize(
    "config, message",
    [
        ('<View><Text name="p" value="$p"/>', "not well-formed XML"),
        ('<View><Text name="p" value="$p"/><TextArea name="r" toName="nope"/></View>', 'toName="nope"'),
        ('<View><Text name="p" value="$p"/><Rating name="r" toName="p"/></View>', "no <TextArea>"),
        (
            '<View><Image name="p" value="$p"/><TextArea name="r" toName="p"/></View>',
            "Text, HyperText or Paragraphs",
        ),
        ('<View><Text name="p" value="fixed"/><TextArea name="r" toName="p"/></View>', 'value="\\$prompt"'),
    ],
)
def test_unusable_configs_say_what_is_wrong(config, message):
    with pytest.raises(ValueError, match=message):
        Layout.from_config(config)


def test_a_dialogue_also_goes_in_as_text_for_the_data_manager():
    """issue 13, item 11: the Data Manager shows a list as one line of JSON."""
    chat = layout_for("chat", None).task(chat_record())["data"]
    assert chat["conversation"] == "system: Always use emojis\n\nuser: Tell me a joke"
    assert "conversation" not in layout_for("chat", None).variables  # a column, not shown by the config
    assert "conversation" not in layout_for("prompt", None).task(chat_record())["data"]  # prompt is text


def test_both_layouts_read_well_and_keep_the_seed_tags():
    # A header above the response box in both layouts, as the chat seed has.
    assert PROMPT_CONFIG.index('<Header value="Response:"/>') < PROMPT_CONFIG.index("<TextArea")
    assert CHAT_CONFIG.index('<Header value="Final response:"/>') < CHAT_CONFIG.index("<TextArea")
    # The dialogue's turns carry no timing line; Label Studio HTML-escapes a <Style>'s text.
    style = CHAT_CONFIG[CHAT_CONFIG.index("<Style>") : CHAT_CONFIG.index("</Style>")]
    assert "[class^=time--]" in style and "display: none" in style
    assert not set(style[len("<Style>") :]) & set("\"'<>&")


def test_both_layouts_prefill_every_generation_as_the_docs_say():
    """issue 13, item 13: n>1 pre-fills every generation, and docs/modes.md says so for both layouts."""
    for mode in ("prompt", "chat"):
        result = layout_for(mode, None).task(chat_record(outputs=["one", "two"]))["predictions"][0]
        assert result["result"][0]["value"] == {"text": ["one", "two"]}
    page = (REPO_ROOT / "docs" / "modes.md").read_text(encoding="utf-8")
    rows = {
        mode: next(line for line in page.splitlines() if line.startswith(f'| `mode="{mode}"`'))
        for mode in ("prompt", "chat")
    }
    prefilled = {mode: row.rstrip(" |").rsplit(" | ", 1)[1] for mode, row in rows.items()}
    assert prefilled["prompt"] == prefilled["chat"] and "every generation" in prefilled["chat"]
