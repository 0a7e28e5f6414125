"""``otel-label-studio webhook``: register serve's webhook, so human scores flow back."""

from __future__ import annotations

import argparse
import sys

from ..config import parse_http_url
from .options import LABEL_STUDIO_SETTINGS, Commands, add_options, read_options, required_project_id

WEBHOOK_SETTINGS = (*LABEL_STUDIO_SETTINGS, "auth_token")


def add_parser(commands: Commands) -> None:
    webhook = commands.add_parser(
        "webhook",
        help="register serve's webhook on a project, so human scores flow back into the traces (and "
        "judges show once a task is answered)",
        description="Register a Label Studio webhook (annotation created/updated, with payload) that "
        "points at serve's POST /webhooks/label-studio. serve needs --feedback-endpoint (human scores "
        "back into the traces) or --reveal-judges after_answer (judges shown once a task is answered).",
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
            "auth_token": "serve's --auth-token: Label Studio sends it as a bearer token with each webhook",
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
    url, token = settings.url, settings.auth_token
    client = LabelStudioClient(url, settings.api_key, settings.timeout)
    try:
        webhook_id = client.register_webhook(project_id, target, token)
    except LabelStudioError as error:
        print(f"Label Studio at {url}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        client.close()
    sent = " with the bearer token of serve's --auth-token" if token else ""
    print(f"webhook {webhook_id}: annotations of project {project_id} go to {target}{sent}")
    return 0
