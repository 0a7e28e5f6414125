"""Project titles in one time zone, UTC.

A title template (``project_name``, a review rule's ``project``, a span's ``label_studio.project``, a
request's project header) is strftime'd with the UTC date and time of one instant wherever a title
is named: delivery's project (``projects.py``) and the project review limits and folding count in
(``rules/gate.py``). So a daily project and a daily limit roll over together, at midnight UTC, and
every replica and exporter names the same day the same whatever its ``TZ``.
"""

from __future__ import annotations

import time


def title_at(template: str, at: float) -> str:
    """``template`` strftime'd at ``at`` (seconds since the epoch), in UTC: ``LangChain-%Y-%m-%d`` ->
    ``LangChain-2026-11-29``."""
    return time.strftime(template, time.gmtime(at))
