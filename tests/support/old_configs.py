"""The default configs as projects created before the judge area was added hold them, and as projects
created before issue 25 hold them (a judge TextArea under the rating, filled by a selected judge:<name>
prediction): such projects keep receiving tasks and judge results."""

from __future__ import annotations

import re

from tests.support.configs_before_25 import CHAT_CONFIG_BEFORE_25, PROMPT_CONFIG_BEFORE_25
from tests.support.old_agent_config import FIRST_AGENT_CONFIG

_JUDGE_AREA = re.compile(r'<Header value="Judge\'s verdict[^"]*"/>\n<TextArea name="judge" [^>]*/>\n')

#: The default configs of before issue 25 (commit a77f3ca), judge area included: the fixtures saved in
#: tests/fixtures/layouts-before-issue-25 (read, not kept here as a second copy).
BEFORE_ISSUE_25 = {
    "prompt": PROMPT_CONFIG_BEFORE_25,
    "chat": CHAT_CONFIG_BEFORE_25,
    "agent": FIRST_AGENT_CONFIG,
}


def without_judge_area(config: str) -> str:
    """``config`` (a default before issue 25) without its ``judge`` header and TextArea; fails if it has
    none."""
    old, found = _JUDGE_AREA.subn("", config)
    assert found == 1, "the default config has no judge area to take out"
    return old
