"""Command-line options, derived from the settings model (``config.Settings``): each setting's flag,
metavar and help come from its ``Spec``. The command line wins over the environment, the
environment over the default; a malformed value, wherever it came from, stops the command with
what to fix (exit status 2)."""

from __future__ import annotations

import argparse
import os
from typing import Collection, Mapping, TypeAlias

from .. import config
from ..config import Settings
from ..modes.layouts import Layout
from ..modes.pair_layout import PairLayout
from ..modes.units import task_layout

#: What ``add_subparsers`` returns: each command module adds its parser to it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: serve reads every setting the model marks for it.
SERVE_SETTINGS = tuple(name for name in config.names() if config.spec(name).serve)

#: What delivering to a project needs: replay and ``spool drain``.
PROJECT_SETTINGS = (
    "url",
    "api_key",
    "project_id",
    "project_name",
    "mode",
    "project_config",
    "batch_size",
    "timeout",
    "import_timeout",
    "include_errors",
    "metadata_prefix",
    "redact",
    "redact_builtin",
)

#: doctor takes serve's options, so a serve command line works with doctor in its place.
DOCTOR_SETTINGS = SERVE_SETTINGS

#: Talking to Label Studio about one project: export and webhook.
LABEL_STUDIO_SETTINGS = ("url", "api_key", "project_id", "timeout")


#: A setting's meaning on the command line where its model doc speaks of the in-process exporter.
COMMAND_DOCS = {
    "timeout": "seconds one request to Label Studio may take",
    "project_config": "label config file (XML) for new projects, instead of the layout's",
}


def help_text(name: str, text: str | None = None) -> str:
    """A setting's ``--help`` line: its documentation, its variable, its default."""
    spec = config.spec(name)
    shown = config.shown_default(name).replace("`", "")
    text = text or COMMAND_DOCS.get(name) or spec.doc
    return f"{text} (env {spec.env}; default: {shown})".replace("%", "%%")


def add_options(
    parser: argparse.ArgumentParser,
    names: Collection[str],
    *,
    help: Mapping[str, str] | None = None,
    choices: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Add the command-line option of each setting in ``names`` that has one; ``help`` replaces a
    setting's documentation, ``choices`` narrows the values a command takes on its command line."""
    for name in names:
        spec = config.spec(name)
        if spec.flag is None:
            continue
        parser.add_argument(
            spec.flag,
            dest=name,
            default=None,
            action="append" if spec.repeatable else "store",
            metavar=spec.metavar,
            choices=(choices or {}).get(name),
            help=help_text(name, (help or {}).get(name)),
        )


def read_options(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    names: Collection[str],
    *,
    require_key: bool = True,
    unchecked: Collection[str] = (),
) -> Settings:
    """The settings ``names`` from the command line and the environment; exits 2 with what to fix."""
    flags = {name: getattr(args, name, None) for name in names if config.spec(name).flag}
    try:
        settings = config.read_settings(names, flags=flags, environ=os.environ, unchecked=unchecked)
    except config.SettingsError as exc:
        parser.error(str(exc))
    if require_key and "api_key" in names and not settings.api_key:
        env = config.spec("api_key").env
        parser.error(
            f"{env} is not set: copy a token from Label Studio > Account & Settings and export {env}=..."
        )
    return settings


def project_layout(settings: Settings, parser: argparse.ArgumentParser) -> Layout | PairLayout:
    """The task layout of the settings' mode and label config; exits 2 when the config cannot take tasks."""
    try:
        return task_layout(settings.mode, settings.project_config)
    except ValueError as exc:
        parser.error(f"project config: {exc}")
    raise AssertionError("not reached: parser.error exits")


def project_settings(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[Settings, Layout | PairLayout]:
    """Label Studio, the project and the task layout from the options; exits 2 with what to fix."""
    settings = read_options(args, parser, PROJECT_SETTINGS)
    return settings, project_layout(settings, parser)


def required_project_id(settings: Settings, parser: argparse.ArgumentParser) -> int:
    if settings.project_id is None:
        parser.error(f"--project-id (or {config.spec('project_id').env}) is required: the project")
    assert settings.project_id is not None
    return settings.project_id
