"""The Data Manager tab a new dialogue project opens on: Label Studio's default, minus raw JSON.

Label Studio shows a list-valued task field as one line of JSON in the Data Manager's table and
in the labeling view's task list. A dialogue project's prompt is such a list, and its dialogue
is also in ``data.conversation`` as text. The tab hides the raw column in both modes, shows the
text instead in the labeling view's narrow task list, and otherwise keeps Label Studio's own
default visibility (read from its column list). A text-prompt project needs no tab of its own.

A pairwise project (a config with a ``Pairwise`` tag) gets a tab too (``pair_view``): the prompt
(as text, for a dialogue) and both answers as columns of the table, the prompt alone in the
labeling view's task list. Its tasks name no model anywhere in ``data``, so no column shows one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..judges.judge import VERDICT_KEY
from .layouts import CONVERSATION_KEY, Layout
from .pair_layout import PairLayout, is_pairwise

#: What Label Studio calls the tab it makes itself; ours replaces it, so it keeps the name.
TITLE = "Default"

MODES = ("explore", "labeling")  # the Data Manager's table; the labeling view's task list

#: The keys every task carries besides the prompt (see ``Layout.task``): columns in the table,
#: noise in the labeling view's task list.
TASK_KEYS = ("trace_id", "span_id", "model", "provider", "service_name", "error", VERDICT_KEY)

#: The keys a pair task carries besides the prompt and the answers (see ``PairLayout.task``).
PAIR_KEYS = ("trace_id", "pair_id")


def needs_tab(layout: Layout | PairLayout) -> bool:
    """Whether a project created with ``layout``'s config gets a tab of ours (``view_for``)."""
    return layout.dialogue or is_pairwise(layout.label_config)


def view_for(layout: Layout | PairLayout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The tab of a new project with ``layout``'s config: ``pair_view`` for a pairwise config
    (whichever layout bound it), else ``review_view``."""
    if isinstance(layout, PairLayout):
        return pair_view(layout, columns)
    if is_pairwise(layout.label_config):
        return pair_view(PairLayout.from_config(layout.label_config), columns)
    return review_view(layout, columns)


def review_view(layout: Layout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``data`` of the tab for a project of ``layout``, or None when Label Studio's default reads well.

    ``columns`` is Label Studio's column list (``/api/dm/columns``), whose ``visibility_defaults``
    say what its own default tab hides.
    """
    if not layout.dialogue:
        return None
    hidden = _defaults([data_column(layout.prompt_key)], columns)
    for key in TASK_KEYS:
        if key not in layout.variables:  # what the config reads stays, as in Label Studio's default
            _add(hidden["labeling"], data_column(key))
    readable = data_column(CONVERSATION_KEY)
    hidden["labeling"] = [c for c in hidden["labeling"] if c != readable]
    tab = {"title": TITLE, "type": "list", "target": "tasks", "hiddenColumns": hidden}
    return with_judge_columns(tab, [])  # the verdict text: on the page, not in the table (judge columns)


def pair_view(layout: PairLayout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``data`` of a pairwise project's tab: in the table, the prompt (its text, for a dialogue)
    and both answers, with Label Studio's own defaults for the rest; in the labeling view's task
    list, the prompt only (the answers are on the page beside it)."""
    prompt = CONVERSATION_KEY if layout.dialogue else layout.prompt_key
    hidden = _defaults([data_column(layout.prompt_key)] if layout.dialogue else [], columns)
    for key in (*layout.answer_keys, *PAIR_KEYS):
        if key != prompt:
            _add(hidden["labeling"], data_column(key))
    for mode in MODES:  # what we show stays shown, whatever Label Studio's defaults say
        hidden[mode] = [c for c in hidden[mode] if c != data_column(prompt)]
    hidden["explore"] = [c for c in hidden["explore"] if c not in map(data_column, layout.answer_keys)]
    return {"title": TITLE, "type": "list", "target": "tasks", "hiddenColumns": hidden}


def _defaults(hide: list[str], columns: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``hide`` in both modes, and what Label Studio's own default tab hides in each."""
    hidden: dict[str, list[str]] = {mode: list(hide) for mode in MODES}
    for column in columns:
        defaults = column.get("visibility_defaults") or {}
        for mode in MODES:
            if defaults.get(mode, True) is False:
                _add(hidden[mode], column_id(column))
    return hidden


def data_column(key: str) -> str:
    """The Data Manager's id of a task data key's column."""
    return f"tasks:data.{key}"


def column_id(column: Mapping[str, Any]) -> str:
    """A column's id as the Data Manager builds it: ``target:parent.id`` (``tasks:data.prompt``)."""
    parent = column.get("parent")
    path = f"{parent}.{column.get('id')}" if parent else str(column.get("id"))
    return f"{column.get('target', 'tasks')}:{path}"


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


# --- judge columns ---------------------------------------------------------------------------------
# A judge's score and label are task data (``judge_<name>_score``, ``judge_<name>_label``: judges/judge.py),
# so they are Data Manager columns; their names are known only once a judge speaks, after the project's
# tab was made. Label Studio types such a column "Unknown" (text: sorted and filtered as text); the tab's
# ``columnsDisplayType`` makes a score column a number, sorted and filtered as one (greater than, between).
# The verdict text (``data.judges``: heading, every judge, explanations) is hidden in the table and in the
# labeling view's task list, where it reads badly cut; the page shows it in full, the score and label
# columns sort and filter, and the Columns menu shows it again.


def with_judge_columns(data: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A tab's ``data`` with the columns of these task data ``keys`` shown as numbers, and the verdict
    text hidden."""
    types = dict(data.get("columnsDisplayType") or {})
    types.update({data_column(key): "Number" for key in keys})
    hidden = {mode: list(columns) for mode, columns in (data.get("hiddenColumns") or {}).items()}
    for mode in MODES:
        _add(hidden.setdefault(mode, []), data_column(VERDICT_KEY))
    return {**data, "columnsDisplayType": types, "hiddenColumns": hidden}


def judges_tab(keys: Sequence[str], columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``data`` of a tab for a project that has none yet: Label Studio's own default (what it would
    make when the Data Manager first opens), with the judge columns (``with_judge_columns``)."""
    tab = {"title": TITLE, "type": "list", "target": "tasks", "hiddenColumns": _defaults([], columns)}
    return with_judge_columns(tab, keys)
