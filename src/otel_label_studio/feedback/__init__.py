"""Human scores back into the traces, beside the span -> task path.

Label Studio's annotation webhooks (``loop.FeedbackLoop``, routed to by serve's HTTP server once
their secret is checked) are read as claims (``webhook``: bounded, pure), confirmed in Label Studio
(``confirm``), and Label Studio's copy of each annotation becomes OpenTelemetry GenAI evaluation
events (``events``: pure mapping), kept in a durable outbox once per annotation version
(``outbox``) and sent as OTLP/HTTP logs to the feedback endpoint (``sender``), so the tracing
backend shows the human score on the original LLM call. With ``reveal_judges="after_answer"`` the
same confirmed webhooks tell the judge join a task was answered (``annotation_webhooks``).
"""

from .events import EVALUATION_NAME, EVENT_NAME, Evaluation, evaluations, logs_request
from .sender import FeedbackError, FeedbackSender

__all__ = [
    "EVALUATION_NAME",
    "EVENT_NAME",
    "Evaluation",
    "FeedbackError",
    "FeedbackSender",
    "evaluations",
    "logs_request",
]
