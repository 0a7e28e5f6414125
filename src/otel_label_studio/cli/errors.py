"""How every command says what went wrong: one line ``otel-label-studio COMMAND: error: ...`` on
stderr and an exit status, never a traceback, never the whole usage text.

Exit status 2: the command line, or what it names, is wrong: a malformed option (usage), a project
id Label Studio does not have, a URL where nothing answers or something other than Label Studio
answers, a refused key, an output file that cannot be written. Each is found at once, before any
work (no retries: retrying cannot fix them). Exit status 1: the work itself failed (Label Studio
failed during it, records were left undelivered). The words come from ``delivery/problems.py``,
shared with ``doctor`` and serve's readiness.

A command raises ``CommandError`` (or calls a helper here that does); ``run`` in the command
line's ``main`` prints it, once.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any, NoReturn

from ..delivery.problems import INPUT_KINDS, Problem, label_studio_problem, unwritable, writable_problem

if TYPE_CHECKING:
    from ..config import Settings  # annotations only
    from ..delivery.labelstudio import LabelStudioClient, LabelStudioError, Project  # annotations only

USAGE = 2  # the command line or what it names is wrong
FAILED = 1  # the work failed


class CommandError(Exception):
    """What a command stops with: the line to print and the exit status."""

    def __init__(self, message: str | Problem, status: int = USAGE):
        super().__init__(str(message))
        self.message = str(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and where the help is) instead of the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run(args: argparse.Namespace) -> int:
    """Run the command ``args`` names; its ``CommandError`` printed as one line."""
    try:
        return int(args.run(args, args.parser))
    except CommandError as error:
        print(f"{args.parser.prog}: error: {error.message}", file=sys.stderr)
        return error.status


def label_studio_error(
    error: LabelStudioError, url: str, project_id: int | None = None, client: LabelStudioClient | None = None
) -> CommandError:
    """A failure of Label Studio as a command's error: the shared words, exit status 2 for the URL,
    the key and the project id, 1 for anything else."""
    kind = client.token_kind if client is not None else None
    problem = label_studio_problem(error, url, project_id, token_kind=kind)
    return CommandError(problem, USAGE if error.kind in INPUT_KINDS else FAILED)


def check_label_studio(client: LabelStudioClient, project_id: int | None) -> Project | None:
    """Ask Label Studio once, before any work, what the command needs: the project (when an id is
    given), else that the URL answers and the key is taken. ``CommandError`` at once when not."""
    from ..delivery.labelstudio import LabelStudioError  # start-up time: the SDK only when it is asked

    try:
        if project_id is None:
            client.whoami()
            return None
        return client.get_project(project_id)
    except LabelStudioError as error:
        raise label_studio_error(error, client.url, project_id, client) from None


def check_delivery(settings: Settings) -> None:
    """``check_label_studio`` for a command that delivers (replay, ``spool drain``): the project when
    the settings name it by id, else the URL and the key (a project named by its title may be made)."""
    from ..delivery.labelstudio import LabelStudioClient  # start-up time: the SDK only when it is asked

    client = LabelStudioClient(settings.url, settings.api_key, settings.timeout)
    try:
        check_label_studio(client, settings.project_id)
    finally:
        client.close()


def check_writable(path: str) -> None:
    """``CommandError`` at once when ``path`` cannot be written (it is neither made nor changed)."""
    problem = writable_problem(path)
    if problem is not None:
        raise CommandError(problem)


def open_output(path: str) -> IO[Any]:
    """``path`` opened for writing (``-``: stdout); ``CommandError`` when it cannot be."""
    if path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115  (the caller closes it)
    except OSError as error:
        raise CommandError(unwritable(path, error)) from None


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 task``, ``2 tasks``: a count and its noun, in the number it takes."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
