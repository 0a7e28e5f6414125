"""Seen in a browser: a pairwise task shows the prompt once and both answers, never the models
(issue 17), and a click on an answer in the real editor stores the Pairwise choice. The project is
created as the bridge creates it (``Projects``), so it opens on its own Data Manager tab."""

from __future__ import annotations

import pytest

from otel_label_studio.delivery.labelstudio import LabelStudioClient, encode_task
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.modes.layouts import Layout
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pairs import form_pairs
from tests.support.browser import logged_in_page, screenshot, task_table, wait_for_texts  # noqa: F401
from tests.support.pair_spans import ANSWER_CANDIDATE, ANSWER_SERVED, records_of, served_and_candidate

pytestmark = pytest.mark.integration


def test_a_reviewer_sees_both_answers_blind_and_picks_one(browser, captured, label_studio, ls, project_name):  # noqa: F811
    served_and_candidate()
    (pair,) = form_pairs(records_of(captured.get_finished_spans())).pairs
    client = LabelStudioClient(label_studio.url, label_studio.pat, 30)
    try:
        projects = Projects(
            client,
            Layout.from_config(PAIRWISE_CONFIG),
            project_id=None,
            project_name=project_name,
            config_given=False,
        )
        project = projects.resolve(project_name).project
        (task_id,) = client.import_tasks(
            project.id, [encode_task(PairLayout.from_config(PAIRWISE_CONFIG).task(pair))]
        ).task_ids
    finally:
        client.close()
    page = logged_in_page(browser, label_studio)

    page.goto(f"{label_studio.url}/projects/{project.id}/data?task={task_id}")
    texts = ["What is the capital of France?", ANSWER_SERVED, ANSWER_CANDIDATE, "Answer A", "Answer B"]
    wait_for_texts(page, texts)
    page.wait_for_load_state("networkidle")  # the editor may mount twice: let it settle
    text = wait_for_texts(page, texts)
    screenshot(page, "labeling-pairwise-layout")
    # in this order, in the labeling area (the task list on the left comes first)
    labeling = text[text.index("Answer A") :]
    assert labeling.startswith(f"Answer A\n{pair.a.answer}\n"), labeling[:200]
    assert f"Answer B\n{pair.b.answer}\n" in labeling, labeling[:200]
    assert "Tie" in text and "Both bad" in text
    listed = task_table(page)
    for hidden in ("served-model", "candidate-model", pair.a.span_id, pair.b.span_id):
        assert hidden not in text, f"{hidden!r} is on the labeling page"
        assert hidden not in listed, f"{hidden!r} is in the task list"
    assert "00:00:00" not in text
    # the task list shows the dialogue as text, not the raw JSON of the prompt list
    assert "What is the capital of France?" in listed and '"role"' not in listed, listed

    # the reviewer prefers B: the last match is in the editor (the task list comes first)
    page.get_by_text(pair.b.answer, exact=True).last.click()
    screenshot(page, "labeling-pairwise-chosen")
    page.locator("button:has-text('Submit')").first.click()
    page.wait_for_load_state("networkidle")
    annotations = []
    for _ in range(60):
        annotations = list(ls.annotations.list(id=task_id))
        if annotations:
            break
        page.wait_for_timeout(500)
    (annotation,) = annotations
    pairwise = [item for item in annotation.result if item["type"] == "pairwise"]
    assert [(item["from_name"], item["value"]) for item in pairwise] == [("choice", {"selected": "right"})], (
        annotation.result
    )
    page.close()
