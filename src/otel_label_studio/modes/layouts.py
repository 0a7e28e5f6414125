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

# The two default configs of LangChain's LabelStudioCallbackHandler: the same tags, names and
# variables, with presentation only added. The prompt layout gets the header above the response
# box that the chat layout has. The chat layout hides the "00:00:00 - 00:00:00" that Label Studio
# 1.23 puts on every dialogue turn: with no audio those times mean nothing. No tag attribute turns
# them off; the selector matches the CSS-module classes by their stable prefix (``time--<hash>``),
# so a release that renames them shows the times again and loses nothing else. Label Studio
# HTML-escapes a <Style>'s text, so the CSS holds no quotes, ">" or "&".
# Added to LangChain's tags, under the rating in every default config (agent too): a Text showing
# data.judges, the judges' verdict as text (judge.verdict_text: heading, name, label, score in the judge's
# own scale, explanation), read-only as every object tag is, and empty (nothing shown) on a task no judge
# spoke about. It is data, not a control: no judge fills the reviewer's rating or answer.
PROMPT_CONFIG = """
<View>
<Style>
    .prompt-box {
        background-color: white;
        border-radius: 10px;
        box-shadow: 0px 4px 6px rgba(0, 0, 0, 0.1);
        padding: 20px;
    }
</Style>
<View className="root">
    <View className="prompt-box">
        <Text name="prompt" value="$prompt"/>
    </View>
  <Header value="Response:"/>
    <TextArea name="response" toName="prompt"
              maxSubmissions="1" editable="true"
              required="true"/>
</View>
<Header value="Rate the response:"/>
<Rating name="rating" toName="prompt"/>
<Text name="judges" value="$judges"/>
</View>"""

CHAT_CONFIG = """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
</Style>
<View className="root">
     <Paragraphs name="dialogue"
               value="$prompt"
               layout="dialogue"
               textKey="content"
               nameKey="role"
               granularity="sentence"/>
  <Header value="Final response:"/>
    <TextArea name="response" toName="dialogue"
              maxSubmissions="1" editable="true"
              required="true"/>
</View>
<Header value="Rate the response:"/>
<Rating name="rating" toName="dialogue"/>
<Text name="judges" value="$judges"/>
</View>"""

# One task per LangChain run (``run_tasks.run_task`` fills it): the trajectory as a dialogue whose item n
# (n >= 1) is step n, per-step marks, the first step that went wrong (options made per run), failure
# modes, the final answer to correct and a rating. Open-source tags only (Label Studio 1.23). A step's
# lines (a tool's arguments and result, each retrieved document) keep their line breaks: the same
# stable-prefix selector as above, on the dialogue text.
AGENT_CONFIG = """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
    [class^=dialoguetext--] {
        white-space: pre-wrap;
    }
</Style>
<Header value="The run, step by step:"/>
<Paragraphs name="steps" value="$steps" layout="dialogue"
            textKey="content" nameKey="role"/>
<Header value="Mark steps (select a step or its text):"/>
<ParagraphLabels name="step_judgment" toName="steps">
    <Label value="Wrong step" background="#f44336"/>
    <Label value="Good step" background="#4caf50"/>
</ParagraphLabels>
<Header value="First step that went wrong:"/>
<Choices name="first_wrong_step" toName="steps" value="$step_options"
         choice="single" showInline="true"/>
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
          maxSubmissions="1" editable="true" required="true"/>
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


_FIELDS: dict[str, Callable[[LLMRecord], Any]] = {
    "prompt": prompt_text,
    "dialogue": dialogue,
    CONVERSATION_KEY: prompt_text,
    "response": lambda record: record.outputs[0] if record.outputs else "",
    "system": lambda record: record.system,
    "model": lambda record: record.model or "",
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
