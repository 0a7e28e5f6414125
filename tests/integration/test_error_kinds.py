"""Label Studio's answers become one ``ErrorKind``, decided where they are translated: a real
Label Studio says a deleted project is gone (not a request refused for good, nor, for an import
it answers with a web page, a wrong URL), and a project whose config cannot take our tasks is a
misfit."""

from __future__ import annotations

import pytest

from otel_label_studio import LabelStudioSpanExporter
from otel_label_studio.delivery.labelstudio import ErrorKind, LabelStudioClient, LabelStudioError, encode_task
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.modes.layouts import layout_for
from tests.support import fixtures

pytestmark = pytest.mark.integration


@pytest.fixture
def client(label_studio):
    opened = LabelStudioClient(label_studio.url, label_studio.legacy_token, 10)
    yield opened
    opened.close()


def test_a_deleted_project_is_gone_wherever_it_is_addressed(client, ls, project_name):
    layout = layout_for("prompt", None)
    project = client.create_project(project_name, layout.label_config)
    ls.projects.delete(project.id)
    task = encode_task({"data": {"prompt": "p", "span_id": "1" * 16, "trace_id": "2" * 32}})
    for attempt in (
        lambda: client.get_project(project.id),
        lambda: client.import_tasks(project.id, [task]),
        lambda: client.find_tasks(project.id, ["1" * 16]),
    ):
        with pytest.raises(LabelStudioError) as raised:
            attempt()
        assert raised.value.kind == ErrorKind.PROJECT_GONE and raised.value.status == 404


def test_a_missing_task_is_not_a_missing_project(client):
    with pytest.raises(LabelStudioError) as raised:
        client.get_task(10**9)
    assert raised.value.kind == ErrorKind.REJECTED and raised.value.status == 404


def test_a_project_whose_config_cannot_take_llm_tasks_is_a_misfit(client, project_name):
    client.create_project(project_name, '<View><Image name="i" value="$image"/></View>')
    projects = Projects(
        client, layout_for("prompt", None), project_id=None, project_name=project_name, config_given=False
    )
    with pytest.raises(LabelStudioError) as raised:
        projects.resolve(projects.key())
    assert raised.value.kind == ErrorKind.MISFIT and "cannot take LLM tasks" in raised.value.detail


def test_delivery_makes_the_project_again_when_it_was_deleted_while_the_exporter_runs(
    label_studio, ls, project_name
):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.legacy_token, project_name=project_name, timeout=10
    )
    try:
        exporter.export(fixtures.load("legacy", "completion"))
        assert exporter.force_flush(60_000)
        (first,) = titled(ls, project_name)
        ls.projects.delete(first.id)
        exporter.export(fixtures.load("legacy", "chat_system_human"))
        assert exporter.force_flush(60_000), "delivery stuck on the deleted project"
        (second,) = titled(ls, project_name)
        assert second.id != first.id and len(list(ls.tasks.list(project=second.id))) == 1
    finally:
        exporter.shutdown()


def titled(ls, title: str) -> list:
    return [project for project in ls.projects.list(title=title) if project.title == title]
