"""``otel-label-studio spool``: look into a serve process's spool, re-queue dead letters, drain it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from .. import logs
from ..feedback.outbox import OUTBOX_FILE, FeedbackOutbox
from ..store.spool import SPOOL_FILE, Spool, SpoolJudgeResults
from .errors import CommandError, check_delivery, counted
from .foreground import deliver_in_foreground
from .options import PROJECT_SETTINGS, Commands, add_options, project_settings, read_options

#: The spool commands read an existing spool: their --data-dir is not created when missing.
DATA_DIR_HELP = {"data_dir": "directory of serve's durable spool (it must exist: serve creates it)"}


def add_parser(commands: Commands) -> None:
    spool = commands.add_parser(
        "spool",
        help="inspect the spool of a serve process: stats, dead letters, retry, drain",
        description="Inspect the durable spool (works while serve is running).",
        epilog="Review rules decide when spans arrive (serve, replay --review-rules): every record in a "
        "spool was already decided and is delivered as it is, so no spool action takes --review-rules. "
        "To see what rules would do to traffic, run `rules check` on a capture.",
    )
    spool_commands = spool.add_subparsers(dest="spool_command", metavar="ACTION")
    spool_commands.required = True
    for name, run, text in (
        (
            "stats",
            stats,
            "records waiting, age of the oldest, dead letters, feedback events and judge results waiting",
        ),
        ("dead-letters", dead_letters, "tasks Label Studio refused for good, with the reason"),
        ("retry", retry, "put every dead letter back in the queue"),
        (
            "drain",
            drain,
            "deliver what waits, in the foreground with progress (serve must not run); its records "
            "were decided by the review rules when they arrived",
        ),
    ):
        action = spool_commands.add_parser(name, help=text, description=text)
        add_options(action, ("data_dir",), help=DATA_DIR_HELP)
        if name != "drain":
            action.add_argument("--json", action="store_true", help="print JSON instead of text")
        if name == "dead-letters":
            action.add_argument(
                "--limit", type=int, default=100, metavar="N", help="most letters to show (default: 100)"
            )
        if name == "drain":
            add_options(action, PROJECT_SETTINGS)
            action.add_argument("--no-progress", action="store_true", help="no progress bar")
        action.set_defaults(run=run, parser=action)


def stats(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spool = _open_spool(args, parser)
    figures = spool.stats()
    judges = SpoolJudgeResults(spool).waiting()
    spool.close()
    try:
        feedback = _feedback_waiting(os.path.dirname(spool.path))
    except ValueError as exc:  # a damaged outbox: which file, and how to move it aside
        raise CommandError(str(exc)) from None
    folded = _folded_repeats(os.path.dirname(spool.path))
    if args.json:
        values = {
            "path": spool.path,
            **dataclasses.asdict(figures),
            "feedback_events_waiting": feedback,
            "folded_repeats": folded,
            "judge_results_waiting": judges,
        }
        print(json.dumps(values))
        return 0
    age = "-" if figures.oldest_age_seconds is None else f"{figures.oldest_age_seconds:.1f}s"
    print(f"spool:            {spool.path}")
    print(
        f"waiting:          {counted(figures.depth, 'record')} (oldest {age}; {figures.in_flight} in flight)"
    )
    print(f"dead letters:     {figures.dead_letters}")
    print(f"delivered (kept): {figures.delivered_remembered} span ids remembered against duplicates")
    print(
        f"size:             {figures.size_bytes} bytes on disk, {figures.used_bytes} in use (limit's measure)"
    )
    print(f"feedback:         {counted(feedback, 'evaluation event')} waiting for the feedback endpoint")
    print(f"judge results:    {judges} waiting for their span's task (dropped after judge_wait)")
    if folded:
        shown = ", ".join(f"{project} {count}" for project, count in folded.items())
        print(f"folded repeats:   {sum(folded.values())} (review rules; per project: {shown})")
    return 0


def dead_letters(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spool = _open_spool(args, parser)
    letters = spool.dead_letters(args.limit)
    spool.close()
    if args.json:
        for letter in letters:
            print(
                json.dumps(
                    {
                        "trace_id": letter.trace_id,
                        "span_id": letter.span_id,
                        "failed_at": letter.failed_at,
                        "reason": letter.reason,
                        "project": letter.record.project,
                        "model": letter.record.model,
                    }
                )
            )
        return 0
    if not letters:
        print("no dead letters")
        return 0
    for letter in letters:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(letter.failed_at))
        print(f"{when}  trace {letter.trace_id} span {letter.span_id}\n    {letter.reason}")
    return 0


def retry(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spool = _open_spool(args, parser)
    moved = spool.retry_dead_letters()
    spool.close()
    print(
        json.dumps({"requeued": moved})
        if args.json
        else f"{counted(moved, 'dead letter')} put back in the queue"
    )
    return 0


def drain(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..bridge import build_bridge  # start-up time: loaded only when this command runs

    spool = _open_spool(args, parser)
    settings, layout = project_settings(args, parser)
    logs.configure("WARNING", "text", secrets=(settings.api_key,))
    try:
        check_delivery(settings)  # a wrong URL, key or project id: said at once
    except BaseException:
        spool.close()
        raise
    bridge = build_bridge(settings, layout, spool)
    total = spool.stats().depth
    left = deliver_in_foreground(bridge, spool, total, "drain", not args.no_progress)
    counts = bridge.worker.stats
    print(
        f"{counted(total, 'record')} waited: {counted(counts.tasks_created, 'task')} created, "
        f"{counts.already_present} already in Label Studio, {counted(counts.dead_lettered, 'dead letter')}"
        + (f", {left} still waiting" if left else "")
    )
    return 0 if not left else 1


def _open_spool(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Spool:
    data_dir = read_options(args, parser, ("data_dir",)).data_dir
    path = _spool_path(data_dir)
    try:
        return Spool(path)
    except ValueError as exc:  # a damaged file: which one, what is wrong, the mv that moves it aside
        raise CommandError(str(exc)) from None


def _spool_path(data_dir: str) -> str:
    """The spool file of ``data_dir``, or of its one sub-directory that holds a spool (the parent of
    serve's --data-dir given, as the demo's .local/demo for .local/demo/spool: said on stderr)."""
    path = os.path.join(data_dir, SPOOL_FILE)
    if os.path.exists(path):
        return path
    found = sorted(
        os.path.join(data_dir, name)
        for name in (os.listdir(data_dir) if os.path.isdir(data_dir) else ())
        if os.path.isfile(os.path.join(data_dir, name, SPOOL_FILE))
    )
    if len(found) == 1:
        print(f"no spool in {data_dir}; using the one in {found[0]}", file=sys.stderr)
        return os.path.join(found[0], SPOOL_FILE)
    if found:
        raise CommandError(
            f"no spool in {data_dir}, but one in each of {', '.join(found)}: pass one of them as --data-dir"
        )
    raise CommandError(f"no spool at {path}: pass the --data-dir that serve uses")


def _folded_repeats(data_dir: str) -> dict[str, int]:
    """Repeats the review rules folded, per project (empty without review rules)."""
    from ..rules import read_folded, state_path_for  # start-up time: loaded only when this command runs

    return read_folded(state_path_for(data_dir))


def _feedback_waiting(data_dir: str) -> int:
    """Evaluation events serve keeps for its feedback endpoint (0 when it takes no webhooks)."""
    path = os.path.join(data_dir, OUTBOX_FILE)
    if not os.path.exists(path):
        return 0
    outbox = FeedbackOutbox(path)
    try:
        return outbox.waiting()
    finally:
        outbox.close()
