"""``otel-label-studio webhook``: register serve's webhook, so human scores flow back (and a task's
judges show once it is answered, with ``--reveal-judges after_answer``)."""

from __future__ import annotations

import argparse

from ..config import parse_http_url, spec
from .errors import check_label_studio, label_studio_error
from .options import LABEL_STUDIO_SETTINGS, Commands, add_options, read_options, required_project_id

WEBHOOK_SETTINGS = (*LABEL_STUDIO_SETTINGS, "webhook_secret")


def add_parser(commands: Commands) -> None:
    webhook = commands.add_parser(
        "webhook",
        help="register serve's webhook on a project, so human scores flow back into the traces (and "
        "judges show once a task is answered)",
        description="Register a Label Studio webhook (annotation created/updated, with payload) that "
        "points at serve's POST /webhooks/label-studio and sends serve's webhook secret as "
        "'Authorization: Bearer SECRET'. A webhook of the project to the same URL is updated instead "
        "of adding a second one. serve needs the same --webhook-secret and --feedback-endpoint (human "
        "scores back into the traces) or --reveal-judges after_answer (judges shown once a task is "
        "answered).",
    )
    webhook.add_argument(
        "--target",
        required=True,
        metavar="URL",
        help="serve's base URL as Label Studio reaches it, e.g. http://bridge:4318 (required)",
    )
    add_options(
        webhook,
        WEBHOOK_SETTINGS,
        help={
            "project_id": "the project (required)",
            "webhook_secret": "serve's webhook secret (required; prefer "
            f"{spec('webhook_secret').env}): Label Studio sends it with each webhook",
        },
    )
    webhook.set_defaults(run=run, parser=webhook)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..delivery.labelstudio import LabelStudioClient, LabelStudioError  # start-up time

    settings = read_options(args, parser, WEBHOOK_SETTINGS)
    project_id = required_project_id(settings, parser)
    try:
        target = parse_http_url(args.target).rstrip("/") + "/webhooks/label-studio"
    except ValueError as exc:
        parser.error(f"--target: {exc}")
    secret = settings.webhook_secret
    if not secret:
        parser.error(
            f"give serve's webhook secret: {spec('webhook_secret').env} (or --webhook-secret); "
            "serve refuses webhooks without it"
        )
    url = settings.url
    client = LabelStudioClient(url, settings.api_key, settings.timeout)
    try:
        check_label_studio(client, project_id)  # else Label Studio answers a missing project with a 400
        webhook_id, updated = client.register_webhook(
            project_id, target, {"Authorization": f"Bearer {secret}"}
        )
    except LabelStudioError as error:
        raise label_studio_error(error, url, project_id, client) from None
    finally:
        client.close()
    done = "updated" if updated else "registered"
    print(
        f"webhook {webhook_id} {done}: annotations of project {project_id} go to {target} "
        "with serve's webhook secret"
    )
    return 0
