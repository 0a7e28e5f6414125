"""Which of a task's annotations is the reviewer's answer, for every unit and everything that reads answers
(datasets, the report, a pair's choice)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def newest_annotation(annotations: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Submitted and not skipped (``was_cancelled``), newest first by update time, then id."""
    kept = [a for a in annotations if not a.get("was_cancelled") and a.get("result") is not None]
    if not kept:
        return None
    return max(kept, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))
