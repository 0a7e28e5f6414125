"""Label Studio's side of the judge join, as a unit test needs it (``judges/judge_join.py``)."""

from __future__ import annotations

from typing import Any, Callable

from otel_label_studio.delivery.labelstudio import LabelStudioError


class JudgeClient:
    """Label Studio's side, as a unit test needs it: each task's data, meta, predictions and answers, the
    project's Data Manager tabs; failures on demand."""

    def __init__(self) -> None:
        self.predictions: dict[int, list[dict[str, Any]]] = {}
        self.created: list[tuple[int, dict[str, Any]]] = []
        self.fail: LabelStudioError | None = None
        self.data: dict[int, dict[str, Any]] = {}
        self.meta: dict[int, dict[str, Any]] = {}
        self.answers: dict[int, int] = {}
        self.tabs: dict[int, dict[str, Any]] = {}

    def task_predictions(self, task_id: int, timeout: float | None = None) -> list[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        return [dict(p) for p in self.predictions.get(task_id, [])]

    def get_task(self, task_id: int, timeout: float | None = None) -> dict[str, Any]:
        return {
            "id": task_id,
            "data": dict(self.data.get(task_id, {})),
            "meta": dict(self.meta.get(task_id, {})),
            "predictions": self.task_predictions(task_id),
            "total_annotations": self.answers.get(task_id, 0),
        }

    def update_task(self, task_id: int, data: dict, meta: dict, timeout: float | None = None) -> None:
        self.data[task_id], self.meta[task_id] = data, meta

    def update_views(
        self, project_id: int, change: Callable[[dict], dict], timeout: float | None = None
    ) -> int:
        for view_id, data in list(self.tabs.items()):
            self.update_view(view_id, project_id, change(data))
        return len(self.tabs)

    def create_view(self, project_id: int, data: dict[str, Any], timeout: float | None = None) -> int:
        self.tabs[len(self.tabs) + 1] = data
        return len(self.tabs)

    def update_view(self, view_id: int, project_id: int, data: dict, timeout: float | None = None) -> None:
        self.tabs[view_id] = data

    def data_manager_columns(self, project_id: int, timeout: float | None = None) -> list[dict[str, Any]]:
        return []

    def create_prediction(
        self, task_id: int, prediction: dict[str, Any], timeout: float | None = None
    ) -> int:
        self.created.append((task_id, prediction))
        self.predictions.setdefault(task_id, []).append(prediction)
        return len(self.created)
