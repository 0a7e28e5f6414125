"""Agreement of humans and judges, against the real Label Studio.

A project made with two reviewers per task, tasks imported through the SDK, ``judge:helpfulness``
predictions through the SDK, and annotations through the API by two real users (the second signs up
with the organization's invite link, as a colleague would) with planted agreement and disagreement.
``report`` and ``export --format judge`` run as the real command line.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import krippendorff
import numpy as np
import pytest
from label_studio_sdk import LabelStudio
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from otel_label_studio import PROMPT_CONFIG
from otel_label_studio.analysis.report import Scale, build_report, render_text
from otel_label_studio.delivery.labelstudio import LabelStudioClient
from otel_label_studio.judges.judge import judge_prediction, score_to_rating
from tests.support.label_studio_users import sign_up
from tests.support.prerequisites import REPO_ROOT

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")

# task: (judge score, first reviewer's rating, second reviewer's rating or None)
PLANTED = [
    (1.0, 5, 5),
    (0.75, 4, 4),
    (0.5, 3, 3),
    (0.25, 2, 2),
    (0.0, 1, 1),
    (1.0, 1, 1),  # 5: the judge says 5, both humans 1 -> 4 stars apart
    (0.0, 4, None),  # 6: the judge says 1, the human 4 -> 3 apart
    (0.75, 4, None),
    (0.5, 2, 5),  # 8: the humans are 3 apart; the newest (second) human 5 vs the judge's 3 -> 2 apart
    (0.25, 2, None),
]


def test_score_to_rating_is_documented_mapping():
    assert [score_to_rating(s) for s in (0, 0.1, 0.125, 0.25, 0.5, 0.75, 0.9, 1)] == [1, 1, 2, 2, 3, 4, 5, 5]
    assert [score_to_rating(s) for s in (4.0, 2.5, 5)] == [4, 3, 5]  # already on the scale
    assert [score_to_rating(s) for s in (-0.1, 5.5, math.nan)] == [None, None, None]
    assert score_to_rating(0.5, max_rating=10) == 6


def rating(stars: int) -> dict:
    return {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": stars}}


def response(text: str) -> dict:
    return {"from_name": "response", "to_name": "prompt", "type": "textarea", "value": {"text": [text]}}


@pytest.fixture(scope="module")
def planted(label_studio):
    admin = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)
    second_key = sign_up(label_studio.url, admin, f"second-{uuid.uuid4().hex[:8]}@example.com")
    second = LabelStudio(base_url=label_studio.url, api_key=second_key)
    assert second.users.whoami().id != admin.users.whoami().id

    client = LabelStudioClient(label_studio.url, label_studio.legacy_token, 30)
    project = client.create_project(f"report-{uuid.uuid4().hex[:8]}", PROMPT_CONFIG, reviewers_per_task=2)
    client.close()
    tasks = [
        {
            "data": {  # every $variable of the config: Label Studio refuses a task without one
                "prompt": f"question {i}",
                "model": "model",
                "latency_ms": 100 + i,
                "trace_id": f"{i:032x}",
                "span_id": f"{i:016x}",
                "judges": "",  # the default config's verdict text (issue 25)
            },
            "predictions": [{"model_version": "model", "result": [response(f"answer {i}")]}],
        }
        for i in range(len(PLANTED))
    ]
    admin.projects.import_tasks(id=project.id, request=tasks)
    ids = sorted(int(t.id) for t in admin.tasks.list(project=project.id))
    for i, (task_id, (score, first, later)) in enumerate(zip(ids, PLANTED, strict=True)):
        prediction = judge_prediction(
            "helpfulness", score, label="pass" if score >= 0.5 else "fail", explanation=f"score {score}"
        )
        admin.predictions.create(task=task_id, **prediction)
        admin.annotations.create(id=task_id, result=[response(f"answer {i}"), rating(first)])
        if later is not None:
            corrected = "a better answer" if later != first else f"answer {i}"
            second.annotations.create(id=task_id, result=[response(corrected), rating(later)])
    return {
        "project": project.id,
        "ids": ids,
        "admin": admin,
        "second_key": second_key,
        "url": label_studio.url,
    }


def run_cli(label_studio_url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABEL_STUDIO_API_KEY": token, "LABEL_STUDIO_URL": label_studio_url}
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120)


def expected_figures(ids):
    newest = [later if later is not None else first for _, first, later in PLANTED]
    judged = [score_to_rating(score) for score, _, _ in PLANTED]
    scores = [score for score, _, _ in PLANTED]
    labels = [1, 2, 3, 4, 5]
    both = [(first, later) for _, first, later in PLANTED if later is not None]
    return {
        "kappa": cohen_kappa_score(newest, judged, labels=labels, weights="quadratic"),
        "spearman": scipy_stats.spearmanr(newest, scores).statistic,
        "confusion": sk_confusion_matrix(newest, judged, labels=labels).tolist(),
        "alpha": krippendorff.alpha(
            reliability_data=np.array(both, dtype=float).T, level_of_measurement="ordinal"
        ),
        "agreement": sum(a == b for a, b in both) / len(both),
        "units": len(both),
    }


def test_report_gives_the_expected_figures_and_the_planted_disagreements_first(planted, label_studio):
    answer = run_cli(
        planted["url"], label_studio.legacy_token, "report", "--project-id", str(planted["project"]), "--json"
    )
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    expected = expected_figures(planted["ids"])
    (helpfulness,) = report["judges"]
    assert helpfulness["name"] == "helpfulness"
    assert helpfulness["n"] == helpfulness["n_spearman"] == len(PLANTED)
    assert helpfulness["kappa_quadratic"] == pytest.approx(expected["kappa"], abs=1e-9)
    assert helpfulness["spearman"] == pytest.approx(expected["spearman"], abs=1e-9)
    assert helpfulness["confusion"] == expected["confusion"]
    humans = report["humans"]
    assert (humans["tasks"], humans["annotators"]) == (expected["units"], 2)
    assert humans["alpha_ordinal"] == pytest.approx(expected["alpha"], abs=1e-9)
    assert humans["percent_agreement"] == pytest.approx(expected["agreement"])

    ids = planted["ids"]
    got = [(d["task_id"], d["kind"], d["gap"]) for d in report["disagreements"]]
    assert got == [
        (ids[5], "judge:helpfulness", 4),
        (ids[6], "judge:helpfulness", 3),
        (ids[8], "humans", 3),
        (ids[8], "judge:helpfulness", 2),
    ]
    link = report["disagreements"][0]["link"]
    assert link == f"{planted['url']}/projects/{planted['project']}/data?task={ids[5]}"
    assert httpx.get(link, follow_redirects=True, timeout=30).status_code == 200

    text = run_cli(
        planted["url"], label_studio.legacy_token, "report", "--project-id", str(planted["project"])
    )
    assert text.returncode == 0, text.stderr
    assert f"kappa {expected['kappa']:.3f} (n=10)" in text.stdout
    first_link = text.stdout.index(f"task {ids[5]}: 4 apart")
    assert first_link < text.stdout.index(f"task {ids[6]}: 3 apart") < text.stdout.index(f"task {ids[8]}: 3")


def test_report_of_a_project_with_nothing_to_compare_says_undefined(label_studio):
    client = LabelStudioClient(label_studio.url, label_studio.legacy_token, 30)
    project = client.create_project(f"report-empty-{uuid.uuid4().hex[:8]}", PROMPT_CONFIG)
    client.close()
    answer = run_cli(label_studio.url, label_studio.legacy_token, "report", "--project-id", str(project.id))
    assert answer.returncode == 0, answer.stderr
    assert "Krippendorff's alpha (ordinal) undefined" in answer.stdout
    assert "no task has both a human rating and a judge" in answer.stdout


def test_report_streams_what_it_reads_into_the_same_figures():
    """The pure core on the planted data: same figures as the references, single reviewer edge case."""
    tasks = []
    for i, (score, first, later) in enumerate(PLANTED):
        annotations = [
            {"id": 2 * i, "completed_by": 1, "result": [rating(first)], "updated_at": "2026-01-01"}
        ]
        if later is not None:
            annotations.append(
                {"id": 2 * i + 1, "completed_by": 2, "result": [rating(later)], "updated_at": "2026-01-02"}
            )
        tasks.append({"id": i, "annotations": annotations, "predictions": [judge_prediction("h", score)]})
    report = build_report(iter(tasks), Scale.from_config(PROMPT_CONFIG), url="http://ls", project_id=1)
    expected = expected_figures(list(range(len(PLANTED))))
    assert report.judges[0].kappa_quadratic == pytest.approx(expected["kappa"])
    assert report.humans.alpha_ordinal == pytest.approx(expected["alpha"])
    single = build_report(iter(tasks[6:8]), Scale.from_config(PROMPT_CONFIG), url="http://ls", project_id=1)
    assert single.humans.tasks == 0 and math.isnan(single.humans.alpha_ordinal)
    assert "undefined" in render_text(single)


def test_reviewers_per_task_sets_up_overlap_and_what_label_studio_enforces(planted):
    """What open-source Label Studio 1.23.2 does with maximum_annotations=2 (see docs/judges.md)."""
    admin, ids = planted["admin"], planted["ids"]
    project = admin.projects.get(planted["project"])
    assert (project.maximum_annotations, project.overlap_cohort_percentage) == (2, 100)
    tasks = {int(t.id): t for t in admin.tasks.list(project=planted["project"], fields="all")}
    assert all(t.overlap == 2 for t in tasks.values())  # imported after creation: every task wants 2
    assert tasks[ids[0]].is_labeled  # two different people annotated it
    assert not tasks[ids[6]].is_labeled  # one person: still waiting for a second
    # Not enforced: the same person annotating twice counts once ...
    admin.annotations.create(id=ids[7], result=[rating(4)])
    assert not admin.tasks.get(str(ids[7])).is_labeled
    # ... and a task that has its two reviewers still takes more annotations through the API.
    admin.annotations.create(id=ids[0], result=[rating(5)])
    assert admin.tasks.get(str(ids[0])).total_annotations == 3
    # The label stream serves the second reviewer a task they have not annotated yet.
    with httpx.Client(base_url=planted["url"], timeout=30) as http:
        headers = {"Authorization": f"Token {planted['second_key']}"}
        nxt = http.get(f"/api/projects/{planted['project']}/next", headers=headers).json()
    assert nxt["id"] in (ids[6], ids[7], ids[9])


def test_export_judge_writes_calibration_lines(planted, label_studio, tmp_path):
    out = tmp_path / "judge.jsonl"
    answer = run_cli(
        planted["url"],
        label_studio.legacy_token,
        "export",
        "--project-id",
        str(planted["project"]),
        "--format",
        "judge",
        "--output",
        str(out),
        "--no-progress",
    )
    assert answer.returncode == 0, answer.stderr
    lines = {line["metadata"]["task_id"]: line for line in map(json.loads, out.read_text().splitlines())}
    ids = planted["ids"]
    assert set(lines) == set(ids)
    line = lines[ids[8]]
    assert line["input"] == [{"role": "user", "content": "question 8"}]
    assert line["output"] == "answer 8"
    assert line["judge"] == {
        "name": "helpfulness",
        "score": 0.5,
        "rating": 3.0,
        "label": "pass",
        "explanation": "score 0.5",
    }
    assert line["human"] == {"rating": 5, "correction": "a better answer"}
    assert lines[ids[1]]["human"] == {"rating": 4, "correction": None}
    assert line["metadata"]["span_id"] == f"{8:016x}"


def test_the_html_report_opens_in_chromium_and_shows_the_charts(planted, label_studio, tmp_path):
    from tests.support.browser import chromium

    page_file = tmp_path / "report.html"
    answer = run_cli(
        planted["url"],
        label_studio.legacy_token,
        "report",
        "--project-id",
        str(planted["project"]),
        "--html",
        str(page_file),
        "--no-progress",
    )
    assert answer.returncode == 0, answer.stderr
    html = page_file.read_text()
    assert "<script" not in html and "http://" not in html.replace(planted["url"], "")

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri())
            heatmap = page.locator("svg.heatmap").first
            scatter = page.locator("svg.scatter").first
            assert heatmap.is_visible() and scatter.is_visible()
            box = heatmap.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 200
            assert page.locator("svg.heatmap rect.cell").count() == 25
            assert page.locator("svg.scatter circle.point").count() == len(PLANTED)
            cell = page.locator('svg.heatmap rect.cell[data-human="1"][data-judge-rating="5"]')
            assert cell.get_attribute("data-count") == "1"  # the planted task 5
            assert page.locator("table.disagreements a").count() == 4
            assert requests == [page_file.as_uri()]  # nothing fetched from the network
            artifacts = REPO_ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            browser.close()


def test_the_exporter_creates_its_project_with_reviewers_per_task(label_studio, ls, project_name):
    from otel_label_studio import LabelStudioSpanExporter
    from tests.support import fixtures
    from tests.support.label_studio_reads import project_by_title, tasks_of
    from tests.support.pipelines import deliver

    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, reviewers_per_task=3
    )
    deliver(exporter, fixtures.load("legacy", "completion"))
    exporter.shutdown()
    project = project_by_title(ls, project_name)
    assert project.maximum_annotations == 3
    assert [task.overlap for task in tasks_of(ls, project_name)] == [3]


def test_reviewers_per_task_must_be_a_positive_number():
    from otel_label_studio.config import resolve_settings

    assert resolve_settings(reviewers_per_task=2).reviewers_per_task == 2
    assert resolve_settings(environ={"OTEL_LABEL_STUDIO_REVIEWERS_PER_TASK": "4"}).reviewers_per_task == 4
    assert resolve_settings(environ={}).reviewers_per_task == 1
    with pytest.raises(ValueError, match="reviewers_per_task: .*must be a positive whole number"):
        resolve_settings(reviewers_per_task=0)
    answer = subprocess.run(
        [SCRIPT, "serve", "--reviewers-per-task", "0"],
        env={**os.environ, "LABEL_STUDIO_API_KEY": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        answer.returncode == 2
        and "--reviewers-per-task: '0' must be a positive whole number" in answer.stderr
    )


@pytest.mark.parametrize(
    "args",
    [("report",), ("export", "--format", "sft", "--output", "-")],
    ids=["report", "export"],
)
def test_a_project_that_does_not_exist_is_a_bad_argument(label_studio, args):
    """report and export printed Label Studio's raw 404 and exited 1."""
    missing = 99999
    result = run_cli(label_studio.url, label_studio.pat, *args, "--project-id", str(missing), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert f"no project {missing} on {label_studio.url}: check --project-id" in result.stderr
    assert "HTTP 404" not in result.stderr and "No Project matches" not in result.stderr
    assert result.stdout == ""
