"""An in-memory stand-in for Label Studio's client, for unit tests of the delivery worker only.

Integration tests use the real server (the ``label_studio`` fixture); this fake never replaces it there.
"""

from __future__ import annotations

import json

from otel_label_studio.delivery.labelstudio import (
    ErrorKind,
    FoundTask,
    Imported,
    LabelStudioError,
    Project,
)
from otel_label_studio.modes.layouts import layout_for


class FakeLabelStudio:
    """Imports into memory; refuses tasks whose prompt contains POISON; can be told to fail."""

    url = "http://label-studio.invalid"
    token_kind = "legacy token"

    def __init__(self, mode: str = "prompt") -> None:
        self.tasks: list[dict] = []
        self.import_sizes: list[int] = []
        self.lookups: list[list[str]] = []
        self.updates: list[int] = []  # task ids updated in place
        self.fail_with: LabelStudioError | None = None
        self._config = layout_for(mode, None).label_config
        self._prediction_ids = 0
        self.tabs: dict[int, dict] = {}  # Data Manager tabs by id (the judge join types score columns)

    def find_project(self, title, timeout=None):
        return Project(1, title, self._config)

    def create_project(self, title, label_config, timeout=None):  # pragma: no cover - find always finds
        raise AssertionError("not expected")

    def import_tasks(self, project_id, tasks, timeout=None, import_timeout=None):
        tasks = [json.loads(task) for task in tasks]  # encoded, as they go on the wire
        if self.fail_with is not None:
            raise self.fail_with
        self.import_sizes.append(len(tasks))
        if any("POISON" in str(task["data"].get("prompt")) for task in tasks):
            raise LabelStudioError(ErrorKind.REJECTED, "HTTP 400: poisoned prompt", status=400)
        for task in tasks:
            for prediction in task["predictions"]:
                self._prediction_ids += 1
                prediction["id"] = self._prediction_ids
        self.tasks.extend(tasks)
        ids = list(range(len(self.tasks) - len(tasks), len(self.tasks)))
        return Imported(ids, sum(len(task["predictions"]) for task in tasks))

    def find_tasks(self, project_id, span_ids, timeout=None):
        self.lookups.append(list(span_ids))
        return {
            (t["data"]["trace_id"], t["data"]["span_id"]): FoundTask(n, t["predictions"])
            for n, t in enumerate(self.tasks)
            if t["data"]["span_id"] in span_ids
        }

    def add_predictions(self, project_id, predictions, timeout=None):
        for task_id, prediction in predictions:
            self.tasks[task_id]["predictions"].append(prediction)
        return len(predictions)

    def update_task(self, task_id, data, meta, timeout=None):
        self.tasks[task_id]["data"], self.tasks[task_id]["meta"] = data, meta
        self.updates.append(task_id)

    def update_prediction(self, prediction_id, prediction, timeout=None):
        for task in self.tasks:
            for kept in task["predictions"]:
                if kept.get("id") == prediction_id:
                    kept["result"] = prediction["result"]
                    kept["model_version"] = prediction.get("model_version")

    def get_task(self, task_id, timeout=None):
        return {**self.tasks[task_id], "id": task_id, "total_annotations": 0}

    def update_views(self, project_id, change, timeout=None):
        for view_id, data in list(self.tabs.items()):
            self.update_view(view_id, project_id, change(data))
        return len(self.tabs)

    def create_view(self, project_id, data, timeout=None):
        self.tabs[len(self.tabs) + 1] = data
        return len(self.tabs)

    def update_view(self, view_id, project_id, data, timeout=None):
        self.tabs[view_id] = data

    def data_manager_columns(self, project_id, timeout=None):
        return []
