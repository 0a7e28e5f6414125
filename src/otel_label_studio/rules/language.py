"""The review-rule language: a YAML file read into rules, with the line of every mistake.

```yaml
rules:                       # in order: the first rule whose match holds decides
  - name: failures
    match: {status: error}
    sample: 1.0
  - name: slow-gpt4o
    match: {model: "gpt-4o*", latency_ms: ">2000", service.name: [checkout, search]}
    sample: 0.5
    limit: 200/day
    project: "Slow-%Y-%m"
  - name: everything-else
    sample: 0.01
fold_duplicates: 24h
include_errors: false
```

Pure but for ``load_file``, which reads a file with a bound (``userfiles``): text in, ``RuleSet``
out. Every mistake is a ``RulesError`` (a ValueError) naming the file, the line and what to write
instead. The values a span is matched on are read by ``fields``; this module only turns patterns
into predicates over such values.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any, Callable

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..userfiles import RULES_LIMIT, UserFileError, read_text
from . import doubt
from .budget import CLASSES, EXPLORE_UNSAID, PRIORITY_UNSAID, WINDOW_UNSAID, BudgetSpec

#: The record's fields a rule may match on (see ``fields``); any other key is an attribute name.
RECORD_FIELDS = (
    "model",
    "provider",
    "operation",
    "status",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "dialect",
)
METADATA_PREFIX = "metadata."
#: ``evaluation.<name>``: a judge's result on the span (a ``gen_ai.evaluation.result`` event named
#: ``<name>``). The value read is ``(score, label)``: a number or comparison matches the score,
#: text or a glob the label, ``{exists: ...}`` whether the span carries that evaluation at all.
EVALUATION_PREFIX = "evaluation."
#: ``run.<field>``: a whole agent run's fields (``mode`` agent only; read by ``run_fields``).
RUN_PREFIX = "run."
RUN_FIELDS = (
    "run.steps",
    "run.llm_steps",
    "run.tool_steps",
    "run.retriever_steps",
    "run.tools",
    "run.failed",
    "run.incomplete",
    "run.total_tokens",
    "run.duration_ms",
)
STATUSES = ("error", "ok")
RULE_KEYS = ("name", "match", "sample", "limit", "project", "include_errors", "await_judges", "judge_wait")
JUDGE_WAIT_UNSAID = 600.0  # a rule's judge_wait when it names judges to await but no wait
TOP_KEYS = ("rules", "fold_duplicates", "include_errors", "budget", "budget_window", "explore", "priority")
BUDGET_KEYS = ("budget_window", "explore", "priority")  # each needs `budget`
PERIODS = {"day": 86_400, "hour": 3_600}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(day|hour)\s*$")
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")
_GLOB_CHARS = re.compile(r"[*?\[]")

Predicate = Callable[[Any], bool]


class RulesError(ValueError):
    """A rules file that cannot be used: ``str()`` says the file, the line and what to fix."""

    def __init__(self, path: str, line: int | None, problem: str):
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Condition:
    """One ``key: pattern`` of a rule's match."""

    key: str
    pattern: Any  # as written, for messages and the dry run
    holds: Predicate  # over the value read for ``key`` (None when absent)
    line: int = 0  # where the key is written


@dataclass(frozen=True)
class Limit:
    count: int
    period: str  # "day" or "hour", UTC

    def __str__(self) -> str:
        return f"{self.count}/{self.period}"


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...] = ()
    sample: float = 1.0
    limit: Limit | None = None
    project: str | None = None  # strftime'd, as project_name
    include_errors: bool = False
    line: int = 0
    await_judges: tuple[str, ...] = ()  # judges whose results the decision waits for
    judge_wait: float = JUDGE_WAIT_UNSAID  # seconds, at most, before it decides without them
    bound: int = field(init=False)  # TraceIdRatioBased: keep when the trace id's low 64 bits are below

    def __post_init__(self) -> None:
        object.__setattr__(self, "bound", sample_bound(self.sample))

    @property
    def keeps_errors(self) -> bool:
        """Whether a failed call this rule keeps becomes a task: the rule names ``status: error``
        (so its reviewers asked for failures), or says ``include_errors: true``."""
        if self.include_errors:
            return True
        return any(c.key == "status" and c.holds("error") for c in self.conditions)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    fold_seconds: float | None = None  # fold_duplicates, in seconds
    include_errors: bool = False
    path: str = "<rules>"
    budget: BudgetSpec | None = None  # budget, budget_window, explore, priority

    def keys(self) -> frozenset[str]:
        """Every key some rule matches on."""
        return frozenset(c.key for rule in self.rules for c in rule.conditions)


def sample_bound(rate: float) -> int:
    """The OpenTelemetry SDK's ``TraceIdRatioBased`` bound: ``round(rate * 2**64)``."""
    return round(rate * (1 << 64))


def load_file(path: str) -> RuleSet:
    """Read and check a rules file; RulesError (a ValueError) says where and what is wrong. The
    file must be a regular file of at most ``userfiles.RULES_LIMIT`` (1 MiB), read with that bound."""
    try:
        text = read_text(path, what="rules file", limit=RULES_LIMIT)
    except UserFileError as exc:
        raise RulesError(path, None, f"the rules file {exc.problem}") from None
    return parse(text, path)


MAX_NODES = 20_000
"""Most YAML values (scalars, lists, mappings) a rules file may hold: composing each costs time and
memory in PyYAML (500,000 of them, in a 1 MiB file, took 25 s and 450 MB), and a file of a
thousand rules holds about 20 values a rule."""

MAX_DEPTH = 50
"""Deepest nesting of YAML values in a rules file (a rule's match is three levels deep)."""


class _TooLarge(yaml.MarkedYAMLError):
    """A rules file with more values, or deeper ones, than a rules file needs."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stopping at ``MAX_NODES`` values or ``MAX_DEPTH`` levels (``_TooLarge``,
    with the line), so a file within the size limit cannot make a large or deep tree."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._nodes += 1
        self._depth += 1
        try:
            if self._nodes > MAX_NODES or self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                problem = (
                    f"more than {MAX_NODES} values"
                    if self._nodes > MAX_NODES
                    else f"nested deeper than {MAX_DEPTH}"
                )
                raise _TooLarge(problem=f"{problem}: too large for a rules file", problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse(text: str, path: str = "<rules>") -> RuleSet:
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except _TooLarge as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise RulesError(path, line, str(exc.problem)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesError(path, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise RulesError(path, None, f"not valid YAML: {exc}") from None
    return _Reader(path).rule_set(root)


class _Reader:
    def __init__(self, path: str):
        self.path = path
        self._constructor = SafeConstructor()

    def error(self, node: Node | None, problem: str) -> RulesError:
        return RulesError(self.path, node.start_mark.line + 1 if node is not None else None, problem)

    def scalar(self, node: Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            raise self.error(node, f"cannot read this value: {exc.problem}") from None

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...] | None) -> dict[str, tuple[Node, Node]]:
        """``{key: (key node, value node)}``; unknown and repeated keys are errors at their line."""
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping (key: value lines)")
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                raise self.error(key_node, f"a key of {what} must be a name, not {key!r}")
            if key in found:
                raise self.error(key_node, f"{key!r} is given twice in {what}: keep one")
            if allowed is not None and key not in allowed:
                raise self.error(key_node, f"unknown key {key!r} in {what}{_suggest(key, allowed)}")
            found[key] = (key_node, value_node)
        return found

    def rule_set(self, root: Node | None) -> RuleSet:
        if root is None:
            raise RulesError(self.path, None, "the rules file is empty: it needs a `rules:` list")
        top = self.mapping(root, "the rules file", TOP_KEYS)
        if "rules" not in top:
            raise self.error(
                root, "the rules file needs a `rules:` list (the first rule that matches decides)"
            )
        rules_key, rules_node = top["rules"]
        if not isinstance(rules_node, SequenceNode) or not rules_node.value:
            raise self.error(rules_key, "`rules:` must be a list of rules, each starting with `- name: ...`")
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for position, node in enumerate(rules_node.value, start=1):
            rule = self.rule(node, position)
            if rule.name in names:
                raise self.error(
                    node,
                    f"rule name {rule.name!r} is also used at line {names[rule.name]}: names must differ",
                )
            names[rule.name] = rule.line
            rules.append(rule)
        fold = None
        if "fold_duplicates" in top:
            fold = self.duration(top["fold_duplicates"][1], "fold_duplicates")
        include_errors = False
        if "include_errors" in top:
            include_errors = self.boolean(top["include_errors"][1], "include_errors")
        budget = self.budget(top, tuple(names)) if "budget" in top else None
        for key in BUDGET_KEYS:
            if key in top and budget is None:
                raise self.error(top[key][0], f"`{key}` needs a `budget:` (e.g. `budget: 200/day`) beside it")
        return RuleSet(tuple(rules), fold, include_errors, self.path, budget)

    def budget(self, top: dict[str, tuple[Node, Node]], names: tuple[str, ...]) -> BudgetSpec:
        """``budget: N/day`` with its ``budget_window``, ``explore`` and ``priority``."""
        node = top["budget"][1]
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        found = _LIMIT.match(value) if isinstance(value, str) else None
        if found is None or int(found.group(1)) < 1:
            raise self.error(
                node, f"budget must look like `200/day` or `20/hour` (tasks, at least 1), not {value!r}"
            )
        count, period = int(found.group(1)), found.group(2)
        window = WINDOW_UNSAID
        if "budget_window" in top:
            window_node = top["budget_window"][1]
            window = self.duration(window_node, "budget_window")
            if window < 1 or window > PERIODS[period]:
                raise self.error(
                    window_node,
                    f"budget_window must be from 1s to the budget's period (1{period[0]}), not {window:g}s",
                )
        explore = self.share(top["explore"][1]) if "explore" in top else EXPLORE_UNSAID
        priority = self.priority(top["priority"][1], names) if "priority" in top else PRIORITY_UNSAID
        return BudgetSpec(count, period, window, explore, priority, top["budget"][0].start_mark.line + 1)

    def share(self, node: Node) -> float:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        found = _SHARE.match(value) if isinstance(value, str) else None
        share = float(found.group(1)) / 100 if found else number(value)
        if share is None or not 0.0 <= share <= 1.0:
            raise self.error(
                node, f"explore must be a share of the budget, `10%` or `0.1` (from 0 to 1), not {value!r}"
            )
        return share

    def priority(self, node: Node, names: tuple[str, ...]) -> tuple[str, ...]:
        allowed = (*CLASSES, *names)
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.error(node, "priority must be a list, e.g. `[disagreement, margin, rules]`")
        order: list[str] = []
        for item in node.value:
            value = self.scalar(item) if isinstance(item, ScalarNode) else None
            if not isinstance(value, str) or value not in allowed:
                raise self.error(
                    item,
                    f"priority: {value!r} is not {', '.join(CLASSES)} or a rule's name"
                    f"{_did_you_mean(str(value), allowed)}",
                )
            if value in order:
                raise self.error(item, f"priority: {value!r} is given twice: keep one")
            order.append(value)
        return tuple(order)

    def rule(self, node: Node, position: int) -> Rule:
        what = f"rule {position}"
        keys = self.mapping(node, what, None)
        line = node.start_mark.line + 1
        name = f"rule-{position}"
        if "name" in keys:
            name_node = keys["name"][1]
            value = self.scalar(name_node) if isinstance(name_node, ScalarNode) else None
            if not isinstance(value, str) or not value.strip():
                raise self.error(name_node, f"the name of {what} must be text, e.g. `name: failures`")
            name = value.strip()
            what = f"rule {name!r}"
        for key, (key_node, _) in keys.items():
            if key not in RULE_KEYS:
                raise self.error(key_node, f"unknown key {key!r} in {what}{_suggest(key, RULE_KEYS)}")
        conditions: tuple[Condition, ...] = ()
        if "match" in keys:
            match_node = keys["match"][1]
            if isinstance(match_node, ScalarNode) and self.scalar(match_node) is None:
                conditions = ()  # `match:` with nothing: every span
            else:
                conditions = tuple(
                    self.condition(key, key_node, value_node, what)
                    for key, (key_node, value_node) in self.mapping(
                        match_node, f"the match of {what}", None
                    ).items()
                )
        sample = 1.0
        if "sample" in keys:
            sample_node = keys["sample"][1]
            value = self.scalar(sample_node) if isinstance(sample_node, ScalarNode) else None
            if isinstance(value, str) and number(value) is not None:
                value = number(value)  # YAML 1.1 reads 1e-3 as text
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise self.error(
                    sample_node,
                    f"sample of {what} must be a number from 0 to 1 (the share of traces kept), "
                    f"not {value!r}",
                )
            sample = float(value)
        limit = None
        if "limit" in keys:
            limit_node = keys["limit"][1]
            value = self.scalar(limit_node) if isinstance(limit_node, ScalarNode) else None
            found = _LIMIT.match(value) if isinstance(value, str) else None
            if found is None:
                raise self.error(
                    limit_node, f"limit of {what} must look like `200/day` or `50/hour`, not {value!r}"
                )
            limit = Limit(int(found.group(1)), found.group(2))
        project = None
        if "project" in keys:
            project_node = keys["project"][1]
            value = self.scalar(project_node) if isinstance(project_node, ScalarNode) else None
            if not isinstance(value, str) or not value.strip():
                raise self.error(
                    project_node, f"project of {what} must be a project title (strftime'd), e.g. `Slow-%Y-%m`"
                )
            project = value.strip()
        include_errors = False
        if "include_errors" in keys:
            include_errors = self.boolean(keys["include_errors"][1], f"include_errors of {what}")
        awaited = (
            self.names(keys["await_judges"][1], f"await_judges of {what}") if "await_judges" in keys else ()
        )
        wait = JUDGE_WAIT_UNSAID
        if "judge_wait" in keys:
            if not awaited:
                raise self.error(
                    keys["judge_wait"][0],
                    f"judge_wait of {what} needs `await_judges: [...]` (the judges to wait for)",
                )
            wait = self.duration(keys["judge_wait"][1], f"judge_wait of {what}")
        return Rule(name, conditions, sample, limit, project, include_errors, line, awaited, wait)

    def boolean(self, node: Node, what: str) -> bool:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            raise self.error(node, f"{what} must be true or false, not {value!r}")
        return value

    def duration(self, node: Node, what: str) -> float:
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        found = _DURATION.match(value) if isinstance(value, str) else None
        seconds = float(found.group(1)) * _DURATION_UNITS[found.group(2)] if found else 0.0
        if not seconds > 0:
            raise self.error(node, f"{what} must be a duration such as 24h, 30m, 7d or 90s, not {value!r}")
        return seconds

    def condition(self, key: str, key_node: Node, node: Node, what: str) -> Condition:
        if "." not in key and key not in RECORD_FIELDS:
            raise self.error(
                key_node,
                f"unknown match key {key!r} in {what}{_did_you_mean(key, RECORD_FIELDS)}; a match key is a "
                f"record field ({', '.join(RECORD_FIELDS)}), metadata.<key>, evaluation.<name>, or an "
                "attribute's full name such as service.name",
            )
        if key.startswith(METADATA_PREFIX) and len(key) == len(METADATA_PREFIX):
            raise self.error(key_node, f"metadata. in {what} needs the metadata key: metadata.user_id")
        if key == EVALUATION_PREFIX:
            raise self.error(
                key_node, f"evaluation. in {what} needs the evaluation's name: evaluation.helpfulness"
            )
        if key.startswith(RUN_PREFIX) and key not in RUN_FIELDS:
            raise self.error(
                key_node,
                f"unknown run field {key!r} in {what}{_did_you_mean(key, RUN_FIELDS)}; the run fields are: "
                f"{', '.join(RUN_FIELDS)}",
            )
        line = key_node.start_mark.line + 1
        label = f"{key} in {what}"
        if key.startswith(EVALUATION_PREFIX):
            found = self.doubt_condition(key, node, label, line)
            if found is not None:
                return found
        if isinstance(node, SequenceNode):
            if not node.value:
                raise self.error(node, f"the list for {label} is empty: give the values that match")
            parts = [self.pattern(item, key, label) for item in node.value]
            written = [p[0] for p in parts]
            checks = tuple(p[1] for p in parts)
            return Condition(key, written, lambda value: any(check(value) for check in checks), line)
        written, check = self.pattern(node, key, label)
        return Condition(key, written, check, line)

    def doubt_condition(self, key: str, node: Node, label: str, line: int) -> Condition | None:
        """``evaluation.disagreement``, ``evaluation.missing`` and ``evaluation.<name>.margin``
        (``doubt``); None for the keys matched as patterns."""
        if key == doubt.DISAGREEMENT:
            if isinstance(node, ScalarNode):
                wanted = self.boolean(node, label)
                return Condition(key, wanted, doubt.disagreement(wanted, (), None, 1.0), line)
            spec = self.mapping(node, label, ("gap", "judges", "scale"))
            gap = self.positive(spec["gap"][1], f"gap of {label}") if "gap" in spec else None
            scale = self.positive(spec["scale"][1], f"scale of {label}") if "scale" in spec else 1.0
            judges = self.names(spec["judges"][1], f"judges of {label}") if "judges" in spec else ()
            written = {
                k: self.scalar(v) if isinstance(v, ScalarNode) else list(judges) for k, (_, v) in spec.items()
            }
            return Condition(key, written, doubt.disagreement(True, judges, gap, scale), line)
        if key == doubt.MISSING:
            judges = self.names(node, label)
            return Condition(key, list(judges), doubt.missing(judges), line)
        name, part = doubt.split(key)
        if part != "margin":
            return None
        spec = self.mapping(node, f"the margin of {label}", ("threshold", "below"))
        if set(spec) != {"threshold", "below"}:
            raise self.error(node, f"{label} needs a threshold and a margin: {{threshold: 0.5, below: 0.1}}")
        threshold = number(self.scalar(spec["threshold"][1]))
        if threshold is None:
            raise self.error(spec["threshold"][1], f"threshold of {label} must be a number, e.g. 0.5")
        below = self.positive(spec["below"][1], f"below of {label}")
        written = {"threshold": threshold, "below": below}
        return Condition(key, written, doubt.within_margin(threshold, below), line)

    def positive(self, node: Node, what: str) -> float:
        value = number(self.scalar(node)) if isinstance(node, ScalarNode) else None
        if value is None or value <= 0:
            raise self.error(node, f"{what} must be a number above 0, e.g. 0.3")
        return value

    def names(self, node: Node, what: str) -> tuple[str, ...]:
        """A judge's name or a list of them."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        found = []
        for item in items:
            value = self.scalar(item) if isinstance(item, ScalarNode) else None
            if not isinstance(value, str) or not value.strip():
                raise self.error(item, f"{what}: name the judges, e.g. [helpfulness, faithfulness]")
            found.append(value.strip())
        if not found:
            raise self.error(node, f"{what}: name the judges, e.g. [helpfulness, faithfulness]")
        return tuple(found)

    def pattern(self, node: Node, key: str, label: str) -> tuple[Any, Predicate]:
        written, check = self.value_pattern(node, key, label)
        if not key.startswith(EVALUATION_PREFIX):
            return written, check
        part = doubt.split(key)[1]
        if part == "score":
            return written, lambda seen: seen is not None and check(seen[0])
        if part == "label":
            return written, lambda seen: seen is not None and check(seen[1])
        if isinstance(written, dict):  # exists: the evaluation is there or not
            return written, check
        if (
            isinstance(written, (int, float))
            and not isinstance(written, bool)
            or (isinstance(written, str) and _COMPARISON.match(written))
        ):
            return written, lambda seen: seen is not None and check(seen[0])  # the score
        return written, lambda seen: seen is not None and check(seen[1])  # the label

    def value_pattern(self, node: Node, key: str, label: str) -> tuple[Any, Predicate]:
        if isinstance(node, MappingNode):
            spec = self.mapping(node, f"the pattern of {label}", ("exists",))
            if not spec:
                raise self.error(
                    node, f"the pattern of {label} is empty: write `{{exists: true}}` or a value"
                )
            wanted = self.boolean(spec["exists"][1], f"exists of {label}")
            return {"exists": wanted}, (lambda value: value is not None) if wanted else (
                lambda value: value is None
            )
        if not isinstance(node, ScalarNode):
            raise self.error(
                node, f"{label}: a pattern is a value, a list of values, or {{exists: true|false}}"
            )
        value = self.scalar(node)
        if value is None:
            raise self.error(
                node, f"{label} has no value: write one, or `{{exists: false}}` for an absent one"
            )
        if key == "status":
            if not isinstance(value, str) or value.strip().lower() not in STATUSES:
                raise self.error(
                    node, f"status in {label.split(' in ', 1)[1]} is `error` (a failed call) or `ok`"
                )
            status = value.strip().lower()
            return value, lambda seen: seen == status
        if isinstance(value, bool):
            return value, _equals_bool(value)
        if isinstance(value, (int, float)):
            return value, _compare("==", float(value))
        if not isinstance(value, str):
            raise self.error(node, f"{label}: {value!r} is not a pattern; quote it to match it as text")
        compared = _COMPARISON.match(value)
        if compared:
            return value, _compare(compared.group(1), float(compared.group(2)))
        if value.lstrip()[:1] in ("<", ">", "=", "!"):
            raise self.error(
                node, f'{label}: {value!r} is not a comparison: write an operator and a number, e.g. ">2000"'
            )
        if _GLOB_CHARS.search(value):
            return value, _glob(value)
        return value, _equals_text(value)


def _did_you_mean(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _suggest(key: str, allowed: tuple[str, ...]) -> str:
    return f"{_did_you_mean(key, allowed)}; the keys are: {', '.join(allowed)}"


def number(value: Any) -> float | None:
    """A value as a number, or None: numbers as they are, numeric text parsed, bools never."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _compare(symbol: str, bound: float) -> Predicate:
    """A comparison never holds for a missing or non-numeric value (``!=`` included)."""
    compare = _OPERATORS[symbol]

    def holds(value: Any) -> bool:
        if type(value) is float:  # noqa: E721 - latency_ms, per span: ``number`` would return it as is
            return compare(value, bound)
        seen = number(value)
        return seen is not None and compare(seen, bound)

    return holds


def _equals_bool(wanted: bool) -> Predicate:
    def holds(value: Any) -> bool:
        if isinstance(value, bool):
            return value is wanted
        return isinstance(value, str) and value.strip().lower() == ("true" if wanted else "false")

    return holds


def _equals_text(wanted: str) -> Predicate:
    def holds(value: Any) -> bool:
        if value is None:
            return False
        return (value if type(value) is str else text(value)) == wanted  # noqa: E721 - exact, fast

    return holds


def _glob(pattern: str) -> Predicate:
    """Shell-style, case-sensitive, over the whole value: ``gpt-4o*``, ``claude-?-*``."""
    match = re.compile(translate(pattern)).match

    def holds(value: Any) -> bool:
        return value is not None and match(value if type(value) is str else text(value)) is not None  # noqa: E721

    return holds
