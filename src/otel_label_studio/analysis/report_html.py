"""The agreement report as one self-contained HTML page (pure): inline SVG charts, no script, no
network. A confusion-matrix heatmap and a score scatter per judge, the human-vs-human figures and
the largest disagreements linked to their tasks; for a pairwise project (``render_pair_html``), the
win rates as bars with their 95% Wilson interval as whiskers, and the counts in a table.

Hand-written SVG rather than a plotting library: the page needs two simple chart kinds, and
matplotlib (not installed; ~40 MB with its dependencies) or plotly (a 3.5 MB script inlined into
every page) would cost far more than the ~80 lines here. The page of a five-judge report is a few
tens of kilobytes.
"""

from __future__ import annotations

from html import escape

from ..modes.pairs import WinRate
from .arena import Arena
from .calibration import JudgeCalibration, interval_words, needed_words, scope_words
from .report import PairReport, Report, compared_by, fmt, left_out, told_apart_by_words
from .run_report import RunCounts

_CELL = 44
_PLOT = 260


def _text(x: float, y: float, text: object, anchor: str = "middle", size: int = 12, extra: str = "") -> str:
    return f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}"{extra}>{text}</text>'


def _heatmap(labels: list[int], confusion: list[list[int]], name: str) -> str:
    top = max((c for row in confusion for c in row), default=0) or 1
    k = len(labels)
    pad = 40
    size = pad + k * _CELL + 10
    parts = [
        f'<svg class="heatmap" data-judge="{escape(name)}" role="img" width="{size}" height="{size + 20}" '
        f'viewBox="0 0 {size} {size + 20}">',
        f"<title>confusion matrix, human (rows) vs judge:{escape(name)} (columns)</title>",
    ]
    for i, label in enumerate(labels):
        parts.append(_text(pad + i * _CELL + _CELL / 2, pad - 8, label))
        parts.append(_text(pad - 8, pad + i * _CELL + _CELL / 2 + 4, label, "end"))
        for j, count in enumerate(confusion[i]):
            shade = count / top
            colour = f"rgb({int(255 - 200 * shade)},{int(255 - 120 * shade)},255)"
            if i == j:
                colour = f"rgb({int(255 - 200 * shade)},255,{int(255 - 200 * shade)})"
            x, y = pad + j * _CELL, pad + i * _CELL
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{_CELL}" height="{_CELL}" fill="{colour}" '
                f'stroke="#999" data-human="{labels[i]}" data-judge-rating="{labels[j]}" '
                f'data-count="{count}"/>'
            )
            parts.append(_text(x + _CELL / 2, y + _CELL / 2 + 4, count, size=13))
    middle = pad + k * _CELL / 2
    parts.append(_text(middle, size + 14, "judge rating"))
    parts.append(_text(12, middle, "human rating", extra=f' transform="rotate(-90 12 {middle})"'))
    parts.append("</svg>")
    return "".join(parts)


def _scatter(points: list[tuple[float, float, int]], max_rating: int, name: str) -> str:
    pad = 40
    width = height = _PLOT + pad + 10
    scores = [s for s, _, _ in points]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    low, high = min(low, 0.0), max(high, 1.0)

    def x(score: float) -> float:
        return pad + (score - low) / ((high - low) or 1) * _PLOT

    def y(human: float) -> float:
        return 10 + (max_rating - human) / ((max_rating - 1) or 1) * _PLOT

    parts = [
        f'<svg class="scatter" data-judge="{escape(name)}" role="img" width="{width}" height="{height + 20}" '
        f'viewBox="0 0 {width} {height + 20}">',
        f"<title>judge:{escape(name)} score (x) against the human rating (y)</title>",
        f'<line x1="{pad}" y1="{10 + _PLOT}" x2="{pad + _PLOT}" y2="{10 + _PLOT}" stroke="#333"/>',
        f'<line x1="{pad}" y1="10" x2="{pad}" y2="{10 + _PLOT}" stroke="#333"/>',
    ]
    for star in range(1, max_rating + 1):
        parts.append(_text(pad - 6, y(star) + 4, star, "end", 11))
    for tick in (low, (low + high) / 2, high):
        parts.append(_text(x(tick), _PLOT + 26, f"{tick:g}", size=11))
    for score, human, task in points:
        # a little deterministic jitter so equal points stay visible
        dx, dy = ((task * 7) % 9 - 4) * 0.8, ((task * 5) % 9 - 4) * 0.8
        parts.append(
            f'<circle class="point" cx="{x(score) + dx:.1f}" cy="{y(human) + dy:.1f}" r="4" '
            f'fill="#3b6fd4" fill-opacity="0.6" data-task="{task}"><title>task {task}: judge {score:g}, '
            f"human {human:g}</title></circle>"
        )
    parts.append(_text(pad + _PLOT / 2, height + 14, "judge score"))
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report, runs: RunCounts | None = None) -> str:
    """The agreement report as a page; an agent project's ``runs`` (``run_report.py``) first."""
    title = f"Agreement: project {report.project_id} {escape(report.title)}"
    body = [f"<h1>{title}</h1>", f"<p>{report.tasks} tasks.</p>"]
    if runs is not None:
        body.append(_runs_section(runs))
    body.append("<h2>Human vs judge</h2>")
    if not report.judges:
        body.append("<p>No task has both a human rating and a judge prediction.</p>")
    for j in report.judges:
        body.append(
            f'<section class="judge"><h3>judge:{escape(j.name)}</h3><p>Cohen\'s kappa (quadratic) '
            f"<b>{fmt(j.kappa_quadratic)}</b> (n={j.n}); Spearman's rho <b>{fmt(j.spearman)}</b> "
            f'(n={j.n_spearman})</p><div class="charts">{_heatmap(j.labels, j.confusion, j.name)}'
            f"{_scatter(j.points, report.max_rating, j.name)}</div></section>"
        )
    h = report.humans
    body.append(
        "<h2>Human vs human</h2>"
        f"<p>Krippendorff's alpha (ordinal) <b>{fmt(h.alpha_ordinal)}</b>; percent agreement "
        f"<b>{fmt(h.percent_agreement)}</b>; on {h.tasks} tasks with 2+ annotators ({h.ratings} ratings, "
        f"{h.annotators} annotators).</p>"
    )
    if report.calibration is not None:
        body.append(_calibration_section(report.calibration))
    rows = "".join(
        f'<tr><td><a href="{escape(d.link)}">task {d.task_id}</a></td><td>{escape(d.kind)}</td>'
        f"<td>{d.gap:g}</td><td>{' / '.join(f'{v:g}' for v in d.human)}</td>"
        f"<td>{'' if d.other is None else f'{d.other:g}'}</td></tr>"
        for d in report.disagreements
    )
    body.append(
        '<h2>Largest disagreements</h2><table class="disagreements"><tr><th>task</th><th>between</th>'
        f"<th>stars apart</th><th>human</th><th>judge</th></tr>{rows}</table>"
    )
    return _page(title, body)


def _page(title: str, body: list[str]) -> str:
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}.charts{display:flex;gap:2em;flex-wrap:wrap}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _win_rate_bars(rates: list[WinRate], variant: str) -> str:
    label_width, row, pad = 240, 34, 30
    width = label_width + _PLOT * 1.6 + 20
    plot = _PLOT * 1.6
    height = pad + row * len(rates) + 30

    def x(value: float) -> float:
        return label_width + value * plot

    parts = [
        f'<svg class="winrates" role="img" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}">',
        f"<title>win rate per pair of {escape(variant)} values, with 95% Wilson intervals</title>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        dash = ' stroke-dasharray="4 3"' if tick == 0.5 else ""
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{pad - 6}" x2="{x(tick):.1f}" y2="{height - 24}" '
            f'stroke="#bbb"{dash}/>'
        )
        parts.append(_text(x(tick), pad - 10, f"{tick:g}", size=11))
    for i, r in enumerate(rates):
        top = pad + i * row
        middle = top + row / 2
        parts.append(_text(label_width - 8, middle + 4, f"{escape(r.first)} vs {escape(r.second)}", "end"))
        data = (
            f'data-first="{escape(r.first)}" data-second="{escape(r.second)}" data-wins="{r.wins}" '
            f'data-losses="{r.losses}" data-ties="{r.ties}" data-both-bad="{r.both_bad}"'
        )
        if r.win_rate is None or r.low is None or r.high is None:
            parts.append(_text(x(0) + 6, middle + 4, "no decided pairs", "start", 11, f" {data}"))
            continue
        tip = (
            f"{escape(r.first)} vs {escape(r.second)}: win rate {r.win_rate:.3f} "
            f"[{r.low:.3f}, {r.high:.3f}], {r.wins} wins, {r.losses} losses, {r.ties} ties, "
            f"{r.both_bad} both bad"
        )
        parts.append(
            f'<rect class="bar" x="{x(0):.1f}" y="{top + 7}" width="{r.win_rate * plot:.1f}" '
            f'height="{row - 14}" fill="#3b6fd4" fill-opacity="0.75" {data} '
            f'data-win-rate="{r.win_rate:.6f}"><title>{tip}</title></rect>'
        )
        parts.append(
            f'<g class="whisker" data-low="{r.low:.6f}" data-high="{r.high:.6f}" stroke="#222" '
            f'stroke-width="1.5"><line x1="{x(r.low):.1f}" y1="{middle}" x2="{x(r.high):.1f}" y2="{middle}"/>'
            f'<line x1="{x(r.low):.1f}" y1="{middle - 6}" x2="{x(r.low):.1f}" y2="{middle + 6}"/>'
            f'<line x1="{x(r.high):.1f}" y1="{middle - 6}" x2="{x(r.high):.1f}" y2="{middle + 6}"/></g>'
        )
    parts.append(_text(x(0.5), height - 6, "win rate of the first (wins / (wins + losses))"))
    parts.append("</svg>")
    return "".join(parts)


def render_pair_html(report: PairReport) -> str:
    title = f"Win rates: project {report.project_id} {escape(report.title)}"
    body = [
        f"<h1>{title}</h1>",
        f"<p>{report.tasks} pair tasks, {report.reviewed} with a choice; compared by "
        f"<b>{escape(compared_by(report))}</b>. Ties and both bad are counted but not in the rate; the "
        "whiskers are the 95% Wilson interval.</p>",
    ]
    if report.win_rates:
        body.append(_win_rate_bars(report.win_rates, report.variant))
    else:
        what = escape(told_apart_by_words(report))
        body.append(f"<p>No reviewed pair has two different {what} values.</p>")
    rows = "".join(
        f"<tr><td>{escape(r.first)}</td><td>{escape(r.second)}</td><td>{r.wins}</td><td>{r.losses}</td>"
        f"<td>{r.ties}</td><td>{r.both_bad}</td>"
        f"<td>{'undefined' if r.win_rate is None else f'{r.win_rate:.3f}'}</td>"
        f"<td>{'' if r.low is None or r.high is None else f'{r.low:.3f} to {r.high:.3f}'}</td></tr>"
        for r in report.win_rates
    )
    body.append(
        '<table class="winrates"><tr><th>first</th><th>second</th><th>wins</th><th>losses</th><th>ties</th>'
        f"<th>both bad</th><th>win rate</th><th>95% interval</th></tr>{rows}</table>"
    )
    if report.arena is not None:
        body.append(_arena_section(report.arena))
    if report.same_variant:
        body.append(f"<p>{escape(left_out(report))}.</p>")
    return _page(title, body)


def _count_table(css: str, what: str, counts: dict[str, int]) -> str:
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td data-count="{count}">{count}</td></tr>'
        for name, count in counts.items()
    )
    return (
        f'<table class="{css}"><tr><th>{escape(what)}</th><th>runs</th></tr>'
        f"{rows or '<tr><td colspan=2>none</td></tr>'}</table>"
    )


def _runs_section(runs: RunCounts) -> str:
    """An agent project's runs: how they ended, first wrong steps by kind and by tool, failure modes."""
    ended = ", ".join(f"{escape(status)} {count}" for status, count in runs.statuses.items()) or "none"
    return (
        f'<section class="runs"><h2>Agent runs</h2><p>{runs.runs} runs ({ended}); {runs.reviewed} reviewed, '
        f"<b>{runs.with_wrong_step}</b> with a first wrong step, {runs.no_wrong_step} with no step marked "
        "wrong (the first wrong step is the earliest step marked Wrong step, or the one chosen as such)."
        '</p><div class="charts">'
        + _count_table("first-wrong-kind", "first wrong step: kind", runs.first_wrong_by_kind)
        + _count_table("first-wrong-tool", "first wrong step: tool", runs.first_wrong_by_tool)
        + _count_table("failure-modes", "failure mode", runs.failure_modes)
        + "</div></section>"
    )


def _calibration_section(calibrations: list[JudgeCalibration]) -> str:
    """One row per judge: sensitivity, specificity, kappa, the raw and the corrected pass rate."""
    if not calibrations:
        return "<h2>Calibration</h2><p>No task has a judge rating.</p>"
    rows = []
    for c in calibrations:
        (tp, fn), (fp, tn) = c.confusion
        rows.append(
            f'<tr class="calibration-row" data-judge="{escape(c.name)}" '
            f'data-corrected="{fmt(c.corrected, 6)}">'
            f"<td>judge:{escape(c.name)}</td><td>{c.reviewed}</td>"
            f"<td>{tp:g} / {fn:g} / {fp:g} / {tn:g}</td>"
            f"<td>{fmt(c.sensitivity.value)}{interval_words(c.sensitivity.low, c.sensitivity.high)}</td>"
            f"<td>{fmt(c.specificity.value)}{interval_words(c.specificity.low, c.specificity.high)}</td>"
            f"<td>{fmt(c.kappa_quadratic)}</td><td>{fmt(c.raw.value)} (n={c.raw.n})</td>"
            f"<td><b>{fmt(c.corrected)}</b>{interval_words(c.corrected_low, c.corrected_high)}</td>"
            f"<td>{escape(scope_words(c))}; {escape(needed_words(c))}</td></tr>"
        )
    return (
        f"<h2>Calibration</h2><p>A pass is a rating of {calibrations[0].pass_at:g} or more, for the human "
        "(newest annotation) and the judge. Intervals are 95%: Wilson for sensitivity and specificity, a "
        "parametric bootstrap for the corrected pass rate (Rogan-Gladen).</p>"
        '<table class="calibration"><tr><th>judge</th><th>reviewed</th>'
        "<th>human pass: judge pass / fail; human fail: judge pass / fail</th><th>sensitivity</th>"
        "<th>specificity</th><th>kappa (quadratic)</th><th>raw pass rate</th><th>corrected pass rate</th>"
        f"<th>scope</th></tr>{''.join(rows)}</table>"
    )


def _win_matrix(arena: Arena) -> str:
    """The win-rate matrix as a heatmap: the row's win rate against the column, best first."""
    k, pad = len(arena.variants), 130
    size = pad + k * _CELL + 10
    parts = [
        f'<svg class="arena-heatmap" role="img" width="{size}" height="{size}" viewBox="0 0 {size} {size}">',
        "<title>win rate of the row's variant against the column's</title>",
    ]
    for i, name in enumerate(arena.variants):
        parts.append(_text(pad + i * _CELL + _CELL / 2, pad - 8, escape(name[:8]), size=11))
        parts.append(_text(pad - 8, pad + i * _CELL + _CELL / 2 + 4, escape(name[:18]), "end", 11))
        for j, rate in enumerate(arena.matrix[i]):
            x, y = pad + j * _CELL, pad + i * _CELL
            if rate is None:
                colour, label = "#eee", ""
            else:  # blue where the row wins, red where it loses
                strength = abs(rate - 0.5) * 2
                fade = int(255 - 170 * strength)
                colour = f"rgb({fade},{fade},255)" if rate >= 0.5 else f"rgb(255,{fade},{fade})"
                label = f"{rate:.2f}"
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{_CELL}" height="{_CELL}" fill="{colour}" '
                f'stroke="#999" data-row="{escape(arena.variants[i])}" '
                f'data-column="{escape(arena.variants[j])}" '
                f'data-win-rate="{"" if rate is None else f"{rate:.6f}"}"/>'
            )
            parts.append(_text(x + _CELL / 2, y + _CELL / 2 + 4, label, size=11))
    parts.append("</svg>")
    return "".join(parts)


def _arena_section(arena: Arena) -> str:
    ratings = "".join(
        f'<tr class="rating" data-variant="{escape(r.variant)}" data-rating="{r.rating:.3f}">'
        f"<td>{escape(r.variant)}</td><td><b>{r.rating:.0f}</b></td>"
        f"<td>{r.low:.0f} to {r.high:.0f}</td><td>{r.pairs}</td></tr>"
        for r in arena.ratings
    )
    needs = "".join(
        f"<tr><td>{escape(c.rate.first)}</td><td>{escape(c.rate.second)}</td><td>{c.rate.ties}</td>"
        f"<td>{c.rate.both_bad}</td><td>{'undefined' if c.more_needed is None else c.more_needed}</td></tr>"
        for c in arena.comparisons
    )
    return (
        '<section class="arena"><h2>Arena</h2><p>Bradley-Terry ratings (Elo scale; a tie or both bad counts '
        "half a win each) with 95% bootstrap intervals; the heatmap is each row's win rate against each "
        "column.</p>"
        f'<div class="charts">{_win_matrix(arena)}<table class="ratings"><tr><th>variant</th><th>rating</th>'
        f"<th>95% interval</th><th>pairs</th></tr>{ratings}</table></div>"
        '<table class="needs"><tr><th>first</th><th>second</th><th>ties</th><th>both bad</th>'
        f"<th>decided pairs still needed to tell them apart</th></tr>{needs}</table></section>"
    )
