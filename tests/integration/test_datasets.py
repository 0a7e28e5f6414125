"""Labeled tasks become training data: annotated through the API as a reviewer would, exported by the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_label_studio import PROMPT_CONFIG, LabelStudioSpanExporter
from otel_label_studio.analysis.datasets import Binding, Filters, dataset_lines
from otel_label_studio.modes.annotations import newest_annotation
from tests.support import fixtures
from tests.support.label_studio_reads import project_by_title, tasks_of
from tests.support.old_configs import BEFORE_ISSUE_25, without_judge_area
from tests.support.pipelines import deliver

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")


def textarea(text: str, to_name: str = "prompt") -> dict:
    return {"from_name": "response", "to_name": to_name, "type": "textarea", "value": {"text": [text]}}


def rating(score: int, to_name: str = "prompt") -> dict:
    return {"from_name": "rating", "to_name": to_name, "type": "rating", "value": {"rating": score}}


def test_the_newest_submitted_annotation_wins_and_skips_do_not_count():
    annotations = [
        {"id": 1, "updated_at": "2026-11-01T10:00:00Z", "result": [rating(2)], "was_cancelled": False},
        {"id": 2, "updated_at": "2026-11-02T10:00:00Z", "result": [rating(5)], "was_cancelled": False},
        {"id": 3, "updated_at": "2026-11-03T10:00:00Z", "result": [], "was_cancelled": True},
    ]
    assert newest_annotation(annotations)["id"] == 2
    assert newest_annotation([annotations[2]]) is None


def test_lines_for_a_chat_task():
    from otel_label_studio import CHAT_CONFIG

    binding = Binding.from_config(CHAT_CONFIG)
    assert (binding.prompt_key, binding.dialogue, binding.response_name, binding.rating_name) == (
        "prompt",
        True,
        "response",
        "rating",
    )
    task = {
        "id": 9,
        "data": {
            "prompt": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi?"}],
            "trace_id": "t" * 32,
            "span_id": "s" * 16,
        },
        "predictions": [{"result": [textarea("Hello there, how can I help you today?", "dialogue")]}],
        "annotations": [
            {
                "id": 4,
                "result": [textarea("Hello!", "dialogue"), rating(4, "dialogue")],
                "updated_at": "2026-11-20",
            }
        ],
    }
    metadata = {"trace_id": "t" * 32, "span_id": "s" * 16, "task_id": 9, "annotation_id": 4}
    prompt = task["data"]["prompt"]
    assert list(dataset_lines([task], binding, "sft")) == [
        {"messages": [*prompt, {"role": "assistant", "content": "Hello!"}], "metadata": metadata}
    ]
    assert list(dataset_lines([task], binding, "preference")) == [
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": "Hello!"}],
            "rejected": [{"role": "assistant", "content": "Hello there, how can I help you today?"}],
            "metadata": metadata,
        }
    ]
    assert list(dataset_lines([task], binding, "reward")) == [
        {
            "prompt": prompt,
            "response": "Hello there, how can I help you today?",
            "score": 4,
            "metadata": metadata,
        }
    ]
    assert list(dataset_lines([task], binding, "reward", Filters(min_rating=5))) == []
    with pytest.raises(ValueError, match="format must be one of"):
        list(dataset_lines([task], binding, "dpo"))


@pytest.mark.integration
def test_export_writes_exactly_the_expected_lines(label_studio, ls, tmp_path, project_name):
    exporter = LabelStudioSpanExporter(
        url=label_studio.url, api_key=label_studio.pat, project_name=project_name
    )
    for name in ("completion", "stream", "n2", "chat_system_human"):
        deliver(exporter, fixtures.load("legacy", name))
    exporter.shutdown()
    project = project_by_title(ls, project_name)
    assert project.label_config.strip() == PROMPT_CONFIG.strip()
    ordered = sorted(tasks_of(ls, project_name), key=lambda task: task.id)
    edited, accepted, untouched, skipped = ordered  # one task each: a reviewer's four outcomes
    model_text = {t.id: t.predictions[0].result[0]["value"]["text"] for t in ordered}
    ls.annotations.create(
        id=edited.id, result=[textarea("A much better joke."), rating(4)], was_cancelled=False
    )
    accepted_text = "\n".join(model_text[accepted.id])
    ls.annotations.create(id=accepted.id, result=[textarea(accepted_text), rating(5)], was_cancelled=False)
    ls.annotations.create(id=skipped.id, result=[], was_cancelled=True)
    assert not list(ls.annotations.list(id=untouched.id))  # left alone

    env = {**os.environ, "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.pat}
    lines = {}
    for fmt in ("sft", "preference", "reward"):
        output = tmp_path / f"{fmt}.jsonl"
        result = subprocess.run(
            [SCRIPT, "export", "--project-id", str(project.id), "--format", fmt, "--output", str(output)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "export: 100%" in result.stderr
        lines[fmt] = [json.loads(line) for line in output.read_text().splitlines()]

    def prompt(task):
        return [{"role": "user", "content": task.data["prompt"]}]

    def meta(task, annotation_id):
        keys = ("trace_id", "span_id", "model", "provider", "service_name")
        found = {key: task.data[key] for key in keys if task.data.get(key)}
        return {**found, "task_id": task.id, "annotation_id": annotation_id}

    annotations = {a.task: a.id for t in (edited, accepted) for a in ls.annotations.list(id=t.id)}
    edited_meta, accepted_meta = (
        meta(edited, annotations[edited.id]),
        meta(accepted, annotations[accepted.id]),
    )
    edited_model = "\n".join(model_text[edited.id])
    assert lines["sft"] == [
        {
            "messages": [*prompt(edited), {"role": "assistant", "content": "A much better joke."}],
            "metadata": edited_meta,
        },
        {
            "messages": [*prompt(accepted), {"role": "assistant", "content": accepted_text}],
            "metadata": accepted_meta,
        },
    ]
    assert lines["preference"] == [
        {
            "prompt": prompt(edited),
            "chosen": [{"role": "assistant", "content": "A much better joke."}],
            "rejected": [{"role": "assistant", "content": edited_model}],
            "metadata": edited_meta,
        }
    ]
    assert lines["reward"] == [
        {"prompt": prompt(edited), "response": edited_model, "score": 4, "metadata": edited_meta},
        {"prompt": prompt(accepted), "response": accepted_text, "score": 5, "metadata": accepted_meta},
    ]

    filtered = subprocess.run(
        [SCRIPT, "export", "--project-id", str(project.id), "--format", "sft", "--output", "-",
         "--min-rating", "5", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert [json.loads(line)["metadata"]["task_id"] for line in filtered.stdout.splitlines()] == [accepted.id]
    edited_only = subprocess.run(
        [SCRIPT, "export", "--project-id", str(project.id), "--format", "sft", "--output", "-",
         "--only-edited", "--since", "2000-01-01", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert [json.loads(line)["metadata"]["task_id"] for line in edited_only.stdout.splitlines()] == [
        edited.id
    ]


def test_judge_lines_take_the_label_and_explanation_a_span_event_sent_when_the_config_cannot_show_them():
    """A project made with an older default config has no judge TextArea, so the prediction holds only
    the stars and the score; the span event's label and explanation are in the task's meta.evaluations,
    and the judge export used to write them as null."""

    binding = Binding.from_config(without_judge_area(BEFORE_ISSUE_25["prompt"]))
    # as the layout shaped it before issue 25 (judge_prediction no longer makes stars or a score)
    stars = {"from_name": "rating", "to_name": "prompt", "type": "rating", "value": {"rating": 2}}
    prediction = {"id": 3, "model_version": "judge:correctness", "score": 0.25, "result": [stars]}
    sent = {"name": "correctness", "score": 0.25, "label": "wrong", "explanation": "Lyon is not it"}
    other = {"name": "correctness", "score": 0.9, "label": "right", "explanation": "a later result"}
    task = {
        "id": 7,
        "data": {"prompt": "Capital of France?", "trace_id": "t" * 32, "span_id": "s" * 16},
        "meta": {"evaluations": [other, sent]},
        "predictions": [prediction, {"result": [textarea("Lyon")]}],
        "annotations": [{"id": 5, "result": [rating(5)], "updated_at": "2026-11-20"}],
    }
    (line,) = dataset_lines([task], binding, "judge")
    assert line["judge"] == {
        "name": "correctness",
        "score": 0.25,
        "rating": 2.0,
        "label": "wrong",
        "explanation": "Lyon is not it",
    }
    task["meta"] = {"evaluations": [other]}  # no event with this score: nothing is borrowed from another
    (line,) = dataset_lines([task], binding, "judge")
    assert (line["judge"]["label"], line["judge"]["explanation"]) == (None, None)
