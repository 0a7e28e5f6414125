"""``report --calibration`` and the arena (issue 29), against the real Label Studio.

A project of judged tasks (two judges' ``judge:<name>`` predictions through the SDK), some reviewed by a
real user through the API, most reviewed tasks carrying ``meta.review.weight`` (a review picked
disagreement-first); and a pairwise project of three models reviewed through the API. ``report`` runs as
the real command line; every figure is checked against a reference computed here: scikit-learn's weighted
confusion matrix, recall and kappa, the Wilson score interval, the Rogan-Gladen formula, an independent
Monte Carlo of the corrected rate's bootstrap with scipy's samplers, and scipy's optimiser on the
Bradley-Terry likelihood.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from label_studio_sdk import LabelStudio
from scipy import optimize
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from otel_label_studio import PROMPT_CONFIG
from otel_label_studio.delivery.labelstudio import LabelStudioClient, encode_task
from otel_label_studio.judges.judge import judge_prediction, score_to_rating
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pairs import Pair, form_pairs
from otel_label_studio.reading.record import Message
from tests.support.browser import ARTIFACTS, chromium
from tests.support.builders import record

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
Z = 1.959963984540054
PASS_AT = 3  # the default: the upper half of 1..5

# One row per task: (helpfulness score, safety score or None, the reviewer's rating or None, weight or None).
# The review was picked disagreement-first: a task helpfulness failed had twice the chance (weight 2, not 4).
_H = [1.0, 1.0, 0.75, 1.0, 0.75, 1.0, 0.0, 0.25, 1.0, 0.0, 0.75, 1.0, 0.25, 0.0, 1.0, 0.75]
_S = [1.0, 0.75, 1.0, 0.0, 1.0, None, 1.0, 0.0, 0.25, 0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0]
_HUMAN = [5, 4, 5, 2, 4, 1, 4, 1, 5, 2, 2, 5, 1, 5, 4, 3]
CALIBRATION: list[tuple[float, float | None, int | None, float | None]] = [
    (h, s, human, (2.0 if h < 0.5 else 4.0) if i != 3 else None)  # task 3: reviewed without a weight
    for i, (h, s, human) in enumerate(zip(_H, _S, _HUMAN, strict=True))
] + [  # judged, never reviewed: in the raw pass rate only
    (score, 1.0 - score if i % 3 else None, None, None)
    for i, score in enumerate([1.0, 0.75, 1.0, 0.0, 1.0, 0.5, 0.25, 1.0, 1.0, 0.0, 0.75, 1.0, 0.0, 1.0])
]

LAYOUT = PairLayout.from_config(PAIRWISE_CONFIG)
# (left model, right model, the reviewer's choice: a model, "tie" or "both bad"), one pair task each
ARENA = (
    [("alpha", "beta", "alpha")] * 6
    + [("beta", "alpha", "beta")] * 2
    + [("alpha", "beta", "tie")]
    + [("alpha", "gamma", "alpha")] * 7
    + [("gamma", "alpha", "gamma")]
    + [("alpha", "gamma", "both bad")]
    + [("beta", "gamma", "beta")] * 5
    + [("gamma", "beta", "gamma")] * 3
    + [("beta", "gamma", "tie")] * 2
)


def rating(stars: int) -> dict[str, Any]:
    return {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": stars}}


def run_cli(label_studio, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.legacy_token,
    }
    return subprocess.run(
        [SCRIPT, *args, "--no-progress"], env=env, capture_output=True, text=True, timeout=180
    )


def make_calibration_project(label_studio, review: bool = True) -> int:
    """The CALIBRATION tasks in a new prompt project: imported with their meta, judged and (``review``)
    reviewed."""
    admin = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)
    client = LabelStudioClient(label_studio.url, label_studio.legacy_token, 30)
    project = client.create_project(f"calibration-{uuid.uuid4().hex[:8]}", PROMPT_CONFIG)
    client.close()
    tasks = []
    for i, (_, _, _, weight) in enumerate(CALIBRATION):
        task: dict[str, Any] = {
            "data": {
                "prompt": f"question {i}",
                "model": "model",
                "latency_ms": 100 + i,
                "trace_id": f"{i + 1:032x}",
                "span_id": f"{i + 1:016x}",
                "judges": "",
            }
        }
        if weight is not None:
            task["meta"] = {"review": {"weight": weight}}
        tasks.append(task)
    admin.projects.import_tasks(id=project.id, request=tasks)
    ids = sorted(int(t.id) for t in admin.tasks.list(project=project.id))
    for task_id, (helpfulness, safety, human, _) in zip(ids, CALIBRATION, strict=True):
        admin.predictions.create(task=task_id, **judge_prediction("helpfulness", helpfulness))
        if safety is not None:
            admin.predictions.create(task=task_id, **judge_prediction("safety", safety))
        if human is not None and review:
            admin.annotations.create(id=task_id, result=[rating(human)])
    return project.id


def review_calibration_project(label_studio, project_id: int) -> None:
    admin = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)
    ids = sorted(int(t.id) for t in admin.tasks.list(project=project_id))
    for task_id, (_, _, human, _) in zip(ids, CALIBRATION, strict=True):
        if human is not None:
            admin.annotations.create(id=task_id, result=[rating(human)])


@pytest.fixture(scope="module")
def calibration_project(label_studio) -> int:
    return make_calibration_project(label_studio)


def pair_of(n: int, first: str, second: str) -> Pair:
    """Two models answering one request in trace ``n``, the way the bridge pairs them."""
    messages = [Message("user", f"question {n}")]
    records = [
        replace(
            record(2 * n + i, f"{n + 1:032x}"),
            messages=messages,
            outputs=[f"{model} answers {n}"],
            request_model=model,
            start_time_unix_nano=i,
            project=None,
        )
        for i, model in enumerate((first, second))
    ]
    (pair,) = form_pairs(records).pairs
    return pair


def choose(pair: Pair, chosen: str) -> list[dict[str, Any]]:
    """What a reviewer submits to choose ``chosen`` (a model, "tie" or "both bad")."""
    if chosen in ("tie", "both bad"):
        verdict = "Tie" if chosen == "tie" else "Both bad"
        return [
            {
                "from_name": "verdict",
                "to_name": "dialogue",
                "type": "choices",
                "value": {"choices": [verdict]},
            }
        ]
    selected = "left" if pair.a.model == chosen else "right"
    return [{"from_name": "choice", "to_name": "choice", "type": "pairwise", "value": {"selected": selected}}]


def make_arena_project(label_studio, review: bool = True) -> int:
    pairs = [pair_of(n, one, two) for n, (one, two, _) in enumerate(ARENA)]
    client = LabelStudioClient(label_studio.url, label_studio.pat, 30)
    try:
        project = client.create_project(f"arena-{uuid.uuid4().hex[:8]}", PAIRWISE_CONFIG)
        client.import_tasks(project.id, [encode_task(LAYOUT.task(p)) for p in pairs])
    finally:
        client.close()
    if review:
        review_arena_project(label_studio, project.id)
    return project.id


def review_arena_project(label_studio, project_id: int) -> None:
    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)
    ids = sorted(int(t.id) for t in ls.tasks.list(project=project_id))
    pairs = [pair_of(n, one, two) for n, (one, two, _) in enumerate(ARENA)]
    for task_id, pair, (_, _, chosen) in zip(ids, pairs, ARENA, strict=True):
        ls.annotations.create(id=task_id, result=choose(pair, chosen), was_cancelled=False)


@pytest.fixture(scope="module")
def arena_project(label_studio) -> int:
    return make_arena_project(label_studio)


# --- the references ------------------------------------------------------------------------------


def wilson(p: float, n: float) -> tuple[float, float]:
    """The Wilson score interval of a share ``p`` of ``n`` (n may be an effective, fractional size)."""
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def weighted_share(hits: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """The weighted share and its Wilson interval on the ratio estimator's effective sample size."""
    p = float((weights * hits).sum() / weights.sum())
    variance = float((weights**2 * (hits - p) ** 2).sum() / weights.sum() ** 2)
    n_eff = p * (1 - p) / variance if 0 < p < 1 else weights.sum() ** 2 / (weights**2).sum()
    return (p, *wilson(p, n_eff))


def bootstrap_reference(raw: float, n: int, human, judge, weights, draws: int = 200_000):
    """The corrected rate's parametric bootstrap, drawn independently with scipy's samplers."""
    rng = np.random.default_rng(4242)
    r = scipy_stats.beta.rvs(raw * n + 0.5, (1 - raw) * n + 0.5, size=draws, random_state=rng)
    cells = np.zeros((draws, 4))
    which = (~human).astype(int) * 2 + (~judge).astype(int)
    for w in np.unique(weights):
        members = weights == w
        counts = np.bincount(which[members], minlength=4) + 0.5 * members.sum() / len(human)
        cells += scipy_stats.dirichlet.rvs(counts, size=draws, random_state=rng) * weights[members].sum()
    se = cells[:, 0] / (cells[:, 0] + cells[:, 1])
    sp = cells[:, 3] / (cells[:, 2] + cells[:, 3])
    kept = se + sp > 1
    corrected = np.clip((r[kept] + sp[kept] - 1) / (se[kept] + sp[kept] - 1), 0, 1)
    return tuple(np.quantile(corrected, [0.025, 0.975]))


def expected_calibration(judge_index: int) -> dict[str, Any]:
    judged = [(row[judge_index], row[2], row[3]) for row in CALIBRATION if row[judge_index] is not None]
    ratings = [score_to_rating(score) for score, _, _ in judged]
    reviewed = [(h, r, w) for (_, h, w), r in zip(judged, ratings, strict=True) if h is not None]
    human = np.array([h >= PASS_AT for h, _, _ in reviewed])
    judge = np.array([r >= PASS_AT for _, r, _ in reviewed])
    weights = np.array([1.0 if w is None else w for _, _, w in reviewed])
    raw_passes = sum(r >= PASS_AT for r in ratings)
    raw = raw_passes / len(ratings)
    sens = weighted_share(judge[human], weights[human])
    spec = weighted_share(~judge[~human], weights[~human])
    assert sens[0] == pytest.approx(recall_score(human, judge, sample_weight=weights))
    assert spec[0] == pytest.approx(recall_score(human, judge, pos_label=False, sample_weight=weights))
    youden = sens[0] + spec[0] - 1
    low, high = scipy_stats.binomtest(raw_passes, len(ratings)).proportion_ci(method="wilson")
    return {
        "reviewed": len(reviewed),
        "unweighted": sum(1 for _, _, w in reviewed if w is None),
        "confusion": sk_confusion_matrix(human, judge, labels=[True, False], sample_weight=weights).tolist(),
        "sensitivity": sens,
        "specificity": spec,
        "kappa": cohen_kappa_score(
            [h for h, _, _ in reviewed],
            [r for _, r, _ in reviewed],
            labels=[1, 2, 3, 4, 5],
            weights="quadratic",
        ),
        "raw": (raw, low, high, len(ratings)),
        "corrected": min(1.0, max(0.0, (raw + spec[0] - 1) / youden)),
        "interval": bootstrap_reference(raw, len(ratings), human, judge, weights),
    }


def test_report_calibration_gives_the_reference_figures_in_json_and_text(calibration_project, label_studio):
    answer = run_cli(
        label_studio, "report", "--project-id", str(calibration_project), "--calibration", "--json"
    )
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    calibrations = {c["name"]: c for c in report["calibration"]}
    assert sorted(calibrations) == ["helpfulness", "safety"]
    text = run_cli(label_studio, "report", "--project-id", str(calibration_project), "--calibration")
    assert text.returncode == 0, text.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-calibration.txt").write_text(text.stdout)  # docs/judges.md quotes it
    for name, index in (("helpfulness", 0), ("safety", 1)):
        got, want = calibrations[name], expected_calibration(index)
        assert (got["pass_at"], got["weighted"]) == (PASS_AT, True)
        assert (got["reviewed"], got["unweighted"]) == (want["reviewed"], want["unweighted"]), name
        assert np.allclose(got["confusion"], want["confusion"]), name
        for key in ("sensitivity", "specificity"):
            figure = got[key]
            assert (figure["value"], figure["low"], figure["high"]) == pytest.approx(want[key], abs=1e-9), key
        assert got["kappa_quadratic"] == pytest.approx(want["kappa"], abs=1e-9)
        raw = got["raw"]
        assert (raw["value"], raw["low"], raw["high"], raw["n"]) == pytest.approx(want["raw"], abs=1e-9)
        assert got["corrected"] == pytest.approx(want["corrected"], abs=1e-9)
        # 4000 draws against 200,000: the quantiles' Monte Carlo error is under 0.01
        assert (got["corrected_low"], got["corrected_high"]) == pytest.approx(want["interval"], abs=0.025)
        width = got["corrected_high"] - got["corrected_low"]
        assert got["more_needed"] == math.ceil(want["reviewed"] * (width / 0.1) ** 2) - want["reviewed"]
        (tp, fn), (fp, tn) = want["confusion"]
        lines = text.stdout
        assert (
            f"  judge:{name}: {want['reviewed']} reviewed, weighted by meta.review.weight; 1 without" in lines
        )
        assert f"pass/pass {tp:g}, pass/fail {fn:g}, fail/pass {fp:g}, fail/fail {tn:g}" in lines
        assert (
            f"pass rate: raw {want['raw'][0]:.3f} (n={want['raw'][3]} judged), corrected "
            f"{want['corrected']:.3f} [{got['corrected_low']:.3f}, {got['corrected_high']:.3f}]"
        ) in lines
        assert f"review about {got['more_needed']} more items" in lines
    # --pass-at and --target-width reach the figures
    strict = run_cli(
        label_studio,
        "report",
        "--project-id",
        str(calibration_project),
        "--calibration",
        "--pass-at",
        "5",
        "--target-width",
        "0.5",
        "--json",
    )
    assert strict.returncode == 0, strict.stderr
    helpfulness = {c["name"]: c for c in json.loads(strict.stdout)["calibration"]}["helpfulness"]
    assert helpfulness["pass_at"] == 5 and helpfulness["target_width"] == 0.5
    fives = [score_to_rating(h) == 5 for h, _, _, _ in CALIBRATION]
    assert helpfulness["raw"]["value"] == pytest.approx(sum(fives) / len(fives))


# --- the arena -----------------------------------------------------------------------------------

NAMES = ["alpha", "beta", "gamma"]


def expected_wins() -> np.ndarray:
    """wins[i, j]: i's wins over j, a tie or both bad half each, plus one virtual tie per pair that met."""
    wins = np.zeros((3, 3))
    for one, two, chosen in ARENA:
        i, j = NAMES.index(one), NAMES.index(two)
        if chosen in ("tie", "both bad"):
            wins[i, j] += 0.5
            wins[j, i] += 0.5
        else:
            winner = NAMES.index(chosen)
            wins[winner, i + j - winner] += 1
    return wins + 0.5 * ((wins + wins.T) > 0)


def scipy_ratings(wins: np.ndarray) -> np.ndarray:
    """The Bradley-Terry maximum likelihood by scipy's BFGS, on the Elo scale (geometric mean 1000)."""

    def negative(rest: np.ndarray) -> float:
        theta = np.concatenate(([0.0], rest))
        diff = theta[:, None] - theta[None, :]
        return float(-(wins * (diff - np.logaddexp(0, diff))).sum())

    theta = np.concatenate(([0.0], optimize.minimize(negative, np.zeros(2), method="BFGS", tol=1e-12).x))
    theta -= theta.mean()
    return 1000 + 400 * theta / math.log(10)


def test_report_of_three_variants_gives_the_arena_scipy_finds(arena_project, label_studio):
    answer = run_cli(label_studio, "report", "--project-id", str(arena_project), "--json")
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    arena = report["arena"]
    want = scipy_ratings(expected_wins())
    order = sorted(range(3), key=lambda i: -want[i])
    assert arena["variants"] == [NAMES[i] for i in order] == ["alpha", "beta", "gamma"]
    for got, i in zip(arena["ratings"], order, strict=True):
        assert got["variant"] == NAMES[i]
        assert got["rating"] == pytest.approx(want[i], abs=1e-3)
        assert got["low"] < got["rating"] < got["high"]
        assert got["pairs"] == sum(1 for one, two, _ in ARENA if NAMES[i] in (one, two))
    decided = {}
    for one, two, chosen in ARENA:
        if chosen in (one, two):
            key = tuple(sorted((one, two)))
            wins, total = decided.get(key, (0, 0))
            decided[key] = (wins + (chosen == key[0]), total + 1)
    for r, row in enumerate(arena["variants"]):
        for c, column in enumerate(arena["variants"]):
            cell = arena["matrix"][r][c]
            if r == c:
                assert cell is None
                continue
            wins, total = decided[tuple(sorted((row, column)))]
            share = wins / total if row < column else 1 - wins / total
            assert cell == pytest.approx(share, abs=1e-9)
    for comparison in arena["comparisons"]:
        rate = comparison["rate"]
        p, n = rate["win_rate"], rate["wins"] + rate["losses"]
        needed = math.ceil(Z * Z * max(p * (1 - p), 1 / (4 * (n + 1))) / (p - 0.5) ** 2)
        assert comparison["more_needed"] == max(0, needed - n)
    ties = {
        (c["rate"]["first"], c["rate"]["second"]): (c["rate"]["ties"], c["rate"]["both_bad"])
        for c in arena["comparisons"]
    }
    assert ties == {("alpha", "beta"): (1, 0), ("alpha", "gamma"): (0, 1), ("beta", "gamma"): (2, 0)}

    text = run_cli(label_studio, "report", "--project-id", str(arena_project))
    assert text.returncode == 0, text.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-arena.txt").write_text(text.stdout)  # docs/judges.md quotes it
    assert "Arena (3 variants; Bradley-Terry ratings on the Elo scale" in text.stdout
    alpha = arena["ratings"][0]
    assert (
        f"  alpha: {alpha['rating']:.0f} [{alpha['low']:.0f}, {alpha['high']:.0f}] ({alpha['pairs']} pairs)"
        in text.stdout
    )


def test_the_html_report_shows_the_calibration_table_and_the_arena_in_chromium(
    calibration_project, arena_project, label_studio, tmp_path
):
    calibration_page, arena_page = tmp_path / "calibration.html", tmp_path / "arena.html"
    answer = run_cli(
        label_studio,
        "report",
        "--project-id",
        str(calibration_project),
        "--calibration",
        "--json",
        "--html",
        str(calibration_page),
    )
    assert answer.returncode == 0, answer.stderr
    calibrations = {c["name"]: c for c in json.loads(answer.stdout)["calibration"]}
    answer = run_cli(
        label_studio, "report", "--project-id", str(arena_project), "--json", "--html", str(arena_page)
    )
    assert answer.returncode == 0, answer.stderr
    arena = json.loads(answer.stdout)["arena"]
    for page_file in (calibration_page, arena_page):
        html = page_file.read_text()
        assert "<script" not in html and "http" not in html.replace(label_studio.url, "")

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(calibration_page.as_uri())
            table = page.locator("table.calibration")
            assert table.is_visible()
            box = table.bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 60
            rows = page.locator("table.calibration tr.calibration-row")
            assert rows.count() == 2
            for i in range(2):
                row = rows.nth(i)
                c = calibrations[row.get_attribute("data-judge") or ""]
                assert row.is_visible()
                assert float(row.get_attribute("data-corrected") or "nan") == pytest.approx(
                    c["corrected"], abs=1e-6
                )
                words = row.inner_text()
                assert f"{c['corrected']:.3f} [{c['corrected_low']:.3f}, {c['corrected_high']:.3f}]" in words
                assert (
                    f"{c['sensitivity']['value']:.3f}" in words and "weighted by meta.review.weight" in words
                )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-calibration.png"), full_page=True)

            page.goto(arena_page.as_uri())
            chart = page.locator("svg.arena-heatmap")
            assert chart.is_visible()
            box = chart.bounding_box()
            assert box is not None and box["width"] > 150 and box["height"] > 150
            cells = page.locator("svg.arena-heatmap rect.cell")
            assert cells.count() == 9
            for r, row in enumerate(arena["variants"]):
                for c, column in enumerate(arena["variants"]):
                    cell = page.locator(
                        f'svg.arena-heatmap rect.cell[data-row="{row}"][data-column="{column}"]'
                    )
                    want = arena["matrix"][r][c]
                    got = cell.get_attribute("data-win-rate")
                    assert (
                        (got == "") if want is None else float(got or "nan") == pytest.approx(want, abs=1e-6)
                    )
                    cell_box = cell.bounding_box()
                    assert cell_box is not None and cell_box["width"] > 20
            ratings = page.locator("tr.rating")
            assert ratings.count() == 3
            assert [ratings.nth(i).get_attribute("data-variant") for i in range(3)] == arena["variants"]
            assert all(ratings.nth(i).is_visible() for i in range(3))
            assert f"{arena['ratings'][0]['rating']:.0f}" in ratings.nth(0).inner_text()
            page.screenshot(path=str(ARTIFACTS / "report-arena.png"), full_page=True)
            assert requests == [calibration_page.as_uri(), arena_page.as_uri()]  # nothing from the network
        finally:
            browser.close()


# --- live: serve keeps the figures current on /metrics -------------------------------------------


def gauges(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """A gauge's samples in a Prometheus text page, by their labels."""
    found = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels, value = line[len(name) + 1 :].rsplit("} ", 1)
        pairs = tuple(sorted(tuple(part.split("=", 1)) for part in labels.split(",")))
        found[tuple((k, v.strip('"')) for k, v in pairs)] = float(value)
    return found


def test_serve_keeps_calibration_and_arena_ratings_current_on_metrics(label_studio, tmp_path, project_name):
    from tests.support import sidecar
    from tests.support.logs_receiver import LogsReceiver
    from tests.support.serve_calls import register_webhook

    calibration = make_calibration_project(label_studio, review=False)
    arena = make_arena_project(label_studio, review=False)
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio,
        tmp_path / "data",
        project_name,
        args=["--feedback-endpoint", receiver.url, "--figures-interval", "2"],
    )
    try:
        for project in (calibration, arena):
            registered = register_webhook(side, label_studio, project)
            assert registered.returncode == 0, registered.stderr
        page = httpx.get(f"{side.http_url}/metrics").text
        assert "otel_label_studio_judge_corrected_pass_rate{" not in page  # nothing reviewed yet
        review_calibration_project(label_studio, calibration)
        review_arena_project(label_studio, arena)
        # The reference: the report of the same projects, once every review is in.
        answer = run_cli(label_studio, "report", "--project-id", str(calibration), "--calibration", "--json")
        assert answer.returncode == 0, answer.stderr
        want = {c["name"]: c for c in json.loads(answer.stdout)["calibration"]}
        answer = run_cli(label_studio, "report", "--project-id", str(arena), "--json")
        assert answer.returncode == 0, answer.stderr
        ratings = {r["variant"]: r["rating"] for r in json.loads(answer.stdout)["arena"]["ratings"]}
        expected_corrected = {name: expected_calibration(i)["corrected"] for i, name in enumerate(want)}
        deadline = time.monotonic() + 90
        while True:  # the last webhook's read comes at most --figures-interval after it
            page = httpx.get(f"{side.http_url}/metrics").text
            corrected = gauges(page, "otel_label_studio_judge_corrected_pass_rate")
            rated = gauges(page, "otel_label_studio_arena_rating")
            current = {dict(k)["judge"]: v for k, v in corrected.items()} == {
                n: c["corrected"] for n, c in want.items()
            } and {dict(k)["variant"]: v for k, v in rated.items()} == pytest.approx(ratings, abs=1e-6)
            if current or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert current, page
    finally:
        side.terminate()
        receiver.close()
    for name, c in want.items():
        labels = (("judge", name), ("project", str(calibration)))
        assert corrected[labels] == pytest.approx(expected_corrected[name], abs=1e-9)
        for gauge, value in (
            ("kappa", c["kappa_quadratic"]),
            ("sensitivity", c["sensitivity"]["value"]),
            ("specificity", c["specificity"]["value"]),
            ("raw_pass_rate", c["raw"]["value"]),
        ):
            assert gauges(page, f"otel_label_studio_judge_{gauge}")[labels] == pytest.approx(value, abs=1e-9)
    for variant, value in ratings.items():
        assert rated[(("project", str(arena)), ("variant", variant))] == pytest.approx(value, abs=1e-6)
    assert "# TYPE otel_label_studio_arena_rating gauge" in page
