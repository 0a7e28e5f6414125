"""``otel-label-studio report``: do humans and judges agree on a project's tasks?"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable, Iterator

from .. import config, logs
from ..config import env_str
from .options import Commands, add_options, option_values


def add_parser(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="agreement of humans and judges on a project: kappa, Spearman, Krippendorff's alpha",
        description="Read a project's annotations and judge:<name> predictions and print: human vs each "
        "judge (Cohen's kappa quadratic-weighted, Spearman's rho, confusion matrix), human vs human on tasks "
        "with 2+ annotators (Krippendorff's alpha ordinal, percent agreement) and the 20 largest "
        "disagreements with links to their tasks.",
    )
    report.add_argument("--project-id", type=int, required=True, metavar="ID", help="the project to read")
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with charts")
    report.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(report, ("url",))
    report.set_defaults(run=run, parser=report)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm

    from ..labelstudio import LabelStudioClient, LabelStudioError
    from ..report import Scale, build_report, render_text, to_json
    from ..report_html import render_html

    api_key = env_str(config.LABEL_STUDIO_API_KEY)
    if not api_key:
        parser.error(
            f"{config.LABEL_STUDIO_API_KEY} is not set: copy a token from Label Studio > Account & Settings "
            f"and export {config.LABEL_STUDIO_API_KEY}=..."
        )
    url = str(option_values(args, parser, ("url",))["url"])
    problem = config.base_url_problem(url)
    if problem is not None:
        parser.error(f"--url / {config.LABEL_STUDIO_URL}: {problem.message}")
    url = url.rstrip("/")
    logs.configure("WARNING", "text", secrets=(api_key,))
    client = LabelStudioClient(url, api_key, config.DEFAULT_TIMEOUT_SECONDS * 3)
    try:
        project = client.get_project(args.project_id)
        scale = Scale.from_config(project.label_config)
        total = client.task_count(args.project_id)
        bar = tqdm(total=total, unit="task", disable=args.no_progress, desc="report", file=sys.stderr)
        report = build_report(
            _counted(client.iter_tasks(args.project_id), bar),
            scale,
            url=url,
            project_id=project.id,
            title=project.title,
        )
        bar.close()
    except LabelStudioError as error:
        print(f"Label Studio at {url}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as page:
                page.write(render_html(report))
        except OSError as exc:
            print(f"--html {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        sys.stdout.write(render_text(report))
    return 0


def _counted(tasks: Iterable[dict[str, Any]], bar: Any) -> Iterator[dict[str, Any]]:
    for task in tasks:
        bar.update(1)
        yield task
