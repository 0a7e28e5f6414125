"""The units by mode and by record: ``unit_for(mode)``, ``unit_of(record)``; the package asks these."""

from __future__ import annotations

from ..store.run_codec import AnyRecord
from .agent import AGENT
from .calls import CHAT, PROMPT
from .pairwise import PAIRWISE
from .unit import AnyLayout, ReviewUnit

UNITS: dict[str, ReviewUnit] = {unit.mode: unit for unit in (PROMPT, CHAT, AGENT, PAIRWISE)}
MODES = tuple(UNITS)


def unit_for(mode: str) -> ReviewUnit:
    """The unit of a ``mode`` setting (the settings model has checked it is one of ``MODES``)."""
    return UNITS[mode]


def unit_of(record: AnyRecord) -> ReviewUnit:
    """The unit whose record this is: a call (prompt and chat shape it alike), a run or a pair."""
    return next(unit for unit in UNITS.values() if unit.takes(record))


def unit_of_project(label_config: str) -> ReviewUnit:
    """The unit whose reading a project of ``label_config`` needs (``export``, ``report``): the one
    that ``shows`` it (a Pairwise tag: pairwise), else prompt, whose single answers every other
    config reads as (chat, agent, a user's own)."""
    return next((unit for unit in UNITS.values() if unit.shows(label_config)), UNITS["prompt"])


def decode_record(data: bytes) -> AnyRecord:
    """A queued record from its bytes, by the unit that claims them; the unit that claims the rest
    (a pickled call) is asked last."""
    for unit in sorted(UNITS.values(), key=lambda unit: unit.claims_rest):
        record = unit.decode(data)
        if record is not None:
            return record
    raise ValueError("the bytes are no review unit's record")  # pragma: no cover - a call claims the rest


def task_layout(mode: str, project_config: str | None) -> AnyLayout:
    """The layout new projects of a mode get and records are shaped by."""
    return unit_for(mode).layout(project_config)


def check_rules_file(path: str, mode: str) -> None:
    """A RulesError (file, line, what to write) when the rules file does not fit the mode's unit."""
    unit_for(mode).check_rules_file(path)
