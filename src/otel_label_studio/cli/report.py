"""``otel-label-studio report``: do humans and judges agree on a project's tasks? On a pairwise
project: the win rates of the reviewers' A/B choices."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterable, Iterator

from .. import logs
from ..delivery.problems import unwritable
from .errors import CommandError, check_label_studio, check_writable, label_studio_error
from .options import LABEL_STUDIO_SETTINGS, Commands, add_options, read_options, required_project_id


def add_parser(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="agreement of humans and judges on a project (kappa, Spearman, Krippendorff's alpha); "
        "first wrong steps and failure modes on an agent project; win rates on a pairwise project",
        description="Read a project's annotations and judge:<name> predictions and print: human vs each "
        "judge (Cohen's kappa quadratic-weighted, Spearman's rho, confusion matrix), human vs human on tasks "
        "with 2+ annotators (Krippendorff's alpha ordinal, percent agreement) and the 20 largest "
        "disagreements with links to their tasks; on an agent project (tasks that are runs) first: how the "
        "runs ended, their first wrong steps by step kind and by tool, and the failure modes chosen. On a "
        "pairwise project (a config with a Pairwise tag): per "
        "pair of models (or --variant values), wins, losses, ties, both bad and the win rate with a 95% "
        "Wilson interval; a pair whose sides have no or the same model is compared by provider, LangChain "
        "model class or ls_model_name, and when nothing tells any pair's sides apart report exits with "
        "status 2 naming the --variant to use.",
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    report.add_argument(
        "--html", metavar="FILE", help="also write a self-contained HTML page with charts (default: none)"
    )
    report.add_argument(
        "--variant",
        metavar="KEY",
        help="pairwise projects: what the win rates compare: 'model', 'provider' or 'model_class' "
        "(LangChain's class of each side's model), or a run-metadata key recorded with each side, such as "
        "prompt_version (default: the model, else the first of provider, model_class, ls_model_name that "
        "differs)",
    )
    report.add_argument(
        "--calibration",
        action="store_true",
        help="also per judge against the reviewers: confusion matrix, sensitivity and specificity (Wilson "
        "95%%), the raw and the corrected pass rate (Rogan-Gladen, 95%% interval), weighted by "
        "meta.review.weight where tasks carry it",
    )
    report.add_argument(
        "--pass-at",
        metavar="STARS",
        type=float,
        help="--calibration: a rating at or above this is a pass (default: the upper half of the scale, "
        "3 of 5)",
    )
    report.add_argument(
        "--target-width",
        metavar="W",
        type=float,
        default=0.1,
        help="--calibration: the corrected pass rate's interval width to say how many more reviews reach "
        "(default: 0.1)",
    )
    report.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(
        report,
        LABEL_STUDIO_SETTINGS,
        help={
            "project_id": "the project to read (required)",
            "timeout": "seconds one request to Label Studio may take (a page of tasks: three times this)",
        },
    )
    report.set_defaults(run=run, parser=report)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm  # start-up time: loaded only when this command runs

    from ..analysis.readings import Asked  # start-up time: numpy, for this command only
    from ..delivery.labelstudio import LabelStudioClient, LabelStudioError  # start-up time
    from ..modes.units import unit_of_project  # start-up time: loaded only when this command runs

    settings = read_options(args, parser, LABEL_STUDIO_SETTINGS)
    project_id = required_project_id(settings, parser)
    url = settings.url
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    # Paging a long project takes many requests: each gets three times the request timeout.
    client = LabelStudioClient(url, settings.api_key, settings.timeout * 3)
    if args.variant is not None and not args.variant.strip():
        parser.error("--variant: give 'model' or a run-metadata key such as prompt_version")
    try:
        project = check_label_studio(client, project_id)
        assert project is not None  # asked by its id
        if args.html:  # found before the work, not after it
            check_writable(args.html)
        reading = unit_of_project(project.label_config).reading(project.label_config)
        if args.variant is not None and not reading.variants:
            print(
                f"--variant applies to a pairwise project (a label config with a Pairwise tag); project "
                f"{project_id} {project.title!r} has none",
                file=sys.stderr,
            )
            return 2
        total = client.task_count(project_id)
        bar = tqdm(total=total, unit="task", disable=args.no_progress, desc="report", file=sys.stderr)
        tasks = _counted(client.iter_tasks(project_id), bar)
        asked = Asked(args.calibration, args.pass_at, args.target_width)
        pages = reading.report(
            tasks, url=url, project_id=project.id, title=project.title, variant=args.variant, asked=asked
        )
        page, data, text, problem = pages.html, pages.data, pages.text, pages.problem
        bar.close()
    except LabelStudioError as error:
        raise label_studio_error(error, url, project_id, client) from None
    finally:
        client.close()
    if problem is not None:  # a usage problem: the --variant to give
        print(problem, file=sys.stderr)
        return 2
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(page)
        except OSError as exc:
            raise CommandError(unwritable(args.html, exc)) from None
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(text)
    return 0


def _counted(tasks: Iterable[dict[str, Any]], bar: Any) -> Iterator[dict[str, Any]]:
    for task in tasks:
        bar.update(1)
        yield task
