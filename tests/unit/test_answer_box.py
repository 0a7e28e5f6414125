"""The prompt and chat layouts' answer box (issue 25): the model's answer is an always-open text box
(transcription="true", several rows), with no delete button, so an entry a reviewer rejects is one they
clear; export leaves such an entry out."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from otel_label_studio.analysis.datasets import Binding, dataset_lines
from otel_label_studio.modes.layouts import CHAT_CONFIG, PROMPT_CONFIG


@pytest.mark.parametrize("config", [PROMPT_CONFIG, CHAT_CONFIG])
def test_the_answer_is_an_always_open_box_of_several_rows(config):
    (response,) = [
        t for t in ElementTree.fromstring(config.strip()).iter("TextArea") if t.get("name") == "response"
    ]
    assert response.get("transcription") == "true" and response.get("editable") == "true"
    assert int(response.get("rows") or 1) > 1  # one row would be a single-line input


def test_an_entry_the_reviewer_cleared_is_not_exported():
    binding = Binding.from_config(CHAT_CONFIG)

    def textarea(texts: list[str]) -> dict:
        return {"from_name": "response", "to_name": "dialogue", "type": "textarea", "value": {"text": texts}}

    task = {
        "id": 3,
        "data": {"prompt": [{"role": "user", "content": "A name for a cat?"}], "trace_id": "t" * 32},
        "predictions": [{"result": [textarea(["Tom", "Felix"])]}],
        "annotations": [{"id": 1, "result": [textarea(["", "Felix the cat"])], "updated_at": "2026-12-01"}],
    }
    (line,) = dataset_lines([task], binding, "preference")
    assert line["chosen"] == [{"role": "assistant", "content": "Felix the cat"}]
    assert line["rejected"] == [{"role": "assistant", "content": "Tom\nFelix"}]
