"""Reading back from a real Label Studio what the bridge wrote: projects and tasks."""

from __future__ import annotations

import time

from label_studio_sdk import LabelStudio


def project_by_title(ls: LabelStudio, title: str):
    matches = [p for p in ls.projects.list(title=title) if p.title == title]
    return matches[0] if matches else None


def tasks_of(ls: LabelStudio, title: str):
    project = project_by_title(ls, title)
    assert project is not None, f"no project {title!r}"
    return list(ls.tasks.list(project=project.id, fields="all"))


def wait_for_tasks(ls, title: str, count: int, timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    tasks: list = []
    while time.monotonic() < deadline:
        project = project_by_title(ls, title)
        if project is not None:
            tasks = list(ls.tasks.list(project=project.id, fields="all"))
            if len(tasks) >= count:
                return tasks
        time.sleep(0.3)
    raise AssertionError(f"{len(tasks)} tasks in {title!r} after {timeout}s, wanted {count}")


def assert_exactly_once(ls, project_name: str, expected: set[str]) -> None:
    tasks = tasks_of(ls, project_name)
    landed = [task.data["span_id"] for task in tasks]
    assert len(landed) == len(set(landed)), "a span became more than one task"
    assert set(landed) == expected
