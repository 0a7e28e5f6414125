"""Around the pair tasks (issue 17), against the real Label Studio: win rates in ``report``, scores
back per side through the real webhook, the Data Manager tab of a pairwise project.

Pair tasks are made the way the bridge makes them (``form_pairs`` on LLM records, then
``PairLayout.task``), imported through the SDK and annotated through the API by a real user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from scipy.stats import binomtest

from otel_label_studio import PROMPT_CONFIG
from otel_label_studio.delivery.labelstudio import LabelStudioClient, encode_task
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.modes.layouts import Layout
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pairs import Pair, form_pairs
from otel_label_studio.reading.record import Message
from tests.support import sidecar
from tests.support.browser import ARTIFACTS, chromium
from tests.support.builders import record
from tests.support.logs_receiver import LogsReceiver
from tests.support.pair_spans import records_of, served_and_candidate
from tests.support.serve_calls import register_webhook

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
LAYOUT = PairLayout.from_config(PAIRWISE_CONFIG)
PROMPT_VERSION = {"base-model": "v1", "new-model": "v2", "alt-model": "v2"}

# (model, model, what the reviewer chose: a model's name, "tie" or "both bad"), one pair task each
PLANTED = (
    [("base-model", "new-model", "new-model")] * 7
    + [("base-model", "new-model", "base-model")] * 3
    + [("base-model", "new-model", "tie")] * 2
    + [("base-model", "new-model", "both bad")]
    + [("base-model", "alt-model", "base-model")] * 4
    + [("alt-model", "base-model", "alt-model")]
)


def pair_of(n: int, first: str, second: str) -> Pair:
    """Two models answering one request in trace ``n``."""
    trace = f"{n + 1:032x}"
    messages = [Message("user", f"question {n}")]
    records = [
        replace(
            record(2 * n + i, trace),
            messages=messages,
            outputs=[f"{model} answers {n}"],
            request_model=model,
            metadata={"prompt_version": PROMPT_VERSION[model]},
            start_time_unix_nano=i,
            project=None,
        )
        for i, model in enumerate((first, second))
    ]
    (pair,) = form_pairs(records).pairs
    return pair


def n2_pair(n: int) -> Pair:
    """One call with two generations: the same model (and prompt version) on both sides."""
    single = replace(
        record(2 * n, f"{n + 1:032x}"),
        outputs=["first generation", "second generation"],
        request_model="base-model",
        metadata={"prompt_version": "v1"},
        project=None,
    )
    (pair,) = form_pairs([single]).pairs
    return pair


def pairwise(selected: str) -> dict[str, Any]:
    return {"from_name": "choice", "to_name": "choice", "type": "pairwise", "value": {"selected": selected}}


def verdict(value: str) -> dict[str, Any]:
    return {"from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": [value]}}


def result_for(pair: Pair, chosen: str) -> list[dict[str, Any]]:
    """What a reviewer submits to choose ``chosen`` (a model, "tie" or "both bad") on this pair."""
    if chosen == "tie":
        return [verdict("Tie")]
    if chosen == "both bad":
        return [pairwise("left"), verdict("Both bad")]  # the verdict wins over the click
    assert chosen in (pair.a.model, pair.b.model)
    return [pairwise("left" if pair.a.model == chosen else "right")]


def import_pairs(label_studio, title: str, pairs: list[Pair]) -> tuple[int, list[int]]:
    client = LabelStudioClient(label_studio.url, label_studio.pat, 30)
    try:
        project = client.create_project(title, PAIRWISE_CONFIG)
        imported = client.import_tasks(project.id, [encode_task(LAYOUT.task(p)) for p in pairs])
    finally:
        client.close()
    return project.id, imported.task_ids


def run_cli(label_studio, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.legacy_token,
    }
    return subprocess.run(
        [SCRIPT, *args, "--no-progress"], env=env, capture_output=True, text=True, timeout=120
    )


def wilson(wins: int, n: int) -> tuple[float, float]:
    """scipy's Wilson score interval (no continuity correction), the reference for stats.py."""
    interval = binomtest(wins, n).proportion_ci(confidence_level=0.95, method="wilson")
    return interval.low, interval.high


def expected_rows(variant_of) -> dict[tuple[str, str], dict[str, Any]]:
    """Counted from PLANTED by hand: per sorted pair of variants, from the first one's side."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for one, two, chosen in PLANTED:
        first, second = sorted((variant_of(one), variant_of(two)))
        row = rows.setdefault((first, second), {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0})
        if chosen == "tie":
            row["ties"] += 1
        elif chosen == "both bad":
            row["both_bad"] += 1
        elif variant_of(chosen) == first:
            row["wins"] += 1
        else:
            row["losses"] += 1
    for row in rows.values():
        decided = row["wins"] + row["losses"]
        row["win_rate"] = row["wins"] / decided
        row["low"], row["high"] = wilson(row["wins"], decided)
    return rows


@pytest.fixture(scope="module")
def planted(label_studio):
    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.legacy_token)  # a real user
    pairs = [pair_of(n, one, two) for n, (one, two, _) in enumerate(PLANTED)]
    same = n2_pair(len(PLANTED))
    waiting = pair_of(len(PLANTED) + 1, "base-model", "new-model")  # imported, never annotated
    project_id, task_ids = import_pairs(
        label_studio, f"pairwise-report-{uuid.uuid4().hex[:8]}", [*pairs, same, waiting]
    )
    for task_id, pair, (_, _, chosen) in zip(task_ids[: len(pairs)], pairs, PLANTED, strict=True):
        ls.annotations.create(id=task_id, result=result_for(pair, chosen), was_cancelled=False, lead_time=2.0)
    ls.annotations.create(id=task_ids[len(pairs)], result=[pairwise("left")], was_cancelled=False)
    return {"project": project_id, "tasks": len(task_ids)}


def test_report_of_a_pairwise_project_gives_hand_computed_win_rates(planted, label_studio):
    answer = run_cli(label_studio, "report", "--project-id", str(planted["project"]), "--json")
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert (report["kind"], report["variant"], report["tasks"]) == ("pairwise", "model", planted["tasks"])
    assert (report["reviewed"], report["same_variant"]) == (len(PLANTED) + 1, 1)
    expected = expected_rows(lambda model: model)
    assert [(r["first"], r["second"]) for r in report["win_rates"]] == sorted(expected)
    assert [(r["first"], r["second"]) for r in report["win_rates"]] == [
        ("alt-model", "base-model"),
        ("base-model", "new-model"),
    ]
    for row in report["win_rates"]:
        want = expected[(row["first"], row["second"])]
        assert {k: row[k] for k in ("wins", "losses", "ties", "both_bad")} == {
            k: want[k] for k in ("wins", "losses", "ties", "both_bad")
        }
        assert row["decided"] == want["wins"] + want["losses"]
        for key in ("win_rate", "low", "high"):
            assert row[key] == pytest.approx(want[key], abs=1e-9), key
    base_new = expected[("base-model", "new-model")]
    assert (base_new["wins"], base_new["losses"], base_new["ties"], base_new["both_bad"]) == (3, 7, 2, 1)

    text = run_cli(label_studio, "report", "--project-id", str(planted["project"]))
    assert text.returncode == 0, text.stderr
    assert (
        f"base-model vs new-model: wins 3, losses 7, ties 2, both bad 1; win rate 0.300 "
        f"[{base_new['low']:.3f}, {base_new['high']:.3f}] (n=10)"
    ) in text.stdout
    assert "Left out: 1 reviewed pairs with the same model on both sides" in text.stdout


def test_report_compares_prompt_variants_by_a_metadata_key(planted, label_studio):
    answer = run_cli(
        label_studio,
        "report",
        "--project-id",
        str(planted["project"]),
        "--variant",
        "prompt_version",
        "--json",
    )
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    (row,) = report["win_rates"]
    want = expected_rows(PROMPT_VERSION.__getitem__)[("v1", "v2")]
    assert (row["first"], row["second"], row["wins"], row["losses"], row["ties"], row["both_bad"]) == (
        "v1",
        "v2",
        want["wins"],
        want["losses"],
        want["ties"],
        want["both_bad"],
    )
    assert (row["wins"], row["losses"]) == (7, 8)
    assert (row["low"], row["high"]) == pytest.approx((want["low"], want["high"]), abs=1e-9)
    assert report["variant"] == "prompt_version" and report["same_variant"] == 1


def test_variant_on_a_project_without_pairs_is_refused(label_studio):
    client = LabelStudioClient(label_studio.url, label_studio.pat, 30)
    project = client.create_project(f"not-pairwise-{uuid.uuid4().hex[:8]}", PROMPT_CONFIG)
    client.close()
    answer = run_cli(label_studio, "report", "--project-id", str(project.id), "--variant", "model")
    assert answer.returncode == 2
    assert "--variant applies to a pairwise project" in answer.stderr


def test_the_win_rate_page_opens_in_chromium_and_shows_bars_with_intervals(planted, label_studio, tmp_path):
    page_file = tmp_path / "winrates.html"
    answer = run_cli(
        label_studio, "report", "--project-id", str(planted["project"]), "--html", str(page_file)
    )
    assert answer.returncode == 0, answer.stderr
    html = page_file.read_text()
    assert "<script" not in html and "http" not in html
    expected = expected_rows(lambda model: model)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri())
            chart = page.locator("svg.winrates")
            assert chart.is_visible()
            bars = page.locator("svg.winrates rect.bar")
            assert bars.count() == 2
            widths = {}
            for i in range(2):
                bar = bars.nth(i)
                key = (bar.get_attribute("data-first"), bar.get_attribute("data-second"))
                want = expected[key]
                assert float(bar.get_attribute("data-win-rate")) == pytest.approx(want["win_rate"], abs=1e-6)
                assert int(bar.get_attribute("data-wins")) == want["wins"]
                box = bar.bounding_box()
                assert box is not None and box["height"] > 10
                widths[key] = box["width"]
            # drawn to scale: base-model's 0.3 against new-model, alt-model's 0.2 against base-model
            ratio = widths[("base-model", "new-model")] / widths[("alt-model", "base-model")]
            assert ratio == pytest.approx(0.3 / 0.2, rel=0.02)
            whiskers = page.locator("svg.winrates g.whisker")
            assert whiskers.count() == 2
            low = float(whiskers.nth(1).get_attribute("data-low"))
            assert low == pytest.approx(expected[("base-model", "new-model")]["low"], abs=1e-6)
            whisker_box = whiskers.nth(1).bounding_box()
            assert whisker_box is not None and whisker_box["width"] > widths[("base-model", "new-model")] / 2
            assert page.locator("table.winrates tr").count() == 3  # header and two rows
            assert requests == [page_file.as_uri()]  # self-contained
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-win-rates.png"), full_page=True)
        finally:
            browser.close()


def test_a_pairwise_annotation_through_the_real_webhook_scores_each_side(
    captured, label_studio, ls, tmp_path, project_name
):
    for _ in range(3):  # three requests, each answered by the served and the candidate model
        served_and_candidate()
    pairs = form_pairs(records_of(captured.get_finished_spans())).pairs
    assert len(pairs) == 3
    receiver = LogsReceiver()
    side = sidecar.start(
        label_studio, tmp_path / "data", f"{project_name}-serve", args=["--feedback-endpoint", receiver.url]
    )
    try:
        project_id, task_ids = import_pairs(label_studio, project_name, pairs)
        registered = register_webhook(side, label_studio, project_id)
        assert registered.returncode == 0, registered.stderr
        results = [[pairwise("left")], [pairwise("right")], [verdict("Tie")]]
        for task_id, result in zip(task_ids, results, strict=True):
            ls.annotations.create(id=task_id, result=result, was_cancelled=False)
        deadline = time.monotonic() + 30
        while len(receiver.records()) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        records = receiver.records()
    finally:
        side.terminate()
        receiver.close()

    got = []
    for item in records:
        attributes = {kv.key: kv.value for kv in item.attributes}
        got.append(
            (
                attributes["label_studio.task.id"].int_value,
                item.trace_id.hex(),
                item.span_id.hex(),
                attributes["gen_ai.evaluation.score.label"].string_value,
                attributes["gen_ai.evaluation.score.value"].double_value,
                item.event_name,
            )
        )
    expected = []
    for task_id, pair, labels in zip(
        task_ids,
        pairs,
        [("preferred", "rejected"), ("rejected", "preferred"), ("tie", "tie")],
        strict=True,
    ):
        for side_of, label in zip((pair.a, pair.b), labels, strict=True):
            score = {"preferred": 1.0, "rejected": 0.0, "tie": 0.5}[label]
            expected.append(
                (task_id, pair.trace_id, side_of.span_id, label, score, "gen_ai.evaluation.result")
            )
    assert sorted(got) == sorted(expected)
    assert len(got) == 6
    # each pair's two events are on its two different spans, the models' own
    assert all(p.a.span_id != p.b.span_id for p in pairs)


def test_a_new_pairwise_project_opens_on_a_tab_with_the_prompt_and_both_answers(
    label_studio, ls, project_name
):
    client = LabelStudioClient(label_studio.url, label_studio.pat, 30)
    try:
        projects = Projects(
            client,
            Layout.from_config(PAIRWISE_CONFIG),  # a pairwise config, however the caller bound it
            project_id=None,
            project_name=project_name,
            config_given=False,
        )
        target = projects.resolve(project_name)
        client.import_tasks(
            target.project.id, [encode_task(LAYOUT.task(pair_of(0, "base-model", "new-model")))]
        )
        columns = client.data_manager_columns(target.project.id)
    finally:
        client.close()
    (view,) = [v.data for v in ls.views.list(project=target.project.id)]
    explore, labeling = view["hiddenColumns"]["explore"], view["hiddenColumns"]["labeling"]
    # the table: the dialogue as text and both answers; the raw dialogue list hidden
    assert "tasks:data.prompt" in explore and "tasks:data.prompt" in labeling
    for shown in (
        "tasks:data.conversation",
        "tasks:data.answer_a",
        "tasks:data.answer_b",
        "tasks:data.pair_id",
    ):
        assert shown not in explore, shown
    # the labeling view's narrow list: the prompt only
    assert "tasks:data.conversation" not in labeling
    for hidden in ("tasks:data.answer_a", "tasks:data.answer_b", "tasks:data.trace_id", "tasks:data.pair_id"):
        assert hidden in labeling, hidden
    # Label Studio's own defaults kept for the rest, and no column that could name a model
    assert "tasks:id" in labeling and "tasks:id" not in explore
    ids = {f"{c.get('target', 'tasks')}:{c.get('parent')}.{c.get('id')}" for c in columns if c.get("parent")}
    assert {"tasks:data.answer_a", "tasks:data.answer_b", "tasks:data.conversation"} <= ids
    assert not any("model" in column for column in ids)
