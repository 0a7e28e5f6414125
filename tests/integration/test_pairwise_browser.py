"""Seen in a browser: a pairwise task shows the prompt once and both answers, never the models
(issue 17), and a click on an answer in the real editor stores the Pairwise choice. The project is
created as the bridge creates it (``Projects``), so it opens on its own Data Manager tab."""

from __future__ import annotations

import pytest

from otel_label_studio.delivery.labelstudio import LabelStudioClient, encode_task
from otel_label_studio.delivery.projects import Projects
from otel_label_studio.modes.layouts import Layout
from otel_label_studio.modes.pair_layout import PAIRWISE_CONFIG, PairLayout
from otel_label_studio.modes.pairs import BOTH_BAD, choice_of, form_pairs
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


@pytest.fixture
def pair_task(captured, label_studio, project_name):
    """A pairwise project made as the bridge makes it (its own tab), with one pair task."""
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
    return project.id, task_id, pair


def side_card(page, heading: str):
    """The box that holds an answer under its heading ("Answer A"): the heading's parent."""
    return page.get_by_text(heading, exact=True).last.locator("xpath=..")


def card_look(card) -> dict:
    return card.evaluate(
        "e => { const s = getComputedStyle(e);"
        " return {border: parseFloat(s.borderTopWidth), color: s.borderTopColor,"
        " background: s.backgroundColor}; }"
    )


def test_the_chosen_side_is_marked_and_tie_or_both_bad_is_one_radio_choice(
    browser, label_studio, ls, pair_task
):
    """issue 25: a click left only a thin outline around the answer's text, and Tie / Both bad were
    checkboxes."""
    project_id, task_id, pair = pair_task
    page = logged_in_page(browser, label_studio)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
    texts = ["What is the capital of France?", ANSWER_SERVED, ANSWER_CANDIDATE, "Answer A", "Answer B"]
    wait_for_texts(page, texts)
    page.wait_for_load_state("networkidle")
    before = wait_for_texts(page, texts)
    assert "Your choice" not in before
    unchosen = card_look(side_card(page, "Answer B"))

    page.get_by_text(pair.b.answer, exact=True).last.click()  # B: the last match is in the editor
    page.wait_for_timeout(500)
    chosen, other = card_look(side_card(page, "Answer B")), card_look(side_card(page, "Answer A"))
    # the whole side is marked: a thick border of another colour and another background than A's
    assert chosen["border"] >= 3 and chosen["border"] > other["border"], (chosen, other)
    assert chosen["background"] != other["background"] and chosen["color"] != other["color"], (chosen, other)
    assert chosen != unchosen
    # and says so, in that side only
    assert side_card(page, "Answer B").inner_text().count("Your choice") == 1
    assert "Your choice" not in side_card(page, "Answer A").inner_text()
    screenshot(page, "labeling-pairwise-choice")

    # Tie and Both bad: radio buttons of one control, choosing one unchooses the other
    tie, both_bad = (
        page.locator("label", has_text="Tie").first,
        page.locator("label", has_text="Both bad").first,
    )
    inputs = [label.locator("input") for label in (tie, both_bad)]
    assert [i.get_attribute("type") for i in inputs] == ["radio", "radio"]
    tie.click()
    assert [i.is_checked() for i in inputs] == [True, False]
    both_bad.click()
    assert [i.is_checked() for i in inputs] == [False, True]
    page.locator("button:has-text('Submit')").first.click()
    annotations: list = []
    for _ in range(60):
        annotations = list(ls.annotations.list(id=task_id))
        if annotations:
            break
        page.wait_for_timeout(500)
    (annotation,) = annotations
    assert choice_of(annotation.result, "choice") == BOTH_BAD  # the verdict wins over the chosen side
    verdicts = [item["value"]["choices"] for item in annotation.result if item["type"] == "choices"]
    assert verdicts == [["Both bad"]]
    page.close()


def test_the_pairwise_table_leads_with_the_question(browser, label_studio, pair_task):
    """issue 25: the Data Manager put answer_a and answer_b before the question."""
    project_id, _, _ = pair_task
    page = logged_in_page(browser, label_studio)
    page.goto(f"{label_studio.url}/projects/{project_id}/data")
    page.get_by_text("What is the capital of France?", exact=False).first.wait_for(
        state="visible", timeout=90_000
    )
    page.wait_for_load_state("networkidle")
    columns = page.evaluate(
        "() => [...document.querySelectorAll('.lsf-table-head [data-id]')].map(c => c.dataset.id)"
    )
    data = [c for c in columns if c.startswith("tasks:data.")]
    assert data[0] == "tasks:data.conversation", columns
    assert data.index("tasks:data.answer_a") > 0 and data.index("tasks:data.answer_b") > 0
    table = task_table(page)
    assert '[{"' not in table and '"role"' not in table, table  # no raw JSON
    screenshot(page, "data-manager-pairwise-layout")
    page.close()
