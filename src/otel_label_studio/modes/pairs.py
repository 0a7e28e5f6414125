"""Pairs: two answers to one prompt, for a blind A/B choice (pure: data in, data out, no I/O).

How pairs are formed from the LLM records of one trace (``form_pairs``):

- **Generations.** A record with two or more outputs (``n=2``) is a pair of its first two
  generations. Such a record is not paired again with other records.
- **Same input.** Records of the same trace with one output each whose input messages are the same
  after whitespace normalisation (roles kept, runs of whitespace collapsed, ends stripped) answer
  one request: two models, two prompt versions behind one rendered prompt, a shadow call. With
  more than two such records, **each is paired with the first** (the earliest start, then the
  lowest span id): the first is the baseline.
- A candidate pair whose two answers are the same after whitespace normalisation is dropped and
  counted (``identical``): there is nothing to choose, and two instrumentations describing one
  call look exactly like that.
- Failed calls without output and records with nothing to pair with are returned as
  ``unpaired``; the caller waits for their partner or counts them.

Which answer is A is a coin flip seeded by the two sides' ids (``<span_id>#<generation>``), so a
replay, or the same spans arriving in another order, gives the same task. Models, span ids and
latencies travel in ``Pair.meta()`` (the task's meta), never in what the labeling view shows.

Reading a reviewer's choice (``choice_of``): the ``Pairwise`` tag selects ``left`` (A) or
``right`` (B); a "Tie" / "Both bad" verdict takes precedence over a selected side, so a pair the
reviewer called both bad never trains a model towards either answer.

Scores back (``pair_evaluations``) and win rates (``win_rates``, Wilson interval) are here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..analysis.stats import wilson_interval
from ..feedback.events import ANNOTATION_ACTIONS, EXPLANATION_LIMIT, Evaluation, is_hex_id
from ..reading.record import LLMRecord, Message
from .annotations import newest_annotation

GENERATIONS = "generations"
SAME_INPUT = "same_input"

#: What a reviewer's annotation says about a pair.
A, B, TIE, BOTH_BAD = "a", "b", "tie", "both_bad"
OUTCOMES = (A, B, TIE, BOTH_BAD)

#: The verdict choices of the pairwise layout, as the reviewer sees them.
VERDICTS = {"tie": TIE, "both bad": BOTH_BAD}

#: ``gen_ai.evaluation.score.label`` per side, and the score that goes with it.
PREFERRED, REJECTED = "preferred", "rejected"
_SIDE_SCORES = {PREFERRED: 1.0, REJECTED: 0.0, TIE: 0.5, BOTH_BAD: 0.0}


@dataclass(frozen=True, slots=True)
class Side:
    """One answer of a pair and where it came from."""

    span_id: str
    generation: int  # which output of the span (0 unless the span had several)
    answer: str
    model: str | None
    provider: str | None
    latency_ms: float | None
    start_time_unix_nano: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    model_class: str | None = None  # LangChain's (``LLMRecord.model_class``)

    @property
    def key(self) -> str:
        return f"{self.span_id}#{self.generation}"

    def meta(self) -> dict[str, Any]:
        return {
            "span_id": self.span_id,
            "generation": self.generation,
            "model": self.model,
            "provider": self.provider,
            "latency_ms": self.latency_ms,
            "start_time_unix_nano": self.start_time_unix_nano,
            "metadata": dict(self.metadata),
            "model_class": self.model_class,
        }


@dataclass(frozen=True, slots=True)
class Pair:
    """Two answers to one prompt: the prompt once, side A and side B."""

    trace_id: str
    kind: str  # GENERATIONS or SAME_INPUT
    operation: str
    messages: tuple[Message, ...]
    a: Side
    b: Side
    service_name: str | None = None
    project: str | None = None

    @property
    def pair_id(self) -> str:
        """Stable whichever side is A: the two side keys in sorted order."""
        return "|".join(sorted((self.a.key, self.b.key)))

    def meta(self) -> dict[str, Any]:
        """What the task keeps out of the reviewer's sight: each side's provenance."""
        return {
            "pair": {
                "pair_id": self.pair_id,
                "kind": self.kind,
                "operation": self.operation,
                "a": self.a.meta(),
                "b": self.b.meta(),
            }
        }


@dataclass
class Pairing:
    pairs: list[Pair] = field(default_factory=list)
    unpaired: list[LLMRecord] = field(default_factory=list)  # no partner (yet)
    identical: int = 0  # candidate pairs dropped: both answers the same


def form_pairs(records: Iterable[LLMRecord]) -> Pairing:
    """The pairs among these records (any number of traces), by the rules in the module doc."""
    result = Pairing()
    by_trace: dict[str, list[LLMRecord]] = {}
    for record in records:
        by_trace.setdefault(record.trace_id, []).append(record)
    for trace_records in by_trace.values():
        trace_records.sort(key=lambda r: (r.start_time_unix_nano, r.span_id))
        groups: dict[tuple[tuple[str, str], ...], list[LLMRecord]] = {}
        for record in trace_records:
            if len(record.outputs) >= 2:
                _add(result, _generation_pair(record))
            elif len(record.outputs) == 1 and record.messages:
                groups.setdefault(input_key(record.messages), []).append(record)
            else:
                result.unpaired.append(record)
        for group in groups.values():
            if len(group) < 2:
                result.unpaired.extend(group)
                continue
            first, *others = group
            for other in others:
                _add(result, _input_pair(first, other))
    return result


def input_key(messages: Iterable[Message]) -> tuple[tuple[str, str], ...]:
    """Input messages compared after whitespace normalisation."""
    return tuple((m.role, _squash(m.content)) for m in messages)


def flip(first: str, second: str) -> bool:
    """The coin: True when the side keyed ``first`` goes to A; the same whatever the argument order
    (``flip(x, y) != flip(y, x)`` for different keys)."""
    low, high = sorted((first, second))
    digest = hashlib.blake2b(f"{low}|{high}".encode(), digest_size=8).digest()
    low_is_a = not digest[0] & 1
    return low_is_a if first == low else not low_is_a


def _squash(text: str) -> str:
    return " ".join(text.split())


def _side(record: LLMRecord, generation: int) -> Side:
    return Side(
        span_id=record.span_id,
        generation=generation,
        answer=record.outputs[generation],
        model=record.model,
        provider=record.provider,
        latency_ms=record.latency_ms,
        start_time_unix_nano=record.start_time_unix_nano,
        metadata=dict(record.metadata),
        model_class=record.model_class,
    )


def _generation_pair(record: LLMRecord) -> Pair:
    return _pair(record, GENERATIONS, _side(record, 0), _side(record, 1))


def _input_pair(first: LLMRecord, other: LLMRecord) -> Pair:
    return _pair(first, SAME_INPUT, _side(first, 0), _side(other, 0))


def _pair(record: LLMRecord, kind: str, one: Side, two: Side) -> Pair:
    a, b = (one, two) if flip(one.key, two.key) else (two, one)
    return Pair(
        trace_id=record.trace_id,
        kind=kind,
        operation=record.operation,
        # the text only: the pairwise layout shows no images, and a queued pair keeps none (pair_record)
        messages=tuple(Message(m.role, m.content) for m in record.messages),
        a=a,
        b=b,
        service_name=record.service_name,
        project=record.project,
    )


def _add(result: Pairing, pair: Pair) -> None:
    if _squash(pair.a.answer) == _squash(pair.b.answer):
        result.identical += 1
    else:
        result.pairs.append(pair)


# --- what a reviewer chose ---------------------------------------------------------------------


def choice_of(result: Iterable[Mapping[str, Any]], pairwise_name: str | None = None) -> str | None:
    """A, B, TIE or BOTH_BAD from an annotation's result; None when the reviewer chose nothing.

    The verdict ("Tie", "Both bad") wins over a selected side. ``pairwise_name`` restricts the
    side to that Pairwise tag (any ``pairwise`` item otherwise).
    """
    side = verdict = None
    for item in result:
        if not isinstance(item, Mapping):
            continue
        value = item.get("value") or {}
        kind = item.get("type")
        if kind == "pairwise" and (pairwise_name is None or item.get("from_name") == pairwise_name):
            side = {"left": A, "right": B}.get(str(value.get("selected")))
        elif kind == "choices":
            for choice in value.get("choices") or ():
                verdict = verdict or VERDICTS.get(str(choice).strip().lower())
    return verdict or side


# --- scores back ------------------------------------------------------------------------------


def side_labels(choice: str) -> tuple[str, str]:
    """The evaluation labels of A and B for a choice."""
    if choice == A:
        return PREFERRED, REJECTED
    if choice == B:
        return REJECTED, PREFERRED
    return choice, choice


def pair_evaluations(payload: Mapping[str, Any], *, now_ns: int) -> list[Evaluation]:
    """One ``gen_ai.evaluation.result`` per side for each annotation of a webhook payload on a pair
    task (``task.meta.pair``): preferred / rejected, or tie / both_bad on both, or skipped; each
    against its own side's span. Nothing for other tasks or actions, or an annotation without a
    choice."""
    if payload.get("action") not in ANNOTATION_ACTIONS:
        return []
    task = payload.get("task") or {}
    pair = (task.get("meta") or {}).get("pair")
    trace_id = str((task.get("data") or {}).get("trace_id") or "")
    if not isinstance(pair, Mapping) or not is_hex_id(trace_id, 32):
        return []
    side_a, side_b = pair.get("a"), pair.get("b")
    if not (isinstance(side_a, Mapping) and isinstance(side_b, Mapping)):
        return []
    if not (
        is_hex_id(str(side_a.get("span_id") or ""), 16) and is_hex_id(str(side_b.get("span_id") or ""), 16)
    ):
        return []
    found = []
    for annotation in payload.get("annotations") or [payload.get("annotation") or {}]:
        if not isinstance(annotation, Mapping):
            continue
        if annotation.get("was_cancelled"):
            labels = ("skipped", "skipped")
        else:
            choice = choice_of(annotation.get("result") or ())
            if choice is None:
                continue
            labels = side_labels(choice)
        for side, other, label in ((side_a, side_b, labels[0]), (side_b, side_a, labels[1])):
            found.append(
                Evaluation(
                    trace_id=trace_id,
                    span_id=str(side["span_id"]),
                    label=label,
                    score=_SIDE_SCORES.get(label),
                    explanation=_explain(label, side, other)[:EXPLANATION_LIMIT],
                    annotation_id=annotation.get("id"),
                    task_id=task.get("id"),
                    time_unix_nano=now_ns,
                )
            )
    return found


def _explain(label: str, side: Mapping[str, Any], other: Mapping[str, Any]) -> str:
    def name(s: Mapping[str, Any]) -> str:
        model = s.get("model") or "unknown model"
        return f"span {s.get('span_id')} generation {s.get('generation', 0)} ({model})"

    words = {
        PREFERRED: "preferred over",
        REJECTED: "rejected for",
        TIE: "tied with",
        BOTH_BAD: "both bad, with",
    }
    if label not in words:
        return ""
    return f"pairwise review: {name(side)} {words[label]} {name(other)}"


# --- win rates --------------------------------------------------------------------------------


#: What tells a pair's two sides apart when no variant is asked for: the first of these whose values
#: differ. Fake models and some providers record no model name; two LangChain models of one provider
#: differ by class. A side without one counts as "unknown", so a named model against an unnamed one
#: is still told apart by model.
SIDE_ATTRIBUTES = ("model", "provider", "model_class", "ls_model_name")
#: Variants read from the side itself (``Side.meta``); any other is a run-metadata key.
_SIDE_FIELDS = ("model", "provider", "model_class")
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One reviewed pair: the variant (model, or a metadata value) on each side and the choice."""

    a: str
    b: str
    choice: str  # one of OUTCOMES
    by: str = ""  # what told the sides apart (a variant name); "" when nothing did (then a == b)
    others: tuple[str, ...] = ()  # when nothing did: the variants whose values differ between the sides


@dataclass(frozen=True, slots=True)
class WinRate:
    """``first`` against ``second`` (names in sorted order): ties and "both bad" are counted
    but left out of the win rate, which is wins / (wins + losses) with its Wilson interval."""

    first: str
    second: str
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float | None
    low: float | None
    high: float | None

    @property
    def decided(self) -> int:
        return self.wins + self.losses


def outcome_of(task: Mapping[str, Any], variant: str | None = None) -> Outcome | None:
    """The outcome of a pair task's newest submitted annotation; None without a choice.

    ``variant`` says what is compared: ``model``, ``provider`` or ``model_class`` (each side's), or a
    run-metadata key such as ``prompt_version`` read from each side's metadata; None: the first of
    ``SIDE_ATTRIBUTES`` that differs. A side without it counts as "unknown".
    """
    pair = (task.get("meta") or {}).get("pair")
    if not isinstance(pair, Mapping):
        return None
    annotation = newest_annotation(task.get("annotations") or ())
    if annotation is None:
        return None
    choice = choice_of(annotation.get("result") or ())
    if choice is None:
        return None
    side_a, side_b = _mapping(pair.get("a")), _mapping(pair.get("b"))
    for name in SIDE_ATTRIBUTES if variant is None else (variant,):
        a, b = _variant(side_a, name), _variant(side_b, name)
        if a != b:
            return Outcome(a, b, choice, name)
    same = _variant(side_a, variant or "model")
    return Outcome(same, same, choice, "", _differing(side_a, side_b, exclude=variant))


def _mapping(side: Any) -> Mapping[str, Any]:
    return side if isinstance(side, Mapping) else {}


def _variant(side: Mapping[str, Any], variant: str) -> str:
    value = side.get(variant) if variant in _SIDE_FIELDS else _metadata(side).get(variant)
    return str(value) if value else UNKNOWN


def _metadata(side: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = side.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _differing(a: Mapping[str, Any], b: Mapping[str, Any], *, exclude: str | None) -> tuple[str, ...]:
    """The variants (side fields, then run-metadata keys) whose values differ between two sides."""
    keys = sorted({*_metadata(a), *_metadata(b)} - set(_SIDE_FIELDS))
    return tuple(
        name for name in (*_SIDE_FIELDS, *keys) if name != exclude and _variant(a, name) != _variant(b, name)
    )


def win_rates(outcomes: Iterable[Outcome], z: float = 1.959963984540054) -> list[WinRate]:
    """Per pair of variants (sorted by name), from the first one's point of view. Pairs whose two
    sides are the same variant (an ``n=2`` call, a retry) say nothing about variants and are left
    out."""
    tally: dict[tuple[str, str], list[int]] = {}
    for outcome in outcomes:
        if outcome.a == outcome.b:
            continue
        first, second = sorted((outcome.a, outcome.b))
        counts = tally.setdefault((first, second), [0, 0, 0, 0])
        winner = {A: outcome.a, B: outcome.b}.get(outcome.choice)
        if winner is None:
            counts[2 if outcome.choice == TIE else 3] += 1
        else:
            counts[0 if winner == first else 1] += 1
    rates = []
    for (first, second), (wins, losses, ties, both_bad) in sorted(tally.items()):
        decided = wins + losses
        low, high = wilson_interval(wins, decided, z) if decided else (None, None)
        rates.append(
            WinRate(
                first, second, wins, losses, ties, both_bad, wins / decided if decided else None, low, high
            )
        )
    return rates
