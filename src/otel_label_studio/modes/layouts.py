"""Layouts: which label config a project uses and how a record fills it.

A ``Layout`` is a label config bound to the parts our tasks fill: the TextArea that holds the
model's response, the object that shows the prompt (a ``Text``/``HyperText`` gets text, a
``Paragraphs`` gets a dialogue list) and every other ``$variable`` the config reads, so that an
import never fails on a missing variable. Binding checks the config locally, without a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Iterable
from xml.etree import ElementTree

from label_studio_sdk.label_interface import LabelInterface

from ..judges.judge import (
    NOTE_NAME,
    VERDICT_KEY,
    is_judge,
    judge_prediction,
    newest,
    with_verdict,
)
from ..reading.record import UNKNOWN_MODEL, LLMRecord, Message

#: The call layouts' shared look: prompt beside its images, each in its own scrolling box, and an answer
#: box that grows with its text (prompt and chat read the same classes).
_CALL_STYLE = """    .call-sides {
        display: flex;
        gap: 16px;
        align-items: flex-start;
    }
    .call-text {
        flex: 1 1 0;
        min-width: 0;
        max-height: 45vh;
        overflow-y: auto;
    }
    .call-images {
        flex: 0 0 320px;
    }
    .call-images:empty {
        display: none;
    }
    .call-answer textarea {
        field-sizing: content;
        min-height: 4.5em;
        max-height: 30vh;
        overflow-y: auto;
    }
"""

# The two default configs of LangChain's LabelStudioCallbackHandler: the same tags, names and
# variables, with presentation and what a reviewer needs added. The prompt layout gets the header
# above the response box that the chat layout has.
# Both show the call's images (``$images``: the messages' image URLs and data URIs, or "" when there
# are none: an empty list stops Label Studio 1.23's Image from loading the task, "" renders nothing)
# beside the prompt, which scrolls inside a box of at most 45% of the window, and the response
# (at most 30%) below it, so the rating stays on screen whatever their length. The response's
# TextArea has transcription="true": the model's answer is an always-open text box to type into (no
# pencil, tick or delete button), rows > 1 so it is a multi-line box. A hidden View declares the Data
# Manager's first columns, in order (Label Studio lists the config's $variables first, then the rest
# of the task's data): model and latency; judge columns go after them. The chat layout keeps a
# message's line breaks and paragraphs (white-space on the dialogue text, by the stable prefix of its
# class as below). The chat layout hides the "00:00:00 - 00:00:00" that Label Studio
# 1.23 puts on every dialogue turn: with no audio those times mean nothing. No tag attribute turns
# them off; the selector matches the CSS-module classes by their stable prefix (``time--<hash>``),
# so a release that renames them shows the times again and loses nothing else. Label Studio
# HTML-escapes a <Style>'s text, so the CSS holds no quotes, ">" or "&".
# Added to LangChain's tags, under the rating in every default config (agent too): a Text showing
# data.judges, the judges' verdict as text (judge.verdict_text: heading, name, label, score in the judge's
# own scale, explanation), read-only as every object tag is, and empty (nothing shown) on a task no judge
# spoke about. It is data, not a control: no judge fills the reviewer's rating or answer.
PROMPT_CONFIG = (
    """
<View>
<Style>
    .prompt-box {
        background-color: white;
        border-radius: 10px;
        box-shadow: 0px 4px 6px rgba(0, 0, 0, 0.1);
        padding: 20px;
    }
"""
    + _CALL_STYLE
    + """</Style>
<View style="display: none">
    <Header name="column_model" value="$model"/>
    <Header name="column_latency_ms" value="$latency_ms"/>
</View>
<View className="root">
  <View className="call-sides">
    <View className="prompt-box call-text">
        <Text name="prompt" value="$prompt"/>
    </View>
    <View className="call-images">
        <Image name="images" valueList="$images" maxWidth="320px"/>
    </View>
  </View>
  <Header value="Response:"/>
  <View className="call-answer">
    <TextArea name="response" toName="prompt" rows="4"
              maxSubmissions="1" editable="true" transcription="true"
              required="true"/>
  </View>
</View>
<Header value="Rate the response:"/>
<Rating name="rating" toName="prompt"/>
<Text name="judges" value="$judges"/>
</View>"""
)

CHAT_CONFIG = (
    """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
    [class^=dialoguetext--] {
        white-space: pre-wrap;
    }
"""
    + _CALL_STYLE
    + """</Style>
<View style="display: none">
    <Header name="column_model" value="$model"/>
    <Header name="column_latency_ms" value="$latency_ms"/>
</View>
<View className="root">
  <View className="call-sides">
    <View className="call-text">
     <Paragraphs name="dialogue"
               value="$prompt"
               layout="dialogue"
               textKey="content"
               nameKey="role"
               granularity="sentence"/>
    </View>
    <View className="call-images">
        <Image name="images" valueList="$images" maxWidth="320px"/>
    </View>
  </View>
  <Header value="Final response:"/>
  <View className="call-answer">
    <TextArea name="response" toName="dialogue" rows="4"
              maxSubmissions="1" editable="true" transcription="true"
              required="true"/>
  </View>
</View>
<Header value="Rate the response:"/>
<Rating name="rating" toName="dialogue"/>
<Text name="judges" value="$judges"/>
</View>"""
)

# One task per LangChain run (``run_tasks.run_task`` fills it). Open-source tags only (Label Studio 1.23):
# - at the top, the run's status (succeeded, raised with its error, cut off) beside its final answer or a
#   line saying there is none: Headers and a Text reading task fields (a Header shows $run_status as text);
# - the step marks, kept in view while the steps scroll (position: sticky): ParagraphLabels on the steps.
#   A reviewer picks "Wrong step" (or "Good step") and then a step's own "label whole utterance" button, or
#   selects some of its text. No tag can set one control from another, so there is no separate "first wrong
#   step" row: the earliest step marked "Wrong step" IS the first wrong step (``run_answers.py`` reads it so
#   for the report, the feedback events and export alike);
# - step 0, the system prompt and the tools offered ($setup), then the dialogue whose item n (n >= 1) is
#   step n ($steps), each named by its kind (model, tool, retriever) with "✗ failed" after the name of a
#   step that failed. Label Studio colours a dialogue turn by a hash of its name, so every step had a colour
#   of its own; the <Style> gives them all one, and the name says the kind. It also hides the author filter
#   (every step has a name of its own: it filters nothing) and the disabled label button on step 0;
# - failure modes, the final answer to correct (not required: a run that raised has none, and the box is
#   then empty with a placeholder saying so, not pre-filled with an empty answer) and a rating.
# A step's lines (a tool's arguments and result, each retrieved document) keep their line breaks. The
# selectors match Label Studio's CSS-module classes by their stable prefix (as above); the CSS holds no
# quotes, ">" or "&". A hidden View declares the Data Manager's first columns, in order, as the prompt and
# chat layouts do: the run fields a reviewer sorts by (status, errors, tools, steps, duration, tokens).
AGENT_CONFIG = """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
    [class^=dialoguetext--] {
        white-space: pre-wrap;
    }
    .run-summary {
        display: flex;
        gap: 12px;
        align-items: stretch;
    }
    .run-status, .run-answer {
        flex: 1 1 0;
        border: 1px solid #c8c8c8;
        border-radius: 8px;
        padding: 0 12px 8px 12px;
    }
    .step-marks {
        position: sticky;
        top: 0;
        z-index: 10;
        background: white;
        padding-bottom: 4px;
    }
    .run-steps [class^=phrase--] {
        --highlight-color: #9e9e9e !important;
    }
    .run-steps [class^=dialoguename--] {
        color: #212121 !important;
    }
    .run-steps [class^=wrapper_header--], .run-setup [class^=selectAllBtnWrapper--] {
        display: none;
    }
</Style>
<View style="display: none">
    <Header name="column_status" value="$status"/>
    <Header name="column_errors" value="$errors"/>
    <Header name="column_tools_called" value="$tools_called"/>
    <Header name="column_steps_count" value="$steps_count"/>
    <Header name="column_duration_ms" value="$duration_ms"/>
    <Header name="column_total_tokens" value="$total_tokens"/>
</View>
<View className="run-summary">
    <View className="run-status">
        <Header value="Run status:" size="5"/>
        <Header value="$run_status" size="5"/>
    </View>
    <View className="run-answer">
        <Header value="Final answer:" size="5"/>
        <Text name="answer" value="$answer"/>
    </View>
</View>
<View className="step-marks">
    <Header value="Mark steps: pick a label, then the button at a step's right (or select its text)."
            style="font-size: 15px; margin: 8px 0 0 0"/>
    <Header value="The earliest step marked Wrong step is the run's first wrong step."
            style="font-size: 15px; margin: 0 0 6px 0"/>
    <ParagraphLabels name="step_judgment" toName="steps">
        <Label value="Wrong step" background="#f44336"/>
        <Label value="Good step" background="#4caf50"/>
    </ParagraphLabels>
</View>
<View className="run-steps">
    <Header value="The run, step by step:"/>
    <View className="run-setup">
        <Paragraphs name="setup" value="$setup" layout="dialogue"
                    textKey="content" nameKey="role"/>
    </View>
    <Paragraphs name="steps" value="$steps" layout="dialogue"
                textKey="content" nameKey="role"/>
</View>
<Header value="What went wrong:"/>
<Choices name="failure_modes" toName="steps" choice="multiple" showInline="true">
    <Choice value="Wrong tool"/>
    <Choice value="Bad arguments"/>
    <Choice value="Ignored tool result"/>
    <Choice value="Unsupported claim"/>
    <Choice value="Unsafe"/>
    <Choice value="Gave up"/>
    <Choice value="Other"/>
</Choices>
<Header value="Final answer (edit to correct it):"/>
<TextArea name="response" toName="steps" rows="4"
          maxSubmissions="1" editable="true"
          placeholder="The right final answer, if you know it (optional)"/>
<Header value="Rate the run:"/>
<Rating name="rating" toName="steps"/>
<Text name="judges" value="$judges"/>
</View>"""

LAYOUT_CONFIGS = {"prompt": PROMPT_CONFIG, "chat": CHAT_CONFIG, "agent": AGENT_CONFIG}

#: The data key that holds a dialogue as text, for the Data Manager (dialogue layouts only).
CONVERSATION_KEY = "conversation"

TEXT_OBJECTS = {"text", "hypertext"}
DIALOGUE_OBJECTS = {"paragraphs"}


_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Layout:
    label_config: str
    response_name: str  # the TextArea that holds the response
    target_name: str  # the object it labels
    prompt_key: str  # that object's $variable
    dialogue: bool  # True: the prompt is a list of {role, content}; False: text
    variables: tuple[str, ...]  # every $variable the config reads
    # The TextArea named "judge" of a config made before issue 25, where a judge's prediction shows what
    # it said; None where the config has none (a result whose from_name the config lacks is refused by
    # Label Studio). A config that reads $judges shows the verdict as text (judge.py). No judge's result
    # goes into the reviewer's Rating or answer.
    judge_note_name: str | None = None
    reveal_judges: str = "now"  # "after_answer": judges stay in meta until the task is answered (judge_join)

    noun: ClassVar[str] = "LLM"  # what its tasks are, for messages: "cannot take LLM tasks"
    fix: ClassVar[str] = "add a <TextArea> for the response to its label config"  # when a config won't bind
    shows_judges: ClassVar[bool] = True  # a judge:<name> prediction can be added to its tasks

    def rebind(self, label_config: str) -> Layout:
        """The same kind of layout for another project's config (ValueError saying what is wrong)."""
        return Layout.from_config(label_config).revealing(self.reveal_judges)

    def revealing(self, when: str) -> Layout:
        """This layout showing judges ``when`` (``judge.REVEALS``: "now" or "after_answer")."""
        return replace(self, reveal_judges=when)

    def rebound_note(
        self, title: str, project_id: int, chosen_dialogue: bool, config_given: bool
    ) -> str | None:
        """What to tell the user when this layout, bound to an existing project's config, differs
        from the one the settings chose (its ``dialogue``: ``chosen_dialogue``): the project's config
        wins."""
        if config_given:
            return (
                f"Project {title!r} (id {project_id}) already exists with a different label config: tasks "
                f"follow the project's config (response -> {self.response_name}, prompt -> "
                f"${self.prompt_key}); the project_config given here is not applied to it."
            )
        if self.dialogue == chosen_dialogue:
            return None
        mode, other = ("chat", "prompt") if chosen_dialogue else ("prompt", "chat")
        return (
            f"Project {title!r} (id {project_id}) already exists with a label config that shows the "
            f"prompt {'as a dialogue' if self.dialogue else 'as text'}: tasks follow the project's config, "
            f"so mode={mode!r} does not apply to it (a mode only chooses the config of a project it "
            f"creates). Set mode={other!r} (OTEL_LABEL_STUDIO_MODE={other}) to match it, or choose "
            "another project."
        )

    def fit(self) -> str:
        """How records fit this config, for doctor."""
        return (
            f"tasks fit: {'dialogue' if self.dialogue else 'prompt'} -> ${self.prompt_key}, "
            f"response -> {self.response_name}"
        )

    @classmethod
    def from_config(cls, label_config: str) -> Layout:
        """Bind a label config, or raise ValueError saying what is wrong with it."""
        try:
            interface = LabelInterface(label_config)
        except Exception as exc:  # lxml and the SDK raise several kinds
            raise ValueError(f"label config is not well-formed XML: {exc}") from None
        try:
            interface.validate()
        except Exception as exc:
            raise ValueError(f"label config is invalid: {exc}") from None

        textareas = [c for c in interface.controls if c.tag.lower() == "textarea"]
        if not textareas:
            raise ValueError(
                "label config has no <TextArea> to hold the model's response; "
                'add e.g. <TextArea name="response" toName="prompt" editable="true"/>'
            )
        textarea = next((c for c in textareas if c.name == "response"), textareas[0])
        to_names = list(textarea.to_name or [])
        if not to_names:
            raise ValueError(f'<TextArea name="{textarea.name}"> has no toName')
        target_name = to_names[0]
        try:
            target = interface.get_object(target_name)
        except Exception:
            target = None
        if target is None:
            raise ValueError(
                f'<TextArea name="{textarea.name}"> has toName="{target_name}", '
                "which names no object tag in the config"
            )
        tag = target.tag.lower()
        if tag not in TEXT_OBJECTS | DIALOGUE_OBJECTS:
            raise ValueError(
                f'the response TextArea labels <{target.tag} name="{target_name}">; '
                "the prompt can only be shown by a Text, HyperText or Paragraphs tag"
            )
        match = _VARIABLE.fullmatch(str(target.value or ""))
        if match is None:
            raise ValueError(
                f'<{target.tag} name="{target_name}"> must read its value from a task field, '
                f'e.g. value="$prompt" (it has value="{target.value}")'
            )
        note = next((c for c in textareas if c.name == NOTE_NAME and target_name in (c.to_name or [])), None)
        return cls(
            label_config=label_config,
            response_name=textarea.name,
            target_name=target_name,
            prompt_key=match.group(1),
            dialogue=tag in DIALOGUE_OBJECTS,
            variables=_variables(label_config),
            judge_note_name=note.name if note else None,
        )

    def task(self, record: LLMRecord) -> dict[str, Any]:
        """The Label Studio task for a record: data, meta and the pre-filled response."""
        if self.dialogue:
            # The Data Manager shows a list as one line of JSON: the dialogue also goes in as text,
            # under a key the config does not read, so it has a readable column of its own.
            data: dict[str, Any] = {self.prompt_key: dialogue(record)}
            data.setdefault(CONVERSATION_KEY, prompt_text(record))
        else:
            data = {self.prompt_key: prompt_text(record)}
        for name in self.variables:
            if name not in data:
                field = _FIELDS.get(name)
                data[name] = field(record) if field is not None else record.metadata.get(name, "")
        model = record.model
        # Every task carries these, whatever the config shows: the exporter finds tasks by span_id.
        data.setdefault("trace_id", record.trace_id)
        data.setdefault("span_id", record.span_id)
        data.setdefault("model", model or "")
        if record.latency_ms is not None:  # a number, for the Data Manager to sort by
            data.setdefault("latency_ms", latency_ms(record))
        data.setdefault("provider", record.provider or "")
        data.setdefault("service_name", record.service_name or "")
        if record.error:
            data.setdefault("error", record.error)
        if self.reveal_judges == "now":  # else they wait in meta.evaluations for the reviewer's answer
            data = with_verdict(data, record.evaluations, text=VERDICT_KEY in self.variables)

        responses = list(record.outputs) or ([f"[error] {record.error}"] if record.error else [""])
        prediction: dict[str, Any] = {
            "result": [
                {
                    "from_name": self.response_name,
                    "to_name": self.target_name,
                    "type": "textarea",
                    "value": {"text": responses},
                }
            ]
        }
        # Label Studio names a prediction by its model_version ("undefined" when there is none),
        # in a tab that shows about 16 characters.
        prediction["model_version"] = model or record.provider or "unknown model"
        # The model's prediction last: Label Studio 1.23.2 sets an empty project model_version from
        # the LAST prediction of the first import that has any (tasks/serializers.py), and that
        # version decides what the label stream pre-fills: the response, not a judge's stars.
        judges = self.judge_predictions(record, [prediction]) if self.reveal_judges == "now" else []
        return {"data": data, "meta": task_meta(record), "predictions": [*judges, prediction]}

    def judge_predictions(
        self, record: LLMRecord, present: Iterable[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """One ``judge:<name>`` prediction per judge the span's evaluations name (judge.py)."""
        return self.judge_predictions_of(record.evaluations, present)

    def judge_predictions_of(
        self, evaluations: Iterable[dict[str, Any]], present: Iterable[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """One ``judge:<name>`` prediction per judge (its newest result): a copy of the answer it judged
        (the response item of the model's prediction among ``present``), and what it said in the config's
        ``judge`` TextArea, where there is one."""
        answer = next(
            (
                item
                for prediction in present
                if not is_judge(prediction)
                for item in prediction.get("result") or ()
                if item.get("from_name") == self.response_name and item.get("type") == "textarea"
            ),
            None,
        )
        return [
            judge_prediction(
                name,
                evaluation.get("score"),
                label=evaluation.get("label"),
                explanation=evaluation.get("explanation"),
                to_name=self.target_name,
                note_name=self.judge_note_name,
                answer=answer,
            )
            for name, evaluation in newest(evaluations).items()
        ]


def layout_for(mode: str, project_config: str | None) -> Layout:
    return Layout.from_config(project_config if project_config else LAYOUT_CONFIGS[mode])


def task_meta(record: LLMRecord) -> dict[str, Any]:
    """What a reviewer does not need on screen but a dataset does: provenance and cost."""
    meta: dict[str, Any] = {
        "operation": record.operation,
        "dialect": record.dialect,
        # a record spooled before the rule may hold "unknown"
        "request_model": None if record.request_model == UNKNOWN_MODEL else record.request_model,
        "response_model": None if record.response_model == UNKNOWN_MODEL else record.response_model,
        "usage": record.usage,
        "latency_ms": record.latency_ms,
        "finish_reasons": record.finish_reasons,
        "truncated": record.truncated,
        "start_time_unix_nano": record.start_time_unix_nano,
    }
    if record.request_params:
        meta["request"] = record.request_params
    if record.metadata:
        meta["metadata"] = record.metadata
    if record.error:
        meta["error"] = record.error
    if record.evaluations:
        meta["evaluations"] = record.evaluations
    if record.review:  # the review budget's reason and weight (rules/budget_hold.py)
        meta["review"] = record.review
    return meta


def prompt_text(record: LLMRecord) -> str:
    """A completion's prompt as is; a conversation as readable text, one turn per paragraph."""
    messages = record.messages
    if record.operation == "completion" and len(messages) == 1:
        return messages[0].content
    return "\n\n".join([f"{m.role}: {m.content}" for m in messages])


def dialogue(record: LLMRecord) -> list[dict[str, str]]:
    """The conversation as Paragraphs shows it: system instructions first, string content."""
    return [{"role": m.role, "content": m.content} for m in record.messages]


def images(record: LLMRecord) -> list[str] | str:
    """The images of the messages, in order, for an Image tag's valueList; "" when there are none
    (Label Studio 1.23's Image renders nothing for "", and never loads the task for [])."""
    return [image for m in record.messages for image in m.images] or ""


def latency_ms(record: LLMRecord) -> int | str:
    """The call's latency in whole milliseconds; "" when the span had no times (a config that shows
    it needs a value: Label Studio refuses a task without one)."""
    latency = record.latency_ms
    return "" if latency is None else int(latency + 0.5)


_FIELDS: dict[str, Callable[[LLMRecord], Any]] = {
    "prompt": prompt_text,
    "dialogue": dialogue,
    CONVERSATION_KEY: prompt_text,
    "response": lambda record: record.outputs[0] if record.outputs else "",
    "system": lambda record: record.system,
    "model": lambda record: record.model or "",
    "latency_ms": latency_ms,
    "images": images,
    "provider": lambda record: record.provider or "",
    "service_name": lambda record: record.service_name or "",
    "operation": lambda record: record.operation,
    "trace_id": lambda record: record.trace_id,
    "span_id": lambda record: record.span_id,
    "error": lambda record: record.error or "",
    VERDICT_KEY: lambda record: "",  # the judges' verdict, once shown (``Layout.task``, judge.py)
}
"""What a config's ``$variable`` can show, computed only when the config asks for it."""

#: Record fields a custom config may read by ``$name``; any other variable gets run metadata
#: of that name (e.g. ``$user_id``) or an empty string.
RECORD_FIELDS = tuple(_FIELDS)


def _variables(label_config: str) -> tuple[str, ...]:
    found: list[str] = []
    for element in ElementTree.fromstring(label_config.strip()).iter():
        for value in element.attrib.values():
            for name in _VARIABLE.findall(value):
                if name not in found:
                    found.append(name)
    return tuple(found)


__all__ = ["AGENT_CONFIG", "CHAT_CONFIG", "PROMPT_CONFIG", "RECORD_FIELDS", "Layout", "Message", "layout_for"]
