"""The ``serve`` process: OTLP/HTTP and OTLP/gRPC in, the spool, and the delivery worker.

Everything that can be wrong with the options (an unusable label config, a data directory that
cannot be written, a port in use) is found in ``Sidecar.__init__``, before anything listens,
and raised as ValueError with what to fix (a bad review-rules file too: file, line, what to fix).
SIGTERM stops taking requests, lets delivery drain for a bounded time, and exits; what is left
stays in the spool for the next start. SIGHUP re-reads the review-rules file: a bad new file is
logged as an ERROR (file and line) and the rules in force stay.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Callable

from ..bridge import build_bridge
from ..config import Settings, default, webhook_secret_problem
from ..delivery.labelstudio import ErrorKind, LabelStudioError
from ..delivery.problems import label_studio_problem
from ..feedback.annotation_webhooks import AnnotationWebhooks, Answered
from ..feedback.confirm import Confirmer
from ..feedback.figures import LiveFigures, read_project
from ..feedback.loop import FeedbackLoop
from ..modes.units import check_rules_file, task_layout, unit_for
from ..store.spool import Spool
from .grpc import make_grpc_server
from .http import OtlpHttpServer
from .intake import Intake
from .judge_intake import JudgeIntake
from .limits import DecodeGate, ReceiveBudget
from .metrics import Readings, ServeMetrics
from .policy import ReceiverPolicy

_logger = logging.getLogger(__name__)

READINESS_CACHE_SECONDS = 5.0
GC_YOUNG_THRESHOLD = 50_000  # Python's default is 700 allocations


@dataclass(frozen=True)
class ServeOptions:
    """The receiver's settings (names, defaults and meaning are config.Settings'), beside the
    delivery ``settings``; ``from_settings`` takes them all from one resolved model."""

    settings: Settings
    data_dir: str
    host: str = default("host")
    http_port: int = default("http_port")
    grpc_port: int = default("grpc_port")
    auth_token: str | None = default("auth_token")
    max_body_bytes: int = default("max_body_bytes")
    drain_seconds: float = default("drain_seconds")
    spool_max_rows: int = default("spool_max_rows")
    spool_max_bytes: int = default("spool_max_bytes")
    feedback_endpoint: str | None = default("feedback_endpoint")
    webhook_secret: str | None = default("webhook_secret")
    max_concurrent_decodes: int = default("max_concurrent_decodes")
    max_spans_per_request: int = default("max_spans_per_request")
    http_read_timeout: float = default("http_read_timeout")
    max_receive_bytes: int = default("max_receive_bytes")

    @classmethod
    def from_settings(cls, settings: Settings) -> ServeOptions:
        """Every receiver option from the settings model (as ``serve`` reads them)."""
        names = [field.name for field in fields(cls) if field.name != "settings"]
        return cls(settings=settings, **{name: getattr(settings, name) for name in names})

    def __repr__(self) -> str:  # the token and the webhook secret stay out of logs
        return (
            f"ServeOptions(settings={self.settings!r}, data_dir={self.data_dir!r}, host={self.host!r}, "
            f"http_port={self.http_port}, grpc_port={self.grpc_port}, "
            f"auth_token=<{'set' if self.auth_token else 'unset'}>, "
            f"webhook_secret=<{'set' if self.webhook_secret else 'unset'}>, "
            f"max_body_bytes={self.max_body_bytes}, "
            f"max_concurrent_decodes={self.max_concurrent_decodes}, "
            f"max_receive_bytes={self.max_receive_bytes}, "
            f"max_spans_per_request={self.max_spans_per_request}, http_read_timeout={self.http_read_timeout})"
        )


class Sidecar:
    def __init__(self, options: ServeOptions, *, after_import: Callable[[], None] | None = None):
        self.options = options
        if options.max_receive_bytes < options.max_body_bytes:
            raise ValueError(
                f"--max-receive-bytes ({options.max_receive_bytes}) must be at least --max-body-bytes "
                f"({options.max_body_bytes}), or a request of the largest size could never be received"
            )
        _check_webhook_secret(options)
        settings = options.settings
        try:
            layout = task_layout(settings.mode, settings.project_config)
        except ValueError as exc:
            raise ValueError(f"project config: {exc}") from None
        self.spool = Spool.in_directory(
            options.data_dir, max_rows=options.spool_max_rows, max_bytes=options.spool_max_bytes
        )
        try:  # the review rules' limits and folds live beside the spool
            bridge = build_bridge(
                settings, layout, self.spool, after_import=after_import, review_state=options.data_dir
            )
        except ValueError:
            self.spool.close()
            raise
        self.bridge = bridge
        self.client, self.projects, self.worker = bridge.client, bridge.projects, bridge.worker
        self.ingest, self.review = bridge.ingest, bridge.gate
        self.intake = Intake(bridge.ingest)
        # Judge results sent as OTLP logs (POST /v1/logs, LogsService/Export): the bridge's join.
        self.judges = bridge.judges
        self.judge = JudgeIntake(self.judges)
        self.runs = bridge.ingest.runs  # mode agent or pairwise: held spans wait in the spool's file
        self.review_budget = bridge.ingest.budget  # kept records wait for their budget window, in the spool
        # Annotation webhooks (their secret checked, each claim confirmed in Label Studio): human
        # scores to the feedback endpoint, and, revealing judges after the answer, the join told.
        join = self.judges.answered if settings.reveal_judges == "after_answer" else None
        # Calibration and arena figures recomputed as reviewers submit (/metrics), on the same webhooks.
        takes_webhooks = bool(options.webhook_secret and (options.feedback_endpoint or join is not None))
        self.figures: LiveFigures | None = None
        if takes_webhooks and settings.figures_interval > 0:
            self.figures = LiveFigures(read_project(self.client), settings.figures_interval)
        answered = _both(join, self.figures.answered if self.figures is not None else None)
        self.feedback: FeedbackLoop | None = None
        self.webhooks: FeedbackLoop | AnnotationWebhooks | None = None
        if options.feedback_endpoint and options.webhook_secret:
            try:
                self.feedback = self.webhooks = FeedbackLoop(
                    options.feedback_endpoint,
                    options.data_dir,
                    label_studio=self.client,
                    secret=options.webhook_secret,
                    timeout=settings.timeout,
                    answered=answered,
                )
            except ValueError:
                self._close_stores()
                raise
        elif answered is not None and options.webhook_secret:
            confirmer = Confirmer(self.client, options.webhook_secret, timeout=settings.timeout)
            self.webhooks = AnnotationWebhooks(confirmer, answered=answered)
        self.policy = ReceiverPolicy(options.auth_token, options.webhook_secret)
        self.telemetry = ServeMetrics(self.readings)
        self.worker.stats.on_latency = self.telemetry.observe_latency
        self._readiness: tuple[float, bool, str] | None = None
        # One bound on the requests decoded at once, whichever transport brought them.
        self.gate = DecodeGate(options.max_concurrent_decodes)
        # One bound on the bytes of bodies being received (HTTP counts them; gRPC has slots of it).
        self.budget = ReceiveBudget(options.max_receive_bytes)
        self._listen()

    def _listen(self) -> None:
        """The OTLP/HTTP and OTLP/gRPC servers; a port that cannot be had closes what was opened."""
        options = self.options
        try:
            self.http = OtlpHttpServer(
                (options.host, options.http_port),
                self.intake,
                policy=self.policy,
                max_body_bytes=options.max_body_bytes,
                readiness=self.readiness,
                metrics=self.telemetry.render,
                webhook=self.webhooks,
                gate=self.gate,
                budget=self.budget,
                max_spans=options.max_spans_per_request,
                read_timeout=options.http_read_timeout,
                judge=self.judge,
            )
        except OSError as exc:
            self._close_stores()
            raise ValueError(
                f"cannot listen for OTLP/HTTP on {options.host}:{options.http_port}: {exc.strerror or exc} "
                "(choose another --http-port)"
            ) from None
        try:
            self.grpc, self._grpc_service, self.grpc_port = make_grpc_server(
                self.intake,
                host=options.host,
                port=options.grpc_port,
                policy=self.policy,
                max_body_bytes=options.max_body_bytes,
                gate=self.gate,
                max_spans=options.max_spans_per_request,
                receive_budget_bytes=options.max_receive_bytes,
                judge=self.judge,
            )
        except ValueError as exc:
            self.http.stop()
            self._close_stores()
            raise ValueError(f"{exc} (choose another --grpc-port)") from None
        self.http_port = self.http.server_address[1]

    def start(self) -> None:
        stats = self.spool.stats()
        self.worker.start()
        if self.runs is not None:
            self.runs.start()  # runs left open by the last process complete on their stored timers
        if self.review_budget is not None:
            self.review_budget.start()  # windows left open by the last process are decided when they are over
        if self.feedback is not None:
            self.feedback.start()  # sends what a previous run kept, then waits for webhooks
        if self.figures is not None:
            self.figures.start()
        settings = self.options.settings
        if self.review is not None:  # said before the ports answer: a SIGHUP may come as soon as they do
            _logger.info(
                "Review rules from %s: %d rules decide which %s become tasks (SIGHUP re-reads them)",
                settings.review_rules,
                len(self.review.rules.rules),
                unit_for(settings.mode).decided,
            )
        self.grpc.start()
        self.http.start()
        _logger.info(
            "Listening for OTLP on %s (HTTP port %d, gRPC port %d); delivering to Label Studio at %s, "
            "project %s; spool %s holds %d records; auth token %s",
            self.options.host,
            self.http_port,
            self.grpc_port,
            settings.url,
            f"id {settings.project_id}" if settings.project_id else repr(settings.project_name),
            self.spool.path,
            stats.depth,
            "required" if self.options.auth_token else "not required",
        )
        # Label Studio asked once at start, off the start path: a wrong URL, key or project id is said
        # now, not at the first span. serve keeps running either way (Label Studio may come later).
        threading.Thread(target=self._check_label_studio, name="start-check", daemon=True).start()
        if settings.reveal_judges == "after_answer":
            _logger.info(
                "Judge results are shown on a task once it has %d answer(s): register this server's "
                "annotation webhook on the project (otel-label-studio webhook --project-id N --target URL)",
                settings.reviewers_per_task,
            )

    def _check_label_studio(self) -> None:
        ready, message = self.readiness()
        if not ready:
            _logger.error(
                "Label Studio at start: %s (serve keeps receiving into the spool and delivers once this "
                "is fixed)",
                message.removeprefix("not ready: "),
            )

    def stop(self) -> None:
        """Stop taking requests, drain delivery for up to ``drain_seconds``, close the spool."""
        started = time.monotonic()
        self.http.stop()
        self.grpc.stop(grace=2.0).wait(5.0)
        if self.runs is not None:
            self.runs.stop()  # runs not yet whole stay in the spool's file
        if self.review_budget is not None:
            self.review_budget.stop()  # records waiting for their window stay in the spool's file
        emptied = self.worker.stop(self.options.drain_seconds)
        left = self.spool.stats().depth
        if self.feedback is not None:
            self.feedback.stop()
        if self.figures is not None:
            self.figures.stop()
        self._close_stores()
        self.client.close()
        self.telemetry.shutdown()
        _logger.info(
            "Stopped after %.1fs; %s",
            time.monotonic() - started,
            "every record was delivered"
            if emptied
            else f"{left} record{' stays' if left == 1 else 's stay'} in the spool, delivered after the "
            "next start",
        )

    def reload_rules(self) -> bool:
        """Re-read the review-rules file (SIGHUP); a bad file leaves the rules in force."""
        if self.review is None or not self.options.settings.review_rules:
            _logger.warning("SIGHUP: no review-rules file to re-read (serve started without one)")
            return False
        try:  # what the start refuses for the mode (run.* keys outside agent, a call's fields in it)
            check_rules_file(self.options.settings.review_rules, self.options.settings.mode)
        except ValueError as exc:
            _logger.error("Review rules not reloaded, the rules in force stay: %s", exc)
            return False
        return self.review.reload_file(self.options.settings.review_rules)

    def _close_stores(self) -> None:
        self.ingest.close()
        self.bridge.close_shared()
        self.spool.close()
        if self.feedback is not None:
            self.feedback.close()

    def readiness(self) -> tuple[bool, str]:
        """Label Studio answers with this key and the default project takes tasks (cached briefly).

        It looks, it never writes: a missing project is created by the first delivery, not here
        (a dated default title would otherwise make a project a day with no traffic).
        """
        now = time.monotonic()
        if self._readiness is not None and now - self._readiness[0] < READINESS_CACHE_SECONDS:
            return self._readiness[1], self._readiness[2]
        settings = self.options.settings
        timeout = min(5.0, settings.timeout)
        try:
            if self.worker.key_refused:
                raise LabelStudioError(ErrorKind.AUTH, "delivery is paused: Label Studio refused the API key")
            key = self.projects.key()
            target = self.projects.find(key, timeout=timeout)  # the lookup itself needs the key
            ready = True
            if target is None:
                message = (
                    f"ready: Label Studio at {settings.url}; project {key!r} does not exist yet "
                    "and will be created on first delivery"
                )
            else:
                project = self.client.get_project(target.project.id, timeout=timeout)  # live check
                message = (
                    f"ready: Label Studio at {settings.url}, project {project.title!r} (id {project.id})"
                )
        except LabelStudioError as error:
            ready = False
            problem = label_studio_problem(
                error, settings.url, settings.project_id, token_kind=self.client.token_kind
            )
            message = f"not ready: {problem}"
        self._readiness = (now, ready, message)
        return ready, message

    def readings(self) -> Readings:
        """What ``/metrics`` shows, read from where it is kept (one scrape's worth)."""
        return Readings(
            intake=self.intake.stats,
            judge=self.judge.stats,
            worker=self.worker.stats,
            queue_depth=self.spool.depth,
            dead_letters=self.spool.dead_letter_count(),
            delivery_paused=self.worker.paused_reason is not None,
            http_responses=self.http.responses,
            grpc_responses=dict(self._grpc_service.responses),
            refused={
                "decode_slots": self.gate.refused,
                "receive_budget": self.budget.refused + self._grpc_service.receiving.refused,
            },
            feedback=self.feedback.counts() if self.feedback is not None else None,
            review=self.review.counts() if self.review is not None else None,
            folded=self.review.state.folded_by_project() if self.review is not None else None,
            shared=self._shared_readings(),
            budget=self.review_budget.counts() if self.review_budget is not None else None,
            **self._held_readings(),
            judges=(self.judges.stats, self.judges.waiting),
            figures=self.figures.snapshot() if self.figures is not None else None,
        )

    def _shared_readings(self) -> tuple[bool, int, int] | None:
        shared = self.bridge.shared
        return None if shared is None else (shared.unavailable, shared.failures, shared.outages)

    def _held_readings(self) -> dict[str, Any]:
        """The hold's figures: ``runs`` in mode agent, ``pairs`` in mode pairwise (the unit says)."""
        held = self.runs
        if held is None:
            return {}
        return unit_for(self.options.settings.mode).readings(held)


def _both(*hooks: Answered | None) -> Answered | None:
    """One ``answered`` hook telling each of ``hooks`` that is set, in order; None when none is."""
    told = [hook for hook in hooks if hook is not None]
    if not told:
        return None
    if len(told) == 1:
        return told[0]

    def answered(task_id: int, project_id: int) -> None:
        for hook in told:
            hook(task_id, project_id)

    return answered


def _check_webhook_secret(options: ServeOptions) -> None:
    """ValueError (serve does not start) when webhooks would be taken without a secret of their own."""
    problem = webhook_secret_problem(
        options.feedback_endpoint,
        options.webhook_secret,
        options.auth_token,
        reveal_judges=options.settings.reveal_judges,
    )
    if problem is not None:
        raise ValueError(problem)


def run(options: ServeOptions, *, after_import: Callable[[], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the exit status."""
    sidecar = Sidecar(options, after_import=after_import)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        _logger.info("Received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # SIGHUP re-reads the review rules; without a rules file it is logged, never the default (exit).
    signal.signal(signal.SIGHUP, lambda signum, frame: sidecar.reload_rules())
    _tune_gc()
    sidecar.start()
    while not stop.wait(1.0):
        pass
    sidecar.stop()
    return 0


def _tune_gc() -> None:
    """Requests allocate many short-lived, acyclic objects (reference counting frees them), so
    frequent cyclic collections are wasted work on the ingest path: move what start-up made out
    of the collector's view, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
