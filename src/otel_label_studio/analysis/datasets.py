"""Labeled tasks -> training data: SFT conversations, preference pairs, reward scores (pure).

A task counts through its newest submitted, non-skipped annotation. The reviewer's response is
that annotation's text for the layout's response TextArea (the pre-filled model response when
they submitted it unchanged); the model's response is the task's prediction; the score is the
annotation's Rating. ``judge`` pairs that rating with each ``judge:<name>`` prediction on the
task (``judge.py``): calibration data for a judge's prompt or few-shot examples. Every line
keeps the span's ``trace_id``/``span_id`` under ``metadata`` so the data can be traced back to the
LLM call it came from.

    for line in dataset_lines(tasks, binding, "preference"):
        print(json.dumps(line))
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping
from xml.etree import ElementTree

from ..judges import judge
from ..modes.annotations import newest_annotation
from ..modes.layouts import Layout
from ..modes.pair_layout import PairLayout
from ..modes.pairs import BOTH_BAD, TIE, A, B, choice_of
from ..modes.run_tasks import TRAJECTORY_KEY

FORMATS = ("sft", "preference", "reward", "judge")


@dataclass(frozen=True)
class Binding:
    """Where a project's config keeps what a dataset needs."""

    prompt_key: str
    dialogue: bool
    response_name: str
    rating_name: str | None
    max_rating: int = judge.RATING_SCALE_MAX  # the Rating's maxRating: a judge's score placed on it

    @classmethod
    def from_config(cls, label_config: str) -> Binding:
        layout = Layout.from_config(label_config)
        rating = next(
            (
                element
                for element in ElementTree.fromstring(label_config.strip()).iter()
                if element.tag.lower() == "rating"
            ),
            None,
        )
        if rating is None:
            return cls(layout.prompt_key, layout.dialogue, layout.response_name, None)
        try:
            top = max(int(rating.attrib.get("maxRating") or judge.RATING_SCALE_MAX), 1)
        except ValueError:
            top = judge.RATING_SCALE_MAX
        return cls(layout.prompt_key, layout.dialogue, layout.response_name, rating.attrib.get("name"), top)


@dataclass(frozen=True)
class Filters:
    min_rating: float | None = None
    since: datetime | None = None
    only_edited: bool = False


@dataclass(frozen=True)
class Labeled:
    """One task as a dataset sees it."""

    task_id: int
    prompt: list[dict[str, Any]]
    model_response: str
    reviewer_response: str
    rating: float | None
    annotated_at: datetime | None
    metadata: dict[str, Any]
    tools: list[dict[str, Any]] = field(default_factory=list)  # an agent run's tool definitions

    @property
    def edited(self) -> bool:
        return self.reviewer_response.strip() != self.model_response.strip()


def labeled(task: Mapping[str, Any], binding: Binding) -> Labeled | None:
    """The task's newest submitted annotation, read through the binding; None when there is none."""
    annotation = newest_annotation(task.get("annotations") or ())
    if annotation is None:
        return None
    model = _prediction_text(task.get("predictions") or (), binding.response_name)
    reviewer = _result_text(annotation.get("result") or (), binding.response_name)
    data = task.get("data") or {}
    prompt, tools = _trajectory(data.get(TRAJECTORY_KEY))
    return Labeled(
        task_id=int(task.get("id") or 0),
        prompt=prompt or _prompt(data.get(binding.prompt_key), binding.dialogue),
        model_response=model,
        reviewer_response=model if reviewer is None else reviewer,
        rating=_rating(annotation.get("result") or (), binding.rating_name),
        annotated_at=_time(annotation.get("updated_at") or annotation.get("created_at")),
        metadata={
            key: data[key]
            for key in ("trace_id", "span_id", "model", "provider", "service_name")
            if data.get(key) not in (None, "")
        }
        | {"task_id": int(task.get("id") or 0), "annotation_id": annotation.get("id")},
        tools=tools,
    )


def _trajectory(value: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An agent run's messages up to its final answer (OpenAI chat form, with ``tool_calls`` and
    ``tool`` messages) and its tool definitions; nothing for a task of one call."""
    if not isinstance(value, Mapping) or not isinstance(value.get("messages"), list):
        return [], []
    messages = [dict(message) for message in value["messages"] if isinstance(message, Mapping)]
    tools = value.get("tools")
    return messages, [dict(t) for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else []


def dataset_lines(
    tasks: Iterable[Mapping[str, Any]], binding: Binding, fmt: str, filters: Filters = Filters()
) -> Iterator[dict[str, Any]]:
    """The JSONL lines of ``fmt`` for these tasks, lazily (a project of any size in constant memory)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    for task in tasks:
        item = labeled(task, binding)
        if item is None or not _passes(item, filters):
            continue
        if fmt == "judge":
            sent = (task.get("meta") or {}).get("evaluations") or ()
            yield from _judge_lines(item, task.get("predictions") or (), binding, sent)
            continue
        line = _line(item, fmt)
        if line is not None:
            yield line


def _passes(item: Labeled, filters: Filters) -> bool:
    if filters.min_rating is not None and (item.rating is None or item.rating < filters.min_rating):
        return False
    if filters.since is not None and (item.annotated_at is None or item.annotated_at < filters.since):
        return False
    return not (filters.only_edited and not item.edited)


def _line(item: Labeled, fmt: str) -> dict[str, Any] | None:
    if fmt == "sft":
        if not item.reviewer_response.strip():
            return None
        messages = [*item.prompt, {"role": "assistant", "content": item.reviewer_response}]
        return {"messages": messages, **_tools(item), "metadata": item.metadata}
    if fmt == "preference":
        if not item.edited or not item.reviewer_response.strip():
            return None
        return {
            "prompt": item.prompt,
            "chosen": [{"role": "assistant", "content": item.reviewer_response}],
            "rejected": [{"role": "assistant", "content": item.model_response}],
            **_tools(item),
            "metadata": item.metadata,
        }
    if item.rating is None:
        return None
    return {
        "prompt": item.prompt,
        "response": item.model_response,
        "score": item.rating,
        "metadata": item.metadata,
    }


def _judge_lines(
    item: Labeled,
    predictions: Iterable[Mapping[str, Any]],
    binding: Binding,
    sent: Iterable[Mapping[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """One line per judge on a task the human rated: what the judge said (its newest result) beside what
    the human said (the correction is the reviewer's response when they changed it, else null).

    Every result is in the task's ``meta.evaluations`` (span events as sent, and results that came on
    their own, added there by the judge join); a task made before that holds them in its ``judge:<name>``
    predictions (``judge.judge_results``)."""
    if item.rating is None:
        return
    found = judge.judge_results(predictions, sent, binding.rating_name, binding.max_rating)
    for name in sorted(found):
        result = found[name]
        yield {
            "input": item.prompt,
            "output": item.model_response,
            "judge": {
                "name": name,
                "score": result.score,
                "rating": result.rating,
                "label": result.label,
                "explanation": result.explanation,
            },
            "human": {
                "rating": item.rating,
                "correction": item.reviewer_response if item.edited else None,
            },
            "metadata": item.metadata,
        }


def _tools(item: Labeled) -> dict[str, Any]:
    return {"tools": item.tools} if item.tools else {}


def _prompt(value: Any, dialogue: bool) -> list[dict[str, Any]]:
    if dialogue and isinstance(value, list):
        return [
            {"role": str(turn.get("role") or "user"), "content": str(turn.get("content") or "")}
            for turn in value
            if isinstance(turn, Mapping)
        ]
    return [{"role": "user", "content": "" if value is None else str(value)}]


def _text_value(item: Mapping[str, Any]) -> str | None:
    value = item.get("value") or {}
    text = value.get("text")
    if isinstance(text, list):
        # the entries, one a line; an entry left empty is one the reviewer rejected (the prompt and chat
        # layouts' answer boxes are always open, with no delete button: clearing one is how)
        return "\n".join(str(part) for part in text if str(part).strip())
    return None if text is None else str(text)


def _result_text(result: Iterable[Mapping[str, Any]], name: str) -> str | None:
    for item in result:
        if item.get("from_name") == name and item.get("type") == "textarea":
            return _text_value(item)
    return None


def _prediction_text(predictions: Iterable[Mapping[str, Any]], name: str) -> str:
    for prediction in predictions:
        if judge.is_judge(prediction):  # a judge's note is not the model's response
            continue
        text = _result_text(prediction.get("result") or (), name)
        if text is not None:
            return text
    return ""


def _rating(result: Iterable[Mapping[str, Any]], name: str | None) -> float | None:
    for item in result:
        if item.get("type") == "rating" and (name is None or item.get("from_name") == name):
            rating = (item.get("value") or {}).get("rating")
            if isinstance(rating, (int, float)) and not isinstance(rating, bool):
                return rating
    return None


def _time(raw: Any) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None


# --- pairwise projects (tasks from pair_layout.PairLayout) -------------------------------------

PAIR_FORMATS = ("preference", "reward")


def pair_lines(
    tasks: Iterable[Mapping[str, Any]],
    layout: PairLayout,
    fmt: str,
    filters: Filters = Filters(),
    skipped: Counter[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """The JSONL lines of a pairwise project, from each task's newest submitted annotation.

    ``preference``: a TRL conversational preference line per pair with a winner (the two answers as
    the models gave them; corrections are not used); ties, "both bad" and annotations without a
    choice are skipped and counted in ``skipped``. ``reward``: a line per side, scored 1 (won),
    0 (lost, or both bad) or 0.5 (tie). ``metadata`` names both sides' span ids and models.
    """
    if fmt not in PAIR_FORMATS:
        raise ValueError(f"a pairwise project exports {' or '.join(PAIR_FORMATS)}, not {fmt!r}")
    if filters.min_rating is not None or filters.only_edited:
        raise ValueError("--min-rating and --only-edited do not apply to a pairwise project")
    skipped = Counter() if skipped is None else skipped
    for task in tasks:
        annotation = newest_annotation(task.get("annotations") or ())
        pair = (task.get("meta") or {}).get("pair")
        if annotation is None or not isinstance(pair, Mapping):
            continue
        if filters.since is not None:
            at = _time(annotation.get("updated_at") or annotation.get("created_at"))
            if at is None or at < filters.since:
                continue
        choice = choice_of(annotation.get("result") or (), layout.pairwise_name)
        if choice is None:
            skipped["no_choice"] += 1
            continue
        data = task.get("data") or {}
        prompt = _prompt(data.get(layout.prompt_key), layout.dialogue)
        answers = [str(data.get(key) or "") for key in layout.answer_keys]
        sides = [pair.get("a") or {}, pair.get("b") or {}]
        common = {
            "trace_id": data.get("trace_id"),
            "pair_id": pair.get("pair_id"),
            "task_id": int(task.get("id") or 0),
            "annotation_id": annotation.get("id"),
        }
        if fmt == "preference":
            if choice not in (A, B):
                skipped[choice] += 1
                continue
            won = 0 if choice == A else 1
            chosen, rejected = sides[won], sides[1 - won]
            yield {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": answers[won]}],
                "rejected": [{"role": "assistant", "content": answers[1 - won]}],
                "metadata": {
                    "chosen_span_id": chosen.get("span_id"),
                    "chosen_model": chosen.get("model"),
                    "rejected_span_id": rejected.get("span_id"),
                    "rejected_model": rejected.get("model"),
                }
                | common,
            }
            continue
        scores = {A: (1.0, 0.0), B: (0.0, 1.0), TIE: (0.5, 0.5), BOTH_BAD: (0.0, 0.0)}[choice]
        for index, name in enumerate("ab"):
            yield {
                "prompt": prompt,
                "response": answers[index],
                "score": scores[index],
                "metadata": {
                    "span_id": sides[index].get("span_id"),
                    "model": sides[index].get("model"),
                    "side": name,
                    "outcome": choice,
                }
                | common,
            }
