"""The Data Manager tab a new dialogue project opens on: Label Studio's default, minus raw JSON.

Label Studio shows a list-valued task field as one line of JSON in the Data Manager's table and
in the labeling view's task list. A dialogue project's prompt is such a list, and its dialogue
is also in ``data.conversation`` as text. The tab hides the raw column in both modes, shows the
text instead in the labeling view's narrow task list, and otherwise keeps Label Studio's own
default visibility (read from its column list). A text-prompt project needs no tab of its own.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .layouts import CONVERSATION_KEY, Layout

#: What Label Studio calls the tab it makes itself; ours replaces it, so it keeps the name.
TITLE = "Default"

MODES = ("explore", "labeling")  # the Data Manager's table; the labeling view's task list

#: The keys every task carries besides the prompt (see ``Layout.task``): columns in the table,
#: noise in the labeling view's task list.
TASK_KEYS = ("trace_id", "span_id", "model", "provider", "service_name", "error")


def review_view(layout: Layout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``data`` of the tab for a project of ``layout``, or None when Label Studio's default reads well.

    ``columns`` is Label Studio's column list (``/api/dm/columns``), whose ``visibility_defaults``
    say what its own default tab hides.
    """
    if not layout.dialogue:
        return None
    raw = data_column(layout.prompt_key)
    hidden: dict[str, list[str]] = {mode: [raw] for mode in MODES}
    for column in columns:
        defaults = column.get("visibility_defaults") or {}
        for mode in MODES:
            if defaults.get(mode, True) is False:
                _add(hidden[mode], column_id(column))
    for key in TASK_KEYS:
        if key not in layout.variables:  # what the config reads stays, as in Label Studio's default
            _add(hidden["labeling"], data_column(key))
    readable = data_column(CONVERSATION_KEY)
    hidden["labeling"] = [c for c in hidden["labeling"] if c != readable]
    return {"title": TITLE, "type": "list", "target": "tasks", "hiddenColumns": hidden}


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
