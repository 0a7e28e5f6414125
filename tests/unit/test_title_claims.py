"""One project per title, the parts that need no Label Studio: a claim is held by one holder at a time,
and a process that created a title another had created too converges on the lowest id; the one that
made the highest id deletes the empty duplicates (the race itself, against the real Label Studio:
test_project_claims.py)."""

from __future__ import annotations

import threading

import pytest

from otel_label_studio.delivery.labelstudio import ErrorKind, LabelStudioError, Project
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.delivery.title_claims import LocalTitleClaims
from otel_label_studio.modes.layouts import layout_for


def test_a_title_is_claimed_by_one_holder_at_a_time(tmp_path):
    claims = LocalTitleClaims("http://ls", str(tmp_path))
    other = LocalTitleClaims("http://ls", str(tmp_path))
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with claims.claim("T", 5):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    with pytest.raises(LabelStudioError) as busy, other.claim("T", 0.2):
        pass
    assert busy.value.kind == ErrorKind.TRANSIENT and "another" in busy.value.detail
    release.set()
    thread.join()
    with other.claim("T", 1):  # free again
        pass


class TwoCreators:
    """A Label Studio where another process created the title (id 3) just before we did (id 7)."""

    url = "http://ls"

    def __init__(self) -> None:
        self.projects: dict[int, Project] = {}
        self.deleted: list[int] = []

    def projects_titled(self, title, timeout=None):
        return [self.projects[n] for n in sorted(self.projects) if self.projects[n].title == title]

    def find_project(self, title, timeout=None):
        found = self.projects_titled(title)
        return found[0] if found else None

    def create_project(self, title, label_config, timeout=None, *, reviewers_per_task=1):
        self.projects[3] = Project(3, title, label_config)  # the other process's, committed first
        self.projects[7] = Project(7, title, label_config)
        return self.projects[7]

    def task_count(self, project_id):
        return 0

    def delete_project(self, project_id, timeout=None):
        if project_id not in self.projects:
            raise LabelStudioError(ErrorKind.PROJECT_GONE, "HTTP 404: Not found", status=404)
        self.deleted.append(project_id)
        del self.projects[project_id]


class ReplayingLabelStudio(TwoCreators):
    """Label Studio on SQLite replays a request that met a locked database: a project whose first
    attempt was committed is made twice (id 5, nobody's), and the other process, converging at the same
    moment, deleted it first (so our delete finds it gone). A project of the same title with another
    label config (a person's) is left alone."""

    def create_project(self, title, label_config, timeout=None, *, reviewers_per_task=1):
        self.projects[3] = Project(3, title, label_config)
        self.projects[5] = Project(5, title, label_config)
        self.projects[6] = Project(6, title, "<View><Text name='t' value='$text'/></View>")
        self.projects[7] = Project(7, title, label_config)
        return self.projects[7]

    def task_count(self, project_id):
        if project_id == 5:
            del self.projects[5]  # the other process deletes it between our listing and our delete
        return 0


def _projects(client, tmp_path) -> Projects:
    return Projects(
        client,  # type: ignore[arg-type]
        layout_for("prompt", None),
        project_id=None,
        project_name="T",
        config_given=False,
        claims=LocalTitleClaims(client.url, str(tmp_path)),
        sleep=lambda seconds: None,
    )


def test_a_title_created_twice_converges_on_the_lowest_id_and_the_empty_duplicate_goes(tmp_path):
    client = TwoCreators()
    target = _projects(client, tmp_path).resolve("T")
    assert target.project.id == 3 and client.deleted == [7]
    assert list(client.projects) == [3]


def test_every_empty_duplicate_of_ours_goes_also_one_nobody_created_or_one_already_gone(tmp_path):
    client = ReplayingLabelStudio()
    target = _projects(client, tmp_path).resolve("T")
    assert target.project.id == 3
    assert client.deleted == [7]  # 5 was gone already; 6 is not ours
    assert sorted(client.projects) == [3, 6]


class CreatedBeforeAnother(TwoCreators):
    """We made id 7, and another process made id 9 after us: it deletes the duplicates, we do not (two
    deletes at once switch Label Studio's signals off)."""

    def create_project(self, title, label_config, timeout=None, *, reviewers_per_task=1):
        self.projects[3] = Project(3, title, label_config)
        self.projects[7] = Project(7, title, label_config)
        self.projects[9] = Project(9, title, label_config)
        return self.projects[7]


def test_only_the_process_that_made_the_highest_id_deletes_duplicates(tmp_path):
    client = CreatedBeforeAnother()
    target = _projects(client, tmp_path).resolve("T")
    assert target.project.id == 3
    assert client.deleted == [] and sorted(client.projects) == [3, 7, 9]
