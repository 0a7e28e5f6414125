"""Real LangChain spans for pairwise tests: two named fake chat models answer the same messages."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableParallel

from otel_label_studio import config
from otel_label_studio.reading.mapping import Mapper
from otel_label_studio.reading.record import LLMRecord
from otel_label_studio.reading.spanview import from_readable_span

QUESTION = [
    SystemMessage(content="Answer in one line."),
    HumanMessage(content="What is the capital of France?"),
]
ANSWER_SERVED = "Paris."
ANSWER_CANDIDATE = "The capital of France is Paris."


class NamedFakeChat(FakeListChatModel):
    """A fake chat model with a name: LangChain reports it as ``ls_model_name``."""

    model_name: str = "fake"


def served_and_candidate() -> Any:
    """One request, two models, the same messages (a RunnableParallel, as a shadow call is made)."""
    served = NamedFakeChat(responses=[ANSWER_SERVED], model_name="served-model")
    candidate = NamedFakeChat(responses=[ANSWER_CANDIDATE], model_name="candidate-model")
    return RunnableParallel(served=served, candidate=candidate).invoke(QUESTION)


def records_of(spans) -> list[LLMRecord]:
    mapper = Mapper(metadata_prefix=config.default("metadata_prefix"), include_errors=False)
    return mapper.map(from_readable_span(span) for span in spans).records
