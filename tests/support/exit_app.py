"""A short app for the exit test, run as a child process under each supported Python: three
fake-model calls (no network, no key), then it ends without calling ``shutdown()``.

    opentelemetry-instrument python exit_app.py          # zero-code: the distro sets up the SDK
    python exit_app.py --in-process at-exit               # its own exporter; first export at exit
    python exit_app.py --in-process early                 # every span exported while it runs
    python exit_app.py --in-process late                  # delivery runs; the last spans at exit

Self-contained (the child's environment has the package and langchain-core, not the tests). The
Label Studio settings come from the environment (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY,
OTEL_LABEL_STUDIO_PROJECT_NAME), as a user's app takes them.
"""

from __future__ import annotations

import argparse
import time

CALLS = 3
QUICK_DELAY_MILLIS = 50  # a batch delay short enough that spans are exported while the app runs


def register_exporter(first_export: str) -> None:
    """What the README's in-process quickstart does, with the batch delay that gives the timing."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_label_studio import LabelStudioSpanExporter

    provider = TracerProvider()
    delay = 5000 if first_export == "at-exit" else QUICK_DELAY_MILLIS  # the SDK's default is 5000
    provider.add_span_processor(BatchSpanProcessor(LabelStudioSpanExporter(), schedule_delay_millis=delay))
    trace.set_tracer_provider(provider)
    LangchainInstrumentor().instrument()


def call(index: int) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import HumanMessage

    FakeListChatModel(responses=[f"Answer {index}"]).invoke([HumanMessage(content=f"Question {index}")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-process", choices=["at-exit", "early", "late"], dest="first_export")
    args = parser.parse_args()
    if args.first_export:
        register_exporter(args.first_export)
    else:  # under opentelemetry-instrument with langchain-core alone: the README says to call it once
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument()
    for index in range(CALLS):
        call(index)
        if args.first_export == "late" and index == 0:
            time.sleep(1.0)  # the first span is exported and delivered: delivery's thread runs
    if args.first_export == "early":
        time.sleep(1.0)  # every span is exported before the app ends
    print(f"made {CALLS} calls", flush=True)


if __name__ == "__main__":
    main()
