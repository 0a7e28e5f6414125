"""Seen in a browser (issue 25): a chat task as a reviewer meets it. Its messages keep their line
breaks, an image in a message shows as an image beside the text, a long message scrolls in its box
while the rating stays on screen, the model's answer is a text box to type into, and the Data
Manager's table leads with model and latency. The tasks come from LangChain calls through the
exporter in mode chat (headless Chromium, as test_browser.py)."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from otel_label_studio import LabelStudioSpanExporter
from tests.support.browser import logged_in_page, screenshot, task_table, visible, wait_for_texts
from tests.support.label_studio_reads import project_by_title, tasks_of
from tests.support.pipelines import deliver

pytestmark = pytest.mark.integration

ANSWER = "Revenue rose 12%.\n\nCosts were flat."
LONG = "\n\n".join(f"Paragraph {i}: " + "the quarter in numbers, line by line. " * 12 for i in range(40))
VIEWPORT_HEIGHT = 900


def png(width: int, height: int, rgb: tuple[int, int, int]) -> str:
    """A one-colour PNG as a data URI: an image that needs no network."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(data).decode()


IMAGE = png(160, 100, (30, 120, 220))
IMAGE_SHOWN = "() => [...document.images].some(i => i.naturalWidth === 160 && i.naturalHeight === 100)"


@pytest.fixture
def chat_project(captured, label_studio, ls, project_name):
    """Two chat tasks: a question with an image and a paragraph break; a long message."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage, SystemMessage

    FakeListChatModel(responses=[ANSWER]).invoke(
        [
            SystemMessage("Be brief."),
            HumanMessage(
                content=[
                    {"type": "text", "text": "Summarize this:\n\nQuarterly report"},
                    {"type": "image_url", "image_url": {"url": IMAGE}},
                ]
            ),
        ]
    )
    FakeListChatModel(responses=["It is long."]).invoke([HumanMessage(LONG)])
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name, mode="chat"
    )
    deliver(exporter, captured.get_finished_spans())
    exporter.shutdown()
    tasks = sorted(tasks_of(ls, project_name), key=lambda t: t.id)
    assert len(tasks) == 2
    image_task = next(t for t in tasks if "Quarterly report" in str(t.data["prompt"]))
    long_task = next(t for t in tasks if t is not image_task)
    return project_by_title(ls, project_name).id, image_task.id, long_task.id


def shown(page, script: str, timeout: float = 30_000) -> bool:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(script, timeout=timeout)
    except PlaywrightTimeout:
        return False
    return True


def test_a_chat_message_keeps_its_paragraphs_and_shows_its_image(browser, chat_project, label_studio, ls):
    project_id, task_id, _ = chat_project
    page = logged_in_page(browser, label_studio)
    page.set_viewport_size({"width": 1440, "height": VIEWPORT_HEIGHT})
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
    wait_for_texts(page, ["Be brief.", "Quarterly report"])
    page.wait_for_load_state("networkidle")  # the editor may mount twice: let it settle
    text = wait_for_texts(page, ["Be brief.", "Quarterly report"])

    # the line break and the empty line between the message's paragraphs are on the page
    assert "Summarize this:\n\nQuarterly report" in text, text[:1500]
    turn = page.locator("[class^=dialoguetext--]", has_text="Quarterly report").first
    assert turn.evaluate("e => getComputedStyle(e).whiteSpace") in ("pre-wrap", "pre-line", "pre")

    # the image itself, not its URL: an <img> of the PNG's size, beside the message's text
    assert shown(page, IMAGE_SHOWN), "no <img> of the message's image on the page"
    image = page.evaluate(
        "() => { const i = [...document.images].find(i => i.naturalWidth === 160);"
        " const r = i.closest('.lsf-object').getBoundingClientRect(); return [r.left, r.top]; }"
    )
    words = turn.bounding_box()
    assert words is not None and image[0] >= words["x"] + words["width"] and image[1] < words["y"] + 200

    # the model's answer is a text box to type into: no pencil, tick or delete button to go through
    boxes = page.locator("textarea").evaluate_all("boxes => boxes.map(b => b.value)")
    assert ANSWER in boxes, f"the answer is not in an editable box: {boxes!r}"
    assert page.locator("[aria-label='Delete Region']").count() == 0
    screenshot(page, "labeling-chat-image")
    answer = page.locator("textarea").nth(boxes.index(ANSWER))
    answer.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" Margins grew.")
    page.locator("button:has-text('Submit')").first.click()
    annotations: list = []
    for _ in range(60):
        annotations = list(ls.annotations.list(id=task_id))
        if annotations:
            break
        page.wait_for_timeout(500)
    (annotation,) = annotations
    (response,) = [r for r in annotation.result if r["from_name"] == "response"]
    assert response["value"]["text"] == [ANSWER + " Margins grew."]
    page.close()


def test_a_long_message_scrolls_in_its_box_and_the_rating_stays_on_screen(
    browser, chat_project, label_studio
):
    project_id, _, task_id = chat_project
    page = logged_in_page(browser, label_studio)
    page.set_viewport_size({"width": 1440, "height": VIEWPORT_HEIGHT})
    page.goto(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
    wait_for_texts(page, ["Paragraph 0:"])
    page.wait_for_load_state("networkidle")
    text = wait_for_texts(page, ["Paragraph 0:", "Rate the response:"])
    screenshot(page, "labeling-chat-long")

    # the rating is on screen, not below a page-long message, and nothing covers it
    stars = page.locator(".ant-rate").first
    box = stars.bounding_box()
    assert box is not None and box["y"] + box["height"] <= VIEWPORT_HEIGHT, f"the rating is off screen: {box}"
    hit = page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y)?.closest('.ant-rate')",
        [box["x"] + 8, box["y"] + box["height"] / 2],
    )
    assert hit, "something covers the rating"
    # the whole message is there, in a box that scrolls
    assert "Paragraph 39:" in text and "Paragraph 0:" in text
    # the height of the box it scrolls in: the nearest scrolled ancestor of its last paragraph
    height = page.locator("[class^=dialoguetext--]", has_text="Paragraph 39:").first.evaluate(
        "e => { for (let p = e.parentElement; p; p = p.parentElement) {"
        " const s = getComputedStyle(p).overflowY;"
        " if ((s === 'auto' || s === 'scroll') && p.scrollHeight > p.clientHeight) return p.clientHeight; }"
        " return 0; }"
    )
    scrolls = 0 < height <= VIEWPORT_HEIGHT / 2
    assert scrolls, f"the message does not scroll in a box of its own (one {height}px high)"
    # no image box on a task without images
    assert not shown(page, IMAGE_SHOWN, timeout=2_000)
    assert "There was an issue loading URL" not in text
    page.close()


def test_the_chat_table_leads_with_model_and_latency(browser, chat_project, label_studio):
    project_id, _, _ = chat_project
    page = logged_in_page(browser, label_studio)
    page.goto(f"{label_studio.url}/projects/{project_id}/data")
    page.get_by_text("Quarterly report", exact=False).first.wait_for(state="visible", timeout=90_000)
    page.wait_for_load_state("networkidle")
    columns = page.evaluate(
        "() => [...document.querySelectorAll('.lsf-table-head [data-id]')].map(c => c.dataset.id)"
    )
    data = [c for c in columns if c.startswith("tasks:data.")]
    assert data[:3] == ["tasks:data.model", "tasks:data.latency_ms", "tasks:data.conversation"], columns
    table = task_table(page)
    assert '[{"' not in table and "base64,iVBOR" not in table, table  # no list, no image data
    latency = page.locator(".lsf-table-head [data-id='tasks:data.latency_ms']")
    assert visible(latency)
    screenshot(page, "data-manager-chat-columns")
    page.close()
