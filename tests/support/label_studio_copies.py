"""What the feedback loop reads from Label Studio (tasks by id, the organization's webhooks), held in
memory, for tests of the loop without a server."""

from __future__ import annotations

import copy
from typing import Any

from otel_label_studio.delivery.labelstudio import ErrorKind, LabelStudioError

SECRET = "webhook-secret-for-tests-0123456789"


class LabelStudioCopies:
    def __init__(self, secret: str = SECRET):
        self.tasks: dict[int, dict[str, Any]] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.secret = secret
        self.asked: list[tuple[str, Any]] = []
        self.down = False

    def add_task(self, task: dict[str, Any], project: int = 1) -> dict[str, Any]:
        """Keep ``task`` (with its annotations) in ``project``; the project gets serve's webhook."""
        held = {**copy.deepcopy(task), "project": project}
        self.tasks[int(task["id"])] = held
        if not any(hook.get("project") == project for hook in self.webhooks):
            self.webhooks.append(
                {
                    "id": len(self.webhooks) + 1,
                    "project": project,
                    "url": "http://serve/webhooks/label-studio",
                    "headers": {"Authorization": f"Bearer {self.secret}"},
                    "is_active": True,
                }
            )
        return held

    def get_task(self, task_id: int, timeout: float | None = None) -> dict[str, Any]:
        self.asked.append(("task", task_id))
        if self.down:
            raise LabelStudioError(ErrorKind.UNREACHABLE, "connection refused")
        if task_id not in self.tasks:
            raise LabelStudioError(ErrorKind.REJECTED, "HTTP 404: Not found.", status=404)
        return copy.deepcopy(self.tasks[task_id])

    def list_webhooks(
        self, project_id: int | None = None, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        self.asked.append(("webhooks", project_id))
        if self.down:
            raise LabelStudioError(ErrorKind.UNREACHABLE, "connection refused")
        return copy.deepcopy(self.webhooks)
