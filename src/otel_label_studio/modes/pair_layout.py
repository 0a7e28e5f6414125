"""The pairwise layout: a label config for A/B tasks and how a pair fills it (pure).

The default config shows the prompt or dialogue once, answers A and B side by side, Label
Studio's ``Pairwise`` tag (click an answer to choose it, click again to undo; ``left`` = A), a
"Tie" / "Both bad" verdict (one control, radio buttons: choosing one unchooses the other) and an
optional correction per side. The chosen side's card turns green with "Your choice" in it. No
model, span id or latency is on screen or in the task's data (every data key is a Data Manager
column): they are in the task's meta (``Pair.meta``). Pair tasks get no prediction, so nothing
pre-selects a side.

``PairLayout.from_config`` binds any config with a ``Pairwise`` tag the same way ``Layout`` binds
a single-call config, checking it locally, without a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

from label_studio_sdk.label_interface import LabelInterface

from .layouts import CONVERSATION_KEY, DIALOGUE_OBJECTS, TEXT_OBJECTS, _variables
from .pairs import VERDICTS, Pair

# Label Studio HTML-escapes a <Style>'s text: no quotes, ">" or "&" in the CSS. The first rule
# hides the dialogue turns' "00:00:00 - 00:00:00" as in the chat layout; the second keeps a
# message's line breaks. Without a selectionStyle, Label Studio 1.23's Pairwise marks the chosen
# answer with the class bg-primary-background (a faint tint): the side holding it (:has) gets a green
# card and its hidden "Your choice" heading. The hidden View declares the question (the dialogue as
# text) as the Data Manager's first column: Label Studio lists the config's $variables first.
PAIRWISE_CONFIG = """
<View>
<Style>
    [class^=titleWrapper--] [class^=time--] {
        display: none;
    }
    [class^=dialoguetext--] {
        white-space: pre-wrap;
    }
    .pair-sides {
        display: flex;
        gap: 16px;
        align-items: stretch;
    }
    .pair-side {
        flex: 1 1 0;
        min-width: 0;
        padding: 12px;
        border: 1px solid #d0d7de;
        border-radius: 8px;
    }
    .pair-chosen {
        display: none;
    }
    .pair-side:has(.bg-primary-background) {
        border: 4px solid #1e8e3e;
        background-color: #e6f4ea;
    }
    .pair-side:has(.bg-primary-background) .pair-chosen {
        display: block;
        color: #1e8e3e;
    }
    .pair-side .bg-primary-background {
        background-color: transparent;
        border-color: transparent;
    }
</Style>
<View style="display: none">
    <Header name="column_question" value="$conversation"/>
</View>
<Paragraphs name="dialogue"
            value="$prompt"
            layout="dialogue"
            textKey="content"
            nameKey="role"/>
<Header value="Which answer is better? Click it (click again to undo)."/>
<Pairwise name="choice" toName="answer_a,answer_b"/>
<View className="pair-sides">
    <View className="pair-side">
        <Header value="Answer A" size="4"/>
        <View className="pair-chosen"><Header value="Your choice" size="5"/></View>
        <Text name="answer_a" value="$answer_a"/>
    </View>
    <View className="pair-side">
        <Header value="Answer B" size="4"/>
        <View className="pair-chosen"><Header value="Your choice" size="5"/></View>
        <Text name="answer_b" value="$answer_b"/>
    </View>
</View>
<Header value="Or, if neither is better (this wins over a chosen side):" size="5"/>
<Choices name="verdict" toName="dialogue" choice="single-radio" showInline="true">
    <Choice value="Tie"/>
    <Choice value="Both bad"/>
</Choices>
<Header value="Corrections (optional):" size="5"/>
<View className="pair-sides">
    <TextArea name="correction_a" toName="answer_a" placeholder="A, corrected"
              editable="true" maxSubmissions="1" rows="3"/>
    <TextArea name="correction_b" toName="answer_b" placeholder="B, corrected"
              editable="true" maxSubmissions="1" rows="3"/>
</View>
</View>"""

_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class PairLayout:
    label_config: str
    pairwise_name: str
    answer_keys: tuple[str, str]  # the $variables of the A (left) and B (right) objects
    prompt_key: str
    dialogue: bool  # True: the prompt is a list of {role, content}; False: text
    verdict_name: str | None  # a Choices with "Tie" and/or "Both bad"
    correction_names: tuple[str | None, str | None]  # a TextArea on A, on B
    variables: tuple[str, ...]

    noun: ClassVar[str] = "pairwise"  # what its tasks are, for messages
    fix: ClassVar[str] = "add a <Pairwise> tag to its label config"  # when a config won't bind
    shows_judges: ClassVar[bool] = False  # a pair task shows no judge predictions

    def rebind(self, label_config: str) -> PairLayout:
        """The same kind of layout for another project's config (ValueError saying what is wrong)."""
        return PairLayout.from_config(label_config)

    def rebound_note(
        self, title: str, project_id: int, chosen_dialogue: bool, config_given: bool
    ) -> str | None:
        """Nothing to tell: a pairwise config binds its answers by the Pairwise tag."""
        return None

    def judge_predictions_of(
        self, evaluations: Iterable[dict[str, Any]], present: Iterable[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """None: a pair task shows no judge predictions (``shows_judges``)."""
        return []

    def revealing(self, when: str) -> PairLayout:
        """Itself: a pair task shows no judges, at once or later."""
        return self

    def fit(self) -> str:
        """How pairs fit this config, for doctor."""
        return "pairs fit: answers -> " + " and ".join(f"${key}" for key in self.answer_keys)

    @classmethod
    def from_config(cls, label_config: str) -> PairLayout:
        """Bind a pairwise label config, or raise ValueError saying what is wrong with it."""
        try:
            interface = LabelInterface(label_config)
            interface.validate()
        except Exception as exc:  # lxml and the SDK raise several kinds
            raise ValueError(f"label config is invalid: {exc}") from None
        pairwise = next((c for c in interface.controls if c.tag.lower() == "pairwise"), None)
        if pairwise is None:
            raise ValueError(
                'a pairwise label config needs <Pairwise name="choice" toName="answer_a,answer_b"/>'
            )
        names = list(pairwise.to_name or [])
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f'<Pairwise name="{pairwise.name}"> must name two objects in toName')
        answer_keys = tuple(_key(interface, name, TEXT_OBJECTS) for name in names)
        prompt = next(
            (
                o
                for o in interface.objects
                if o.name not in names
                and o.tag.lower() in TEXT_OBJECTS | DIALOGUE_OBJECTS
                and _VARIABLE.fullmatch(str(o.value or ""))
            ),
            None,
        )
        if prompt is None:
            raise ValueError("a pairwise label config needs a Text or Paragraphs tag that shows the prompt")
        verdict = next(
            (
                c.name
                for c in interface.controls
                if c.tag.lower() == "choices"
                and any(str(label).strip().lower() in VERDICTS for label in c.labels or ())
            ),
            None,
        )
        corrections = tuple(
            next(
                (
                    c.name
                    for c in interface.controls
                    if c.tag.lower() == "textarea" and list(c.to_name or []) == [name]
                ),
                None,
            )
            for name in names
        )
        match = _VARIABLE.fullmatch(str(prompt.value))
        assert match is not None  # checked when the prompt object was picked
        return cls(
            label_config=label_config,
            pairwise_name=pairwise.name,
            answer_keys=(answer_keys[0], answer_keys[1]),
            prompt_key=match.group(1),
            dialogue=prompt.tag.lower() in DIALOGUE_OBJECTS,
            verdict_name=verdict,
            correction_names=(corrections[0], corrections[1]),
            variables=_variables(label_config),
        )

    def task(self, pair: Pair) -> dict[str, Any]:
        """The Label Studio task for a pair: data (nothing that tells the sides apart but their
        answers) and meta (each side's model, span id and latency)."""
        data: dict[str, Any] = {
            self.prompt_key: _dialogue(pair) if self.dialogue else _text(pair),
            self.answer_keys[0]: pair.a.answer,
            self.answer_keys[1]: pair.b.answer,
        }
        if self.dialogue:
            data.setdefault(CONVERSATION_KEY, _text(pair))
        for name in self.variables:
            if name not in data:
                field = _FIELDS.get(name)
                data[name] = field(pair) if field is not None else ""
        # Found again by these (the exporter finds single tasks by span_id, pairs by pair_id).
        data.setdefault("trace_id", pair.trace_id)
        data.setdefault("pair_id", pair.pair_id)
        return {"data": data, "meta": pair.meta()}


def is_pairwise(label_config: str) -> bool:
    """Whether a config asks for pairs (it has a Pairwise tag)."""
    try:
        interface = LabelInterface(label_config)
    except Exception:
        return False
    return any(c.tag.lower() == "pairwise" for c in interface.controls)


def _key(interface: LabelInterface, name: str, tags: set[str]) -> str:
    try:
        target = interface.get_object(name)
    except Exception:
        target = None
    if target is None or target.tag.lower() not in tags:
        raise ValueError(f'the Pairwise tag\'s toName "{name}" must name a Text or HyperText tag')
    match = _VARIABLE.fullmatch(str(target.value or ""))
    if match is None:
        raise ValueError(
            f'<{target.tag} name="{name}"> must read its value from a task field, e.g. value="$answer_a"'
        )
    return match.group(1)


def _dialogue(pair: Pair) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in pair.messages]


def _text(pair: Pair) -> str:
    if pair.operation == "completion" and len(pair.messages) == 1:
        return pair.messages[0].content
    return "\n\n".join(f"{m.role}: {m.content}" for m in pair.messages)


# Only what both sides share: a variable naming a side's model would unblind the task.
_FIELDS: dict[str, Callable[[Pair], Any]] = {
    "prompt": _text,
    "dialogue": _dialogue,
    CONVERSATION_KEY: _text,
    "system": lambda pair: "\n\n".join(m.content for m in pair.messages if m.role == "system"),
    "service_name": lambda pair: pair.service_name or "",
    "operation": lambda pair: pair.operation,
    "trace_id": lambda pair: pair.trace_id,
    "pair_id": lambda pair: pair.pair_id,
}
