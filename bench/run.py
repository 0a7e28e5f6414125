"""Run every benchmark side by side in one run; print a table, write JSON, record RESULTS.md.

    .venv/bin/python -m bench.run            # the full run (about 15 minutes); rewrites bench/RESULTS.md
    .venv/bin/python -m bench.run --quick    # smaller numbers, a few minutes; RESULTS.md untouched
    make bench                               # the full run, after setting up both environments

It starts what it needs: a real Label Studio (from .venv-labelstudio, on loopback, throwaway
data) and `otel-label-studio serve` processes. Figures and ratios, never pass/fail timings:
a missed target is reported, not hidden.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench import common

HERE = Path(__file__).resolve().parent

SCENARIOS = (
    "mapping",
    "rules",
    "runs",
    "overhead",
    "e2e",
    "e2e_postgres",
    "ingest",
    "memory",
    "attack_memory",
    "hotpath",
    "judges",
    "budget",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes; does not rewrite RESULTS.md")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run only these (repeatable)")
    parser.add_argument(
        "--json", type=Path, default=HERE / "out" / "results.json", help="where to write JSON"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="JSON",
        help="only rewrite RESULTS.md from the JSON of an earlier full run",
    )
    args = parser.parse_args(argv)
    if args.record:
        (HERE / "RESULTS.md").write_text(_results_md(json.loads(args.record.read_text())))
        return 0
    chosen = args.only or list(SCENARIOS)
    results: dict = {"machine": common.machine(), "quick": args.quick, "started": _now()}
    with tempfile.TemporaryDirectory(prefix="otel-ls-bench-") as temp:
        workdir = Path(temp)
        server = None
        if {"overhead", "e2e"} & set(chosen):
            print("starting Label Studio ...", flush=True)
            server = common.start_label_studio(workdir / "label-studio")
        try:
            for name in chosen:
                print(f"running {name} ...", flush=True)
                started = time.perf_counter()
                results[name] = _run(name, workdir, server, args.quick)
                results[name]["seconds"] = round(time.perf_counter() - started, 1)
                print(_section(name, results[name]), flush=True)
        finally:
            if server is not None:
                server.stop()
    results["finished"] = _now()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"JSON written to {args.json}")
    if not args.quick and set(chosen) == set(SCENARIOS):
        (HERE / "RESULTS.md").write_text(_results_md(results))
        print(f"recorded in {HERE / 'RESULTS.md'}")
    return 0


def _run(name: str, workdir: Path, server, quick: bool) -> dict:
    if name == "mapping":
        from bench import mapping

        return mapping.run(quick)
    if name == "rules":
        from bench import rules

        return rules.run(quick)
    if name == "runs":
        from bench import runs

        return runs.run(workdir, quick)
    if name == "overhead":
        from bench import overhead

        return overhead.run(server.url, server.legacy_token, f"bench-overhead-{uuid.uuid4().hex[:6]}", quick)
    if name == "e2e":
        from bench import e2e

        return e2e.run(server.url, server.legacy_token, quick)
    if name == "e2e_postgres":
        return _e2e_postgres(workdir, quick)
    if name == "ingest":
        from bench import ingest

        return ingest.run(workdir, quick)
    if name == "memory":
        from bench import memory

        return memory.run(workdir, quick)
    if name == "attack_memory":
        from bench import attack_memory

        return attack_memory.run(workdir, quick)
    if name == "judges":
        from bench import judges

        return judges.run(quick)
    if name == "budget":
        from bench import budget

        return budget.run(quick)
    from bench import hotpath

    return hotpath.run(workdir, quick)


def _e2e_postgres(workdir: Path, quick: bool) -> dict:
    """The e2e figures that depend on Label Studio's database, with Label Studio on PostgreSQL (the
    production setting): a PostgreSQL and a second Label Studio of this run's own, stopped after."""
    from bench import e2e
    from tests.support import postgres

    print("starting PostgreSQL and a Label Studio on it ...", flush=True)
    database = postgres.start()
    try:
        server = common.start_label_studio(workdir / "label-studio-postgres", database.label_studio_env())
        try:
            result = e2e.run(server.url, server.legacy_token, quick, exporter_sweep=False)
        finally:
            server.stop()
    finally:
        database.stop()
    result["database"] = f"PostgreSQL {database.version}"
    return result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    lines = ["| " + " | ".join(k.ljust(widths[k]) for k in keys) + " |"]
    lines.append("|" + "|".join("-" * (widths[k] + 2) for k in keys) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(k, "")).ljust(widths[k]) for k in keys) + " |")
    return "\n".join(lines)


def _verdict(result: dict) -> str:
    return "target met" if result.get("met") else "TARGET MISSED"


def _section(name: str, result: dict) -> str:
    lines = [f"\n## {name} ({result.get('seconds', '?')} s)"]
    if "rows" in result:
        lines.append(_table(result["rows"]))
    if name == "mapping":
        lines.append(
            f"OTLP 2 KB prompts: {result['headline_spans_per_s']} spans/s; target >= "
            f"{result['target_spans_per_s']}: {_verdict(result)}"
        )
    elif name == "rules":
        lines.append(
            f"microseconds per span, {result['prompt_bytes']} B prompts: dropped by sampling "
            f"{result['dropped_us_per_span']}, kept {result['kept_us_per_span']}"
        )
    elif name == "runs":
        lines.append(
            f"agent runs of {result['spans_per_run']} spans: assembly cost per span (arrival, hold, release "
            f"into the queue) above; Python heap with {result['open_runs']} runs open in the last column"
        )
    elif name == "overhead":
        lines.append(
            f"added per call: {result['added_ms']} ms (target <= {result['target_added_ms']} ms): "
            f"{_verdict(result)}; tasks created: {result['tasks_created']}"
        )
    elif name == "e2e":
        lines.append(
            f"exporter / ceiling = {result['of_ceiling']} (target >= {result['targets']['of_ceiling']}); "
            f"exporter / per-span = {result['over_per_span']}x (target >= "
            f"{result['targets']['over_per_span']}x): {_verdict(result)}"
        )
    elif name == "e2e_postgres":
        lines.append(
            f"Label Studio on {result['database']}: exporter / ceiling = {result['of_ceiling']} "
            f"(target >= {result['targets']['of_ceiling']}): {_verdict(result)}"
        )
    elif name == "ingest":
        ratio = result["ratio_to_rotel"]
        lines.append(
            f"2 KB prompts, slowest of HTTP and gRPC with 1 and 4 senders "
            f"({result.get('headline_config', '?')}): {result['headline_spans_per_s']} spans/s on one core "
            f"(target >= {result['target_spans_per_s']}): {_verdict(result)}; "
            f"HTTP with 4 senders / rotel with 4: {ratio if ratio is not None else 'rotel not available'}"
        )
        if "rules_spans_per_s" in result:
            lines.append(
                f"with review rules (last rule samples 1%), HTTP x4: {result['rules_spans_per_s']} "
                f"spans/s (target >= {result['rules_target_spans_per_s']}): "
                f"{'met' if result['rules_met'] else 'NOT met'}; / rotel: "
                f"{result['rules_ratio_to_rotel'] if result['rules_ratio_to_rotel'] is not None else '-'}"
            )
    elif name == "memory":
        lines.append(
            f"peak RSS {result['peak_rss_mb']} MB over {result['ingest_seconds']} s "
            f"({result['spans_sent']} spans, "
            f"spool {result['spool_mb']} MB); RSS early {result['rss_early_mb']} MB, late "
            f"{result['rss_late_mb']} MB (target <= {result['target_peak_mb']} MB and flat): "
            f"{_verdict(result)}"
        )
    elif name == "attack_memory":
        lines.append(
            f"worst peak RSS {result['worst_peak_mb']} MB over every amplifying request, alone and "
            f"8 at a time (target < {result['target_peak_mb']} MB, refused rather than decoded): "
            f"{_verdict(result)}"
        )
    elif name == "hotpath":
        lines.append(
            f"in one process: {result['in_process_spans_per_s']} spans/s; microseconds per span: "
            f"{result['us_per_span']}"
        )
    elif name == "judges":
        low, high = result["coverage_target"]
        lines.append(
            f"corrected pass rate: share of {result['rows'][0]['seeds']} seeds whose 95% interval covers the "
            f"true rate (target {low:.0%} to {high:.0%})"
        )
        lines.append(_table(result["arena"]))
        lines.append(
            f"arena: share of seeds ordering 5 variants correctly at {result['arena'][0]['pairs']} pairs, "
            f"Elo gap {result['arena'][0]['elo_gap']}: {result['arena'][0]['correct_order']} "
            f"(target >= 0.9); both targets: {_verdict(result)}"
        )
    elif name == "budget":
        lines.append(
            f"{result['seeds']} seeds of {result['calls']} calls, a budget of {result['budget']}/day "
            f"({result['explore_picks']} explore picks a day on average): judge errors caught per 100 "
            f"reviews, budget / uniform = {result['ratio']}x (goal >= {result['goal_ratio']}x); coverage "
            f"of the 95% interval of the pass rate from the explore share: {result['coverage']:.1%} "
            f"(+- {result['coverage_se']:.1%} over the seeds; goal {result['goal_coverage'][0]:.0%}-"
            f"{result['goal_coverage'][1]:.0%}), mean width {result['mean_width']}, mean error "
            f"{result['mean_error']}: {_verdict(result)}"
        )
    if "review_rule" in result:
        review = result["review_rule"]
        lines.append(
            f"with a review rule sampling {review['sample']:.0%}: {review['tasks_per_s']} tasks/s "
            f"({review['of_ceiling']:.0%} of the ceiling) while the app made {review['calls_per_s']} "
            f"calls/s: the calls bound it ({review['sample']:.0%} of them is "
            f"{review['sample'] * review['calls_per_s']:.1f} a second; sampling by trace id is not exact)"
        )
    return "\n".join(lines)


def _results_md(results: dict) -> str:
    machine = results["machine"]
    parts = [
        "# Benchmark results",
        "",
        f"Last full run: {results['started']} to {results['finished']}, with `python -m bench.run`.",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; Python "
        f"{machine['python']}; Label Studio {machine['label_studio']}.",
        "All scenarios ran side by side in this one run; every ratio compares figures from the same run.",
    ]
    for name in SCENARIOS:
        if name in results:
            parts.append(_section(name, results[name]))
    parts += ["", "## Where the time goes", "", *_analysis(results)]
    if "hotpath" in results:
        parts += [
            "",
            "### Profile of the ingest hot path (pyinstrument)",
            "",
            "```",
            results["hotpath"]["profile"],
            "```",
        ]
    parts += [
        "",
        "Comparisons with code since deleted (the old HTTP transport) are in `bench/COMPARISONS.md`.",
    ]
    return "\n".join(parts) + "\n"


def _analysis(results: dict) -> list[str]:
    """What the figures of this run say about the bottlenecks (derived, not written by hand)."""
    lines = []
    hot = results.get("hotpath")
    if hot:
        ranked = sorted(hot["share"].items(), key=lambda item: -item[1])
        shares = ", ".join(
            f"{step} {share:.0%} ({hot['us_per_span'][step]} us/span)" for step, share in ranked
        )
        why = {
            "spool (pickle + commit)": " Each span writes its row and, once the spool holds a few "
            "thousand records, a page of its own in the (trace_id, span_id) index that keeps it "
            "once-only (span ids are random, so those writes scatter); the WAL is fsynced at every "
            "commit, which requests that arrive together share.",
            "views + mapping": " Reading OTLP attributes through the protobuf accessors and parsing the "
            "GenAI message JSON are most of it.",
        }.get(ranked[0][0], "")
        lines.append(
            f"- Ingest, per span, in one process: {shares}. The next bottleneck is **{ranked[0][0]}**.{why}"
        )
    ingest = results.get("ingest")
    if ingest and ingest.get("ratio_to_rotel"):
        lines.append(
            f"- serve acknowledges at least {ingest['headline_spans_per_s']} spans/s on one core; with "
            f"4 HTTP senders it takes {ingest['ratio_to_rotel']:.0%} of what rotel (native, no spool) "
            "takes on the same payload."
        )
    e2e = results.get("e2e")
    if e2e:
        lines.append(
            f"- End to end the exporter reaches {e2e['of_ceiling']:.0%} of Label Studio's bulk-import rate: "
            "the time is Label Studio's import; our mapping and queue add the rest."
        )
    on_postgres = results.get("e2e_postgres")
    if on_postgres:
        sqlite = ""
        if e2e:
            sqlite = f" (on SQLite: {e2e['rows'][0]['tasks_per_s']} tasks/s, {e2e['of_ceiling']:.0%})"
        lines.append(
            f"- With Label Studio on {on_postgres['database']} its ceiling is "
            f"{on_postgres['rows'][0]['tasks_per_s']} tasks/s and the exporter reaches "
            f"{on_postgres['of_ceiling']:.0%} of it{sqlite}."
        )
    mapping = results.get("mapping")
    if mapping:
        rows = {
            row["prompt_bytes"]: row["spans_per_s"]
            for row in mapping["rows"]
            if row["source"] == "OTLP protobuf"
        }
        lines.append(
            "- Mapping scales with prompt size: "
            + ", ".join(f"{size} B {rate} spans/s" for size, rate in sorted(rows.items()))
            + " (JSON decoding of the messages and copying the text dominate at large sizes)."
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
