"""The agent layout as projects made before issue 25 hold it (the fixture saved in
tests/fixtures/layouts-before-issue-25): the steps (item 0 the request), a "first step that went wrong" row
of choices read from ``$step_options``, no status line, no step 0. Such projects still get tasks
(``run_task`` fills what it reads) and export."""

from __future__ import annotations

from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "layouts-before-issue-25" / "agent.xml"
FIRST_AGENT_CONFIG = FIXTURE.read_text(encoding="utf-8")
