"""A child process that resolves one project title at a given instant, as a replica or an exporter
does on its first delivery, and prints the project id it will deliver to.

    python -m tests.support.project_race URL TITLE BARRIER [--state-url URL] [--lock-dir DIR]

Once ready it writes ``BARRIER/ready-<pid>`` and waits for ``BARRIER/go`` (the test writes it when
every child is ready), so all ask at once however long each took to start. The key comes from
LABEL_STUDIO_API_KEY. ``--lock-dir`` gives the process a claim directory of its own, as a process on
another host has (no claim is shared: the projects converge after creating).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from otel_label_studio.delivery.labelstudio import LabelStudioClient
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.modes.layouts import layout_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("title")
    parser.add_argument("barrier", type=Path)
    parser.add_argument("--state-url")
    parser.add_argument("--lock-dir")
    args = parser.parse_args()
    client = LabelStudioClient(args.url, os.environ["LABEL_STUDIO_API_KEY"], 30.0)
    extra = {}
    if args.state_url:
        from otel_label_studio.store.shared import SharedState  # only in the shared-state race

        extra["shared"] = SharedState(args.state_url)
    if args.lock_dir:
        from otel_label_studio.delivery.title_claims import LocalTitleClaims  # only in the hosts race

        extra["claims"] = LocalTitleClaims(args.url, args.lock_dir)
    projects = Projects(
        client,
        layout_for("prompt", None),
        project_id=None,
        project_name=args.title,
        config_given=False,
        **extra,
    )
    (args.barrier / f"ready-{os.getpid()}").touch()
    while not (args.barrier / "go").exists():  # every child asks at the same instant
        time.sleep(0.005)
    target = projects.resolve(projects.key(), timeout=30.0)
    print(target.project.id, flush=True)


if __name__ == "__main__":
    main()
