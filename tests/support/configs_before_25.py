"""The prompt, chat and pairwise configs as projects created before issue 25 hold them, read from
``tests/fixtures/layouts-before-issue-25/`` (saved as they were): such a project must still bind."""

from __future__ import annotations

from pathlib import Path

_SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "layouts-before-issue-25"

PROMPT_CONFIG_BEFORE_25 = (_SAVED / "prompt.xml").read_text()
CHAT_CONFIG_BEFORE_25 = (_SAVED / "chat.xml").read_text()
PAIRWISE_CONFIG_BEFORE_25 = (_SAVED / "pairwise.xml").read_text()
