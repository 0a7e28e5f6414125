"""One project per title: several processes asking for a new title at the same instant (replicas,
exporters) against the real Label Studio make one project, and all deliver to it: on one host (a file
lock), on a shared state server (a PostgreSQL advisory lock), and on hosts that share nothing (each
process creates, then all converge on the lowest id and the process that made the highest deletes the
empty duplicates, one at a time: Label Studio is left working)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.support.label_studio_reads import project_by_title
from tests.support.label_studio_users import sign_up
from tests.support.prerequisites import REPO_ROOT

pytestmark = pytest.mark.integration

PROCESSES = 6


@pytest.mark.parametrize("setup", ["one host", "shared state", "hosts sharing nothing"])
def test_processes_racing_on_a_new_title_make_one_project(
    label_studio, ls, tmp_path, project_name, setup, request
):
    title = f"{project_name}-%Y"
    state_url = request.getfixturevalue("state_url") if setup == "shared state" else None
    env = {
        **os.environ,
        "LABEL_STUDIO_API_KEY": label_studio.pat,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "src"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
        ),
    }
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    children = []
    for n in range(PROCESSES):
        argv = [sys.executable, "-m", "tests.support.project_race", label_studio.url, title, str(barrier)]
        if state_url:
            argv += ["--state-url", state_url]
        if setup == "hosts sharing nothing":
            argv += ["--lock-dir", str(tmp_path / f"host-{n}")]
        children.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    deadline = time.monotonic() + 300
    while len(list(barrier.glob("ready-*"))) < PROCESSES:  # every child imported and built its Projects
        running = all(child.poll() is None for child in children)
        assert running and time.monotonic() < deadline, "a child did not start"
        time.sleep(0.05)
    started = time.time()
    (barrier / "go").touch()
    results = [child.communicate(timeout=300) for child in children]
    assert all(child.returncode == 0 for child in children), [err.decode()[-2000:] for _, err in results]
    ids = {int(out.split()[-1]) for out, _ in results}
    resolved = time.strftime(title, time.gmtime(started))
    same_title = [p for p in ls.projects.list(title=resolved) if p.title == resolved]
    assert len(same_title) == 1, f"{len(same_title)} projects titled {resolved!r}"
    assert ids == {same_title[0].id}  # every process delivers to it
    assert project_by_title(ls, resolved) is not None
    # the duplicates were deleted one at a time: two deletes at once leave Label Studio's model signals
    # off until it restarts, and a user who signs up then gets no API token
    sign_up(label_studio.url, ls, f"after-race-{uuid.uuid4().hex[:8]}@example.com")
