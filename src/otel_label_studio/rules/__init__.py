"""Review rules: which LLM spans become tasks (rules, sampling by trace id, limits, folding).

``load_file`` reads a rules file (``language``); ``ReviewGate`` decides per span before mapping
and admits records after it (``gate``); ``MemoryReviewState`` / ``SqliteReviewState`` remember
limits and recent tasks (``state``). ``fields`` reads the values rules match on, cheaply.
"""

from __future__ import annotations

from .gate import (
    FOLDED,
    KEPT,
    NO_RULE,
    NOT_LLM,
    OVER_LIMIT,
    SAMPLED_OUT,
    Decision,
    ReviewCounts,
    ReviewGate,
    RuleCounts,
    open_gate,
    record_fingerprint,
)
from .language import RECORD_FIELDS, Limit, Rule, RulesError, RuleSet, load_file, parse, sample_bound
from .state import STATE_FILE, MemoryReviewState, SqliteReviewState, period_key, read_folded, state_path_for

__all__ = [
    "FOLDED",
    "KEPT",
    "NOT_LLM",
    "NO_RULE",
    "OVER_LIMIT",
    "RECORD_FIELDS",
    "SAMPLED_OUT",
    "STATE_FILE",
    "Decision",
    "Limit",
    "MemoryReviewState",
    "ReviewCounts",
    "ReviewGate",
    "Rule",
    "RuleCounts",
    "RuleSet",
    "RulesError",
    "SqliteReviewState",
    "load_file",
    "open_gate",
    "parse",
    "period_key",
    "read_folded",
    "record_fingerprint",
    "sample_bound",
    "state_path_for",
]
