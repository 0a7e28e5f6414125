"""``otel-label-studio export``: labeled tasks -> JSONL training data."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from .. import logs
from ..analysis.datasets import FORMATS
from .errors import FAILED, CommandError, check_label_studio, counted, label_studio_error, open_output
from .options import LABEL_STUDIO_SETTINGS, Commands, add_options, read_options, required_project_id


def add_parser(commands: Commands) -> None:
    export = commands.add_parser(
        "export",
        help="labeled tasks -> JSONL: sft, preference pairs, reward scores or judge calibration data",
        description="Write a project's labeled tasks as JSONL: sft (OpenAI chat fine-tuning), preference "
        "(TRL conversational pairs from what reviewers changed, or from their A/B choices in a pairwise "
        "project), reward (model response and rating; each side of a pair scored by the choice) or judge "
        "(each judge:<name> prediction's score and explanation beside the human rating and correction). "
        "Only submitted, non-skipped annotations count; the newest annotation of a task wins.",
    )
    export.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="what to write (required): sft (chat fine-tuning), preference (chosen/rejected pairs), reward "
        "(response and rating) or judge (judge scores beside the human rating)",
    )
    export.add_argument(
        "--output", required=True, metavar="FILE", help="JSONL file to write, or - for stdout (required)"
    )
    export.add_argument(
        "--min-rating", type=float, metavar="N", help="only tasks rated at least N (default: no minimum)"
    )
    export.add_argument(
        "--since",
        metavar="DATE",
        help="only annotations made or changed since DATE, ISO 8601 (default: any date)",
    )
    export.add_argument(
        "--only-edited", action="store_true", help="only tasks whose response the reviewer changed"
    )
    add_options(export, LABEL_STUDIO_SETTINGS, help={"project_id": "the project to export (required)"})
    export.add_argument("--no-progress", action="store_true", help="no progress bar")
    export.set_defaults(run=run, parser=export)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm  # start-up time: loaded only when this command runs

    from ..analysis.datasets import Filters  # start-up time
    from ..delivery.labelstudio import LabelStudioClient, LabelStudioError  # start-up time
    from ..modes.units import unit_of_project  # start-up time

    settings = read_options(args, parser, LABEL_STUDIO_SETTINGS)
    project_id = required_project_id(settings, parser)
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            parser.error(
                f"--since: {args.since!r} is not an ISO 8601 date (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
            )
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
    url = settings.url
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    client = LabelStudioClient(url, settings.api_key, settings.timeout)
    try:
        project = check_label_studio(client, project_id)
        assert project is not None  # asked by its id
        skipped: Counter[str] = Counter()
        reading = unit_of_project(project.label_config).reading(project.label_config)
        total = client.task_count(project_id)
        out = open_output(args.output)
        written = 0
        try:
            bar = tqdm(total=total, unit="task", disable=args.no_progress, desc="export", file=sys.stderr)
            tasks = _counted(client.iter_tasks(project_id), bar)
            filters = Filters(min_rating=args.min_rating, since=since, only_edited=args.only_edited)
            for line in reading.lines(tasks, args.format, filters, skipped):
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
            bar.close()
        finally:
            if out is not sys.stdout:
                out.close()
    except LabelStudioError as error:
        raise label_studio_error(error, url, project_id, client) from None
    except ValueError as exc:
        raise CommandError(f"project {project_id} cannot be exported: {exc}", FAILED) from None
    finally:
        client.close()
    lines = counted(written, f"{args.format} line")
    print(f"{lines} from {counted(total, 'task')} of {project.title!r}", file=sys.stderr)
    if skipped:
        counts = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(skipped.items()))
        print(f"pairs skipped: {counts}", file=sys.stderr)
    return 0


def _counted(tasks: Iterable[dict[str, Any]], bar: Any) -> Iterator[dict[str, Any]]:
    for task in tasks:
        bar.update(1)
        yield task
