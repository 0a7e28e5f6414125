"""The Data Manager tab a new project opens on: Label Studio's default, minus raw JSON.

Label Studio shows a list-valued task field as one line of JSON in the Data Manager's table and
in the labeling view's task list. A dialogue project's prompt is such a list, and its dialogue
is also in ``data.conversation`` as text; a call's images (``data.images``) are a list too. The tab
hides the raw columns in both modes, shows the text instead in the labeling view's narrow task list,
types the latency as a number (sorted and filtered as one), and otherwise keeps Label Studio's own
default visibility (read from its column list). Which data columns come first is the config's to
say (Label Studio lists the config's ``$variables`` first): the default prompt and chat configs
declare model and latency first (``layouts.py``), the pairwise config the question. The judges'
verdict text (``data.judges``) is on the page, not in the table: each judge's score and label are
columns of their own, typed once a judge speaks (``with_judge_columns``, below).

A pairwise project (a config with a ``Pairwise`` tag) gets a tab too (``pair_view``): the prompt
(as text, for a dialogue) and both answers as columns of the table, the prompt alone in the
labeling view's task list. Its tasks name no model anywhere in ``data``, so no column shows one.

An agent project (a config that reads run fields: ``run_tasks.reads_runs``) gets ``run_view``: in the
table, the run fields a reviewer sorts by first (``run_tasks.RUN_COLUMNS``: status, errors, tools, steps,
duration, tokens; then model and trace id), typed as numbers where they are numbers
(``columnsDisplayType``, which also makes Label Studio sort them as numbers); none of the lists the page
shows (``steps``, ``setup``, the first layout's ``step_options``), nor the trajectory or its text. In the
labeling view's task list: status, errors, tools, steps. A tab cannot order columns: the agent config
declares the first six (``layouts.AGENT_CONFIG``), and ``run_task`` also puts them first in a task's data.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..judges.judge import VERDICT_KEY
from .layouts import CONVERSATION_KEY, Layout
from .pair_layout import PairLayout, is_pairwise
from .run_tasks import NUMBER_COLUMNS, RUN_COLUMNS, TRAJECTORY_KEY, reads_runs

#: What Label Studio calls the tab it makes itself; ours replaces it, so it keeps the name.
TITLE = "Default"

MODES = ("explore", "labeling")  # the Data Manager's table; the labeling view's task list

#: The keys a task carries besides the prompt (see ``Layout.task``; images where the config shows
#: them, the judges' verdict once a judge spoke): columns in the table, noise in the labeling view's
#: task list.
TASK_KEYS = (
    "trace_id",
    "span_id",
    "model",
    "latency_ms",
    "provider",
    "service_name",
    "error",
    "images",
    VERDICT_KEY,
)

#: The columns a reviewer sorts a prompt or chat project by, first in the table (the default configs
#: declare them, in this order; judge columns come after them); not in the labeling view's list.
LEAD_KEYS = ("model", "latency_ms")

#: Task keys that hold a list (one line of raw JSON in a cell): in neither the table nor the list.
LIST_KEYS = ("images",)

#: Task keys whose column is typed as a number: sorted and filtered as numbers, not as text.
NUMBER_KEYS = ("latency_ms",)

#: The keys a pair task carries besides the prompt and the answers (see ``PairLayout.task``).
PAIR_KEYS = ("trace_id", "pair_id")

#: The run fields an agent project's table shows (the rest of ``RUN_COLUMNS`` are hidden there), and
#: those its labeling view's task list shows.
RUN_TABLE = RUN_COLUMNS[: RUN_COLUMNS.index("trace_id") + 1]  # status ... model, trace_id
RUN_LIST = RUN_COLUMNS[: RUN_COLUMNS.index("steps_count") + 1]  # status, errors, tools_called, steps_count
#: Widths (px) that fit ``RUN_TABLE``'s first six columns on a 1440 px screen beside Label Studio's own.
RUN_WIDTHS = {
    "tasks:id": 70,
    "tasks:completed_at": 140,
    "tasks:annotators": 120,
    "tasks:data.status": 110,
    "tasks:data.errors": 90,
    "tasks:data.tools_called": 170,
    "tasks:data.steps_count": 130,
    "tasks:data.duration_ms": 130,
    "tasks:data.total_tokens": 130,
}
#: Label Studio's own columns the table leaves out: every run task has one prediction (the run's answer).
RUN_TABLE_HIDES = ("tasks:total_predictions",)


def needs_tab(layout: Layout | PairLayout) -> bool:
    """Whether a project created with ``layout``'s config gets a tab of ours (``view_for``): every
    one does now (a text prompt's project for its latency column and images)."""
    return True


def view_for(layout: Layout | PairLayout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The tab of a new project with ``layout``'s config: ``pair_view`` for a pairwise config
    (whichever layout bound it), else ``review_view``."""
    if isinstance(layout, PairLayout):
        return pair_view(layout, columns)
    if is_pairwise(layout.label_config):
        return pair_view(PairLayout.from_config(layout.label_config), columns)
    if reads_runs(layout.variables):
        return run_view(layout, columns)
    return review_view(layout, columns)


def review_view(layout: Layout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The ``data`` of the tab for a project of ``layout``.

    ``columns`` is Label Studio's column list (``/api/dm/columns``), whose ``visibility_defaults``
    say what its own default tab hides.
    """
    raw = [layout.prompt_key] if layout.dialogue else []
    hidden = _defaults([data_column(key) for key in (*raw, *LIST_KEYS)], columns)
    for key in TASK_KEYS:
        # what the config reads stays, as in Label Studio's default, but for the lead columns it
        # declares for the table
        if key not in layout.variables or key in LEAD_KEYS:
            _add(hidden["labeling"], data_column(key))
    readable = data_column(CONVERSATION_KEY if layout.dialogue else layout.prompt_key)
    hidden["labeling"] = [c for c in hidden["labeling"] if c != readable]
    lead = [data_column(key) for key in (layout.prompt_key, *LEAD_KEYS) if key not in raw]
    hidden["explore"] = [c for c in hidden["explore"] if c not in lead]  # what we show stays shown
    tab = {
        "title": TITLE,
        "type": "list",
        "target": "tasks",
        "hiddenColumns": hidden,
        "columnsDisplayType": {data_column(key): "Number" for key in NUMBER_KEYS},
    }
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


def run_view(layout: Layout, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``data`` of an agent project's tab: in the table, ``RUN_TABLE`` (numbers typed as numbers, widths
    that fit a 1440 px screen) and Label Studio's own columns but the predictions count; none of what the
    config shows (lists and long texts: the page has them), the trajectory or its text. In the labeling
    view's task list, ``RUN_LIST``."""
    shown = {mode: list(keep) for mode, keep in (("explore", RUN_TABLE), ("labeling", RUN_LIST))}
    keys = [*layout.variables, *RUN_COLUMNS, CONVERSATION_KEY, TRAJECTORY_KEY]
    hidden = _defaults([data_column(key) for key in keys if key not in RUN_COLUMNS], columns)
    for mode in MODES:
        for key in keys:
            if key not in shown[mode]:
                _add(hidden[mode], data_column(key))
        hidden[mode] = [c for c in hidden[mode] if c not in map(data_column, shown[mode])]
    for column in RUN_TABLE_HIDES:
        _add(hidden["explore"], column)
    return {
        "title": TITLE,
        "type": "list",
        "target": "tasks",
        "hiddenColumns": hidden,
        "columnsDisplayType": {data_column(key): "Number" for key in NUMBER_COLUMNS},
        "columnsWidth": dict(RUN_WIDTHS),
    }


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
