"""The review units: prompt and chat (layouts), agent runs (runs, run_steps, run_tasks), pairwise (pairs,
pair_hold, pair_layout, pair_record).
"""

from __future__ import annotations

from .layouts import Layout, layout_for
from .pair_layout import PAIRWISE_CONFIG, PairLayout


def task_layout(mode: str, project_config: str | None) -> Layout | PairLayout:
    """The layout new projects of a mode get and records are shaped by: a ``PairLayout`` for mode
    pairwise (its default config, or the user's own config with a ``Pairwise`` tag)."""
    if mode == "pairwise":
        return PairLayout.from_config(project_config if project_config else PAIRWISE_CONFIG)
    return layout_for(mode, project_config)
