"""LangChain runs the tests put through the real instrumentation: fake models, no network.

Each scenario returns what the app got back, so a test can also check the app was unharmed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import Generation, LLMResult
from langchain_core.prompts import ChatPromptTemplate


class TwoGenerationsLLM(BaseLLM):
    """A fake completion model that returns two generations per prompt (n=2)."""

    answers: list[str] = ["First answer", "Second answer"]

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(generations=[[Generation(text=a) for a in self.answers] for _ in prompts])

    @property
    def _llm_type(self) -> str:
        return "two-generations-fake"


def completion() -> Any:
    return FakeListLLM(responses=["Why did the chicken cross the road?"]).invoke("Tell me a joke")


def chat_system_human() -> Any:
    chat = FakeListChatModel(responses=["Hi there 😀 café"])
    return chat.invoke([SystemMessage(content="Always use emojis"), HumanMessage(content="Tell me a joke")])


def multi_turn() -> Any:
    chat = FakeListChatModel(responses=["Paris has 2.1 million people."])
    return chat.invoke(
        [
            SystemMessage(content="You are a geography tutor."),
            HumanMessage(content="What is the capital of France?"),
            AIMessage(content="Paris."),
            HumanMessage(content="How many people live there?"),
        ]
    )


def chain() -> Any:
    chat = FakeListChatModel(responses=["Hello to you too"])
    prompt = ChatPromptTemplate.from_messages([("system", "be nice"), ("human", "{q}")])
    return (prompt | chat | StrOutputParser()).invoke({"q": "hello"})


def tool_call() -> Any:
    chat = FakeMessagesListChatModel(
        responses=[
            AIMessage(
                content="",
                tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
            )
        ]
    )
    return chat.invoke(
        [
            HumanMessage(content="What is the time and the weather in Paris?"),
            AIMessage(
                content="", tool_calls=[{"name": "get_time", "args": {"city": "Paris"}, "id": "call_0"}]
            ),
            ToolMessage(content="10:00", tool_call_id="call_0"),
        ]
    )


def n2() -> Any:
    return TwoGenerationsLLM().generate(["Say something twice"])


def stream() -> Any:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content="streamed answer here")]))
    return "".join(str(chunk.content) for chunk in chat.stream([HumanMessage(content="Stream to me")]))


def async_call() -> Any:
    chat = FakeListChatModel(responses=["async answer"])
    return asyncio.run(chat.ainvoke([HumanMessage(content="Answer asynchronously")]))


def failing() -> Any:
    class Boom(FakeListLLM):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise ValueError("boom")

    try:
        Boom(responses=["never"]).invoke("This call fails")
    except ValueError:
        return "raised"
    return "did not raise"


SCENARIOS: dict[str, Callable[[], Any]] = {
    "completion": completion,
    "chat_system_human": chat_system_human,
    "multi_turn": multi_turn,
    "chain": chain,
    "tool_call": tool_call,
    "n2": n2,
    "stream": stream,
    "async_call": async_call,
}


# What the live 0.55+ (GenAI) instrumentation records for tests/support/scenarios.py
LIVE = {
    "completion": ("completion", [("user", "Tell me a joke")], ["Why did the chicken cross the road?"]),
    "chat_system_human": (
        "chat",
        [("system", "Always use emojis"), ("user", "Tell me a joke")],
        ["Hi there 😀 café"],
    ),
    "multi_turn": (
        "chat",
        [
            ("system", "You are a geography tutor."),
            ("user", "What is the capital of France?"),
            ("assistant", "Paris."),
            ("user", "How many people live there?"),
        ],
        ["Paris has 2.1 million people."],
    ),
    "chain": ("chat", [("system", "be nice"), ("user", "hello")], ["Hello to you too"]),
    "tool_call": (
        "chat",
        [
            ("user", "What is the time and the weather in Paris?"),
            ("assistant", '[tool call get_time #call_0] {"city": "Paris"}'),
            ("tool", "[tool result #call_0] 10:00"),
        ],
        ['[tool call get_weather #call_1] {"city": "Paris"}'],
    ),
    "n2": ("completion", [("user", "Say something twice")], ["First answer", "Second answer"]),
    "stream": ("chat", [("user", "Stream to me")], ["streamed answer here"]),
    "async_call": ("chat", [("user", "Answer asynchronously")], ["async answer"]),
}


class ToolCallingFake(FakeMessagesListChatModel):
    """A fake chat model that accepts tools, as a real one does: ``bind_tools`` puts their OpenAI
    definitions in the call's parameters, where the instrumentation reads them."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


def agent_run(city: str = "Paris", answer: str = "It is sunny and 22C in Paris.") -> Any:
    """An agent made by LangChain's ``create_agent`` (the current API): one tool call (the tool asks a
    retriever), then the answer."""
    from langchain.agents import create_agent
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import tool

    class WeatherNotes(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Document]:
            return [
                Document(f"{city} weather today: sunny, 22C.", metadata={"source": "today.txt"}),
                Document("Lyon weather: rain. " + "Long note. " * 300, metadata={"source": "lyon"}),
            ]

    notes = WeatherNotes()

    @tool
    def search_weather(city: str) -> str:
        """Look up today's weather for a city."""
        return "\n".join(doc.page_content for doc in notes.invoke(f"weather in {city}")[:1])

    model = ToolCallingFake(
        responses=[
            AIMessage(
                content="",
                tool_calls=[{"name": "search_weather", "args": {"city": city}, "id": f"call_{city}"}],
            ),
            AIMessage(content=answer),
        ]
    )
    agent = create_agent(model, [search_weather], system_prompt="You are a weather assistant.")
    result = agent.invoke({"messages": [HumanMessage(content=f"What's the weather in {city}?")]})
    return result["messages"][-1].content


def agent_run_that_raises() -> Any:
    """A ``create_agent`` agent offered two tools, told to answer in Fahrenheit: the model calls
    ``get_weather``, which raises, and the run raises with it (no final answer)."""
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Today's weather in a city."""
        raise ConnectionError(f"weather service unreachable for {city}")

    @tool
    def get_time(zone: str) -> str:
        """The local time in a time zone."""
        return "10:00"

    model = ToolCallingFake(
        responses=[
            AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "c7"}]),
            AIMessage(content="It is 20C in Rome."),
        ]
    )
    agent = create_agent(
        model, [get_weather, get_time], system_prompt="You are a weather assistant. Answer in Fahrenheit."
    )
    try:
        agent.invoke({"messages": [HumanMessage(content="What's the weather in Rome?")]})
    except ConnectionError as exc:
        return f"raised: {exc}"
    return "did not raise"
