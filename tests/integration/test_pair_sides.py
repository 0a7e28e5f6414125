"""``report`` on pairs of models that record no model name (fake models, some providers), against the
real Label Studio: fake LangChain models answer through the exporter in mode pairwise, a reviewer
chooses through the API, and ``report`` runs as the command line. It used to say both sides were the
same model and report nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableParallel
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_label_studio import LabelStudioSpanExporter
from tests.support.label_studio_reads import project_by_title, wait_for_tasks

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).parent / "otel-label-studio")
REQUESTS = 3  # one pair task each
SERVED_WINS = (True, True, False)  # what the reviewer prefers, request by request


class ProviderChat(FakeListChatModel):
    """A chat model as a provider's integration makes one: LangChain reports the provider, not the
    class, as ``ls_provider`` (ChatOpenAI and its subclasses all say "openai")."""

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "acme"
        return params


class ServedChat(ProviderChat):
    pass


class CandidateChat(ProviderChat):
    pass


def answers(who: str) -> list[str]:
    return [f"{who} answer {n}" for n in range(REQUESTS)]


def fake_list_and_generic() -> tuple[Runnable, Runnable]:
    """Two fake models of different classes, neither with a model name: their providers differ."""
    return (
        FakeListChatModel(responses=answers("served")),
        GenericFakeChatModel(messages=iter(AIMessage(content=a) for a in answers("candidate"))),
    )


def two_classes_of_one_provider() -> tuple[Runnable, Runnable]:
    return ServedChat(responses=answers("served")), CandidateChat(responses=answers("candidate"))


def one_class_told_apart_by_metadata() -> tuple[Runnable, Runnable]:
    """Two models of one class and provider, no model name: only their run metadata differs."""
    return (
        FakeListChatModel(responses=answers("served")).with_config(metadata={"variant": "served"}),
        FakeListChatModel(responses=answers("candidate")).with_config(metadata={"variant": "candidate"}),
    )


def reviewed_project(
    routing, label_studio, ls, project_name: str, models: Callable[[], tuple[Runnable, Runnable]]
) -> int:
    """The app's requests (both models on the same messages) through the exporter in mode pairwise;
    then a reviewer chooses on each pair task by its answers. The project's id."""
    served, candidate = models()
    exporter = LabelStudioSpanExporter(
        url=label_studio.url,
        api_key=label_studio.pat,
        project_name=project_name,
        mode="pairwise",
        pair_wait=1,
    )
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=60_000, max_export_batch_size=512)
    routing.attach(processor)
    try:
        for n in range(REQUESTS):
            RunnableParallel(served=served, candidate=candidate).invoke(
                [HumanMessage(content=f"Question {n}?")]
            )
        assert processor.force_flush(30_000)
        tasks = wait_for_tasks(ls, project_name, REQUESTS)
    finally:
        routing.detach(processor)
        exporter.shutdown()
    assert len(tasks) == REQUESTS
    for task in tasks:
        n = int(task.data["answer_a"].rsplit(" ", 1)[1])
        served_is_a = task.data["answer_a"].startswith("served")
        selected = "left" if served_is_a == SERVED_WINS[n] else "right"
        choice = {
            "from_name": "choice",
            "to_name": "choice",
            "type": "pairwise",
            "value": {"selected": selected},
        }
        ls.annotations.create(id=task.id, result=[choice], was_cancelled=False)
    project = project_by_title(ls, project_name)
    return int(project.id)


def report(label_studio, project_id: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": label_studio.legacy_token,
    }
    return subprocess.run(
        [SCRIPT, "report", "--project-id", str(project_id), "--no-progress", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("models", "by", "served", "candidate"),
    [
        (fake_list_and_generic, "provider", "fakelistchatmodel", "genericfakechatmodel"),
        (two_classes_of_one_provider, "model_class", "ServedChat", "CandidateChat"),
    ],
    ids=["provider", "model-class"],
)
def test_report_tells_unnamed_models_apart_by_what_differs(
    routing, label_studio, ls, project_name, models, by, served, candidate
):
    project_id = reviewed_project(routing, label_studio, ls, project_name, models)

    answer = report(label_studio, project_id, "--json")

    assert answer.returncode == 0, answer.stderr
    data = json.loads(answer.stdout)
    assert (data["reviewed"], data["same_variant"]) == (REQUESTS, 0), (
        data
    )  # none left out as "the same model"
    (row,) = data["win_rates"]
    assert data["told_apart_by"] == {by: REQUESTS}
    served_wins, candidate_wins = SERVED_WINS.count(True), SERVED_WINS.count(False)
    first_wins = served_wins if row["first"] == served else candidate_wins
    assert sorted((row["first"], row["second"])) == sorted((served, candidate))
    assert (row["wins"], row["losses"]) == (first_wins, REQUESTS - first_wins)
    text = report(label_studio, project_id)
    assert text.returncode == 0, text.stderr
    assert (
        f"{row['first']} vs {row['second']}: wins {first_wins}, losses {REQUESTS - first_wins}" in text.stdout
    )


def test_report_on_pairs_nothing_tells_apart_names_the_variant_to_use(
    routing, label_studio, ls, project_name
):
    project_id = reviewed_project(routing, label_studio, ls, project_name, one_class_told_apart_by_metadata)

    answer = report(label_studio, project_id)

    assert answer.returncode == 2, (answer.stdout, answer.stderr)
    assert answer.stdout == ""
    assert f"nothing tells the two sides of its {REQUESTS} reviewed pairs apart" in answer.stderr
    assert answer.stderr.rstrip().endswith("compare by what differs between their sides: --variant variant")
    by_variant = report(label_studio, project_id, "--variant", "variant", "--json")
    assert by_variant.returncode == 0, by_variant.stderr
    (row,) = json.loads(by_variant.stdout)["win_rates"]
    assert (row["first"], row["second"], row["wins"], row["losses"]) == ("candidate", "served", 1, 2)
