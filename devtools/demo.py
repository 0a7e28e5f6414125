"""A demo LangChain app: a few fake-model calls (no network, no API key), traced by the LangChain
instrumentation, so there is something to label.

    python devtools/demo.py               # OTLP to OTEL_EXPORTER_OTLP_ENDPOINT (Collector, serve)
    python devtools/demo.py --in-process  # straight to Label Studio (LabelStudioSpanExporter)

Developer tooling, not part of the installed package: it runs as a script from a checkout (or the
image's ``/app/devtools``) and needs the ``demo`` extra: ``pip install 'otel-label-studio[demo]'``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

CONVERSATIONS: tuple[tuple[str, str, str], ...] = (
    (
        "You are a concise travel guide.",
        "What should I see in Lisbon in one day?",
        "Start at Belém Tower, walk the Alfama, ride tram 28 and end at Miradouro da Senhora do Monte.",
    ),
    (
        "You answer questions about Python.",
        "How do I reverse a list?",
        "Use my_list.reverse() to reverse in place, or my_list[::-1] for a reversed copy.",
    ),
    (
        "You are a friendly cooking assistant.",
        "Can I replace butter with oil in cookies?",
        "Yes: use about 3/4 of the butter's weight in a neutral oil; the cookies come out softer.",
    ),
    (
        "You explain science to children.",
        "Why is the sky blue?",
        "Sunlight bumps into tiny bits of air, and blue light bounces around the most.",
    ),
    (
        "You are a support agent for a bike shop.",
        "My chain keeps slipping. What can I do?",
        "A slipping chain is usually worn or the gears need adjusting; bring it in for a free check.",
    ),
)

COMPLETIONS: tuple[tuple[str, str], ...] = (
    (
        "Write a haiku about observability.",
        "Spans drift like leaves;\ntraces stitch the autumn wind;\nlogs remember all.",
    ),
    (
        "Summarize: OpenTelemetry is a set of APIs, SDKs and tools.",
        "OpenTelemetry provides vendor-neutral telemetry.",
    ),
)


def real_chat_model() -> Any | None:
    """OpenAI's chat model when OPENAI_API_KEY is set and langchain-openai is installed, else None."""
    if not os.environ.get("OPENAI_API_KEY"):
        return None
    try:
        from langchain_openai import ChatOpenAI  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("OPENAI_API_KEY is set but langchain-openai is not installed: using fake models")
        return None
    return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), max_tokens=200)


def run_calls(calls: int, provider: str = "fake") -> int:
    """Make ``calls`` LLM calls, chat and completion in turn; how many were made."""
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage, SystemMessage

    real = real_chat_model() if provider != "fake" else None
    if provider == "openai" and real is None:
        raise SystemExit("--provider openai needs OPENAI_API_KEY and `pip install langchain-openai`")
    made = 0
    for index in range(calls):
        if index % 3 == 2:
            prompt, answer = COMPLETIONS[index % len(COMPLETIONS)]
            FakeListLLM(responses=[answer]).invoke(prompt)
        else:
            system, question, answer = CONVERSATIONS[index % len(CONVERSATIONS)]
            chat = real or FakeListChatModel(responses=[answer])
            chat.invoke([SystemMessage(content=system), HumanMessage(content=question)])
        made += 1
    return made


def _exporter(in_process: bool) -> Any:
    if in_process:
        from otel_label_studio import LabelStudioSpanExporter

        return LabelStudioSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS, as every OTel app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python devtools/demo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5, help="how many LLM calls to make (default: 5)")
    parser.add_argument(
        "--provider",
        choices=["auto", "fake", "openai"],
        default="auto",
        help="auto (default): OpenAI's chat model when OPENAI_API_KEY is set and langchain-openai is "
        "installed, else LangChain's fake models (no network, no key)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="export with LabelStudioSpanExporter (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY) instead of OTLP",
    )
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    try:
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _exporter(args.in_process)
    except ImportError as exc:
        print(f"The demo needs the demo extra ({exc.name} is missing): pip install 'otel-label-studio[demo]'")
        return 2
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-label-studio-demo"}))
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    instrumentor = LangchainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        made = run_calls(args.calls, args.provider)
        flushed = processor.force_flush(30_000)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    how = "in-process exporter" if args.in_process else "OTLP exporter (through the sidecar)"
    sent = "sent" if flushed else "NOT all sent (flush timed out)"
    print(f"Demo run with the {how}: made {made} LLM calls; their spans were {sent}.")
    return 0 if flushed else 1


if __name__ == "__main__":
    sys.exit(main())
