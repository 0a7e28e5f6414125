"""``otel-label-studio webhook``: register serve's webhook, so human scores flow back."""

from __future__ import annotations

import argparse
import sys

from .. import config
from ..config import env_str
from .options import Commands, parse_url


def add_parser(commands: Commands) -> None:
    webhook = commands.add_parser(
        "webhook",
        help="register serve's webhook on a project, so human scores flow back into the traces",
        description="Register a Label Studio webhook (annotation created/updated, with payload) that "
        "points at serve's POST /webhooks/label-studio. serve needs --feedback-endpoint.",
    )
    webhook.add_argument("--project-id", type=int, required=True, metavar="ID", help="the project")
    webhook.add_argument(
        "--target",
        required=True,
        metavar="URL",
        help="serve's base URL as Label Studio reaches it, e.g. http://bridge:4318",
    )
    webhook.add_argument(
        "--url", metavar="URL", help=f"Label Studio base URL (env {config.LABEL_STUDIO_URL})"
    )
    webhook.set_defaults(run=run, parser=webhook)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..labelstudio import LabelStudioClient, LabelStudioError

    api_key = env_str(config.LABEL_STUDIO_API_KEY)
    if not api_key:
        parser.error(f"{config.LABEL_STUDIO_API_KEY} is not set")
    try:
        target = parse_url(args.target).rstrip("/") + "/webhooks/label-studio"
    except ValueError as exc:
        parser.error(f"--target: {exc}")
    url = (args.url or env_str(config.LABEL_STUDIO_URL) or config.DEFAULT_URL).rstrip("/")
    token = env_str(config.OTEL_LABEL_STUDIO_AUTH_TOKEN)
    client = LabelStudioClient(url, api_key, config.DEFAULT_TIMEOUT_SECONDS)
    try:
        webhook_id = client.register_webhook(args.project_id, target, token)
    except LabelStudioError as error:
        print(f"Label Studio at {url}: {error.detail}", file=sys.stderr)
        return 1
    finally:
        client.close()
    sent = " with the bearer token from " + config.OTEL_LABEL_STUDIO_AUTH_TOKEN if token else ""
    print(f"webhook {webhook_id}: annotations of project {args.project_id} go to {target}{sent}")
    return 0
