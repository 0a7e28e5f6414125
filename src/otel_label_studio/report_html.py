"""The agreement report as one self-contained HTML page (pure): inline SVG charts, no script, no
network. A confusion-matrix heatmap and a score scatter per judge, the human-vs-human figures and
the largest disagreements linked to their tasks.

Hand-written SVG rather than a plotting library: the page needs two simple chart kinds, and
matplotlib (not installed; ~40 MB with its dependencies) or plotly (a 3.5 MB script inlined into
every page) would cost far more than the ~80 lines here. The page of a five-judge report is a few
tens of kilobytes.
"""

from __future__ import annotations

from html import escape

from .report import Report, fmt

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


def render_html(report: Report) -> str:
    title = f"Agreement: project {report.project_id} {escape(report.title)}"
    body = [f"<h1>{title}</h1>", f"<p>{report.tasks} tasks.</p>", "<h2>Human vs judge</h2>"]
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
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}.charts{display:flex;gap:2em;flex-wrap:wrap}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
