"""Which project a record goes to, and the layout bound to that project's label config.

``project_id`` wins; otherwise the project whose title *equals* the strftime'd name, created
with our config when missing. The title is formatted at delivery time in UTC (``titles.py``, as the
review rules' limits count), so a daily project rolls over at midnight UTC in a long-running process.
An existing project keeps its own config: tasks are shaped for it, and when it cannot take them at
all that is said once, not per import. A new title is created once, whatever threads, processes and
replicas ask for it at once (``title_claims.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..modes.dm_view import needs_tab, view_for
from ..modes.layouts import Layout
from ..modes.pair_layout import PairLayout
from .labelstudio import ErrorKind, LabelStudioClient, LabelStudioError, Project
from .title_claims import LocalTitleClaims, SharedTitleClaims, TitleClaims
from .titles import title_at

if TYPE_CHECKING:
    from ..store.shared import SharedState

_logger = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0  # how long a misfit verdict stands before the project is looked at again
CLAIM_SECONDS = 30.0  # how long a new title's creation waits for another process creating it
SETTLE_SECONDS = 2.0  # how long a title made twice waits for the other creations before converging


@dataclass(frozen=True)
class Target:
    project: Project
    layout: Layout | PairLayout  # a PairLayout in mode pairwise


class Projects:
    def __init__(
        self,
        client: LabelStudioClient,
        layout: Layout | PairLayout,
        *,
        project_id: int | None,
        project_name: str,
        config_given: bool,
        reviewers_per_task: int = 1,
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: SharedState | None = None,
        claims: TitleClaims | None = None,
    ):
        self._client = client
        self._layout = layout
        self._project_id = project_id
        self._project_name = project_name
        self._config_given = config_given
        self._reviewers_per_task = reviewers_per_task
        self._now = now
        self._clock = clock
        self._sleep = sleep
        self._targets: dict[str, Target] = {}
        self._misfits: dict[str, tuple[float, LabelStudioError]] = {}
        self._warned: set[int] = set()  # projects whose differing config was said once already
        self._view_warned = False  # a Data Manager tab that could not be made was said once already
        self._lock = threading.Lock()  # two threads resolving one new title must not create it twice
        # ... nor two processes: the shared state's advisory lock, else a file lock on this host
        self._claims: TitleClaims = claims or (
            SharedTitleClaims(shared, client.url) if shared is not None else LocalTitleClaims(client.url)
        )

    def key(self, override: str | None = None) -> str:
        """The cache key of a record's project: ``#<id>`` or its title formatted now (``now``, the wall
        clock: seconds since the epoch), in UTC."""
        if override:
            return title_at(override, self._now())
        if self._project_id is not None:
            return f"#{self._project_id}"
        return title_at(self._project_name, self._now())

    def resolve(self, key: str, timeout: float | None = None) -> Target:
        """The target for a key from ``key()``; raises LabelStudioError (kind MISFIT for a bad config)."""
        target = self._targets.get(key)
        if target is not None:
            return target
        with self._lock:
            target = self._lookup(key, timeout)
            if target is not None:
                return target
            with self._claims.claim(key, max(timeout or 0.0, CLAIM_SECONDS)):
                target = self._lookup(key, timeout)  # made by whoever held the claim before
                if target is None:
                    return self._create(key, timeout)
            # made while we waited: when a process no claim reached made it too, the lowest id may not
            # be listed yet (Label Studio on SQLite commits a replayed create late); look once more
            self._sleep(SETTLE_SECONDS)
            self.forget(key)
            return self._lookup(key, timeout) or target

    def _create(self, key: str, timeout: float | None) -> Target:
        """Create the project of a title, then converge when another process made it too (one no claim
        reached): every process delivers to the lowest id, and one of them deletes the empty duplicates
        (``_converge``)."""
        created = self._client.create_project(
            key, self._layout.label_config, timeout, reviewers_per_task=self._reviewers_per_task
        )
        _logger.info("Created Label Studio project %r (id %d)", key, created.id)
        titled = self._client.projects_titled(key, timeout)
        if [p.id for p in titled] != [created.id]:  # whatever its label config says yet
            first = self._converge(key, created, timeout)
            if first < created.id:
                target = self._lookup(key, timeout)
                if target is None:
                    raise LabelStudioError(ErrorKind.TRANSIENT, f"project {key!r} is being replaced; retried")
                return target
        self._add_view(created, timeout)
        target = self._targets[key] = Target(created, self._layout)
        self._misfits.pop(key, None)
        return target

    def _converge(self, key: str, created: Project, timeout: float | None) -> int:
        """The lowest id of a title made more than once; the process that made the highest one deletes
        the empty duplicates, the others leave them.

        One deleter, because Label Studio deletes a project with every model signal of its process
        switched off and back on (``temporary_disconnect_all_signals``): two deletes at once leave the
        signals off until it restarts, and it then makes users without API tokens. The highest id is
        always one a process was answered with: on SQLite Label Studio replays a create that met a
        locked database, and the project its first attempt committed (lower) is nobody's. The others
        created before it, so after ``SETTLE_SECONDS`` every process lists the same projects."""
        self._sleep(SETTLE_SECONDS)
        titled = self._client.projects_titled(key, timeout)
        first = titled[0].id if titled else created.id
        ours = [p for p in titled if self._ours(p)]
        if ours and ours[-1].id == created.id:
            dropped = self._drop_duplicates(first, ours, timeout)
            _logger.warning(
                "Project %r was also created by a process no claim reached: tasks go to the lowest id "
                "(%d); the empty duplicates (ids %s) were deleted. Give every replica and exporter the "
                "same state_url.",
                key,
                first,
                ", ".join(str(n) for n in dropped) or "none",
            )
        return first

    def _ours(self, project: Project) -> bool:
        return _same_config(project.label_config, self._layout.label_config)

    def _drop_duplicates(self, first: int, ours: list[Project], timeout: float | None) -> list[int]:
        """Delete, one at a time, the projects with our label config above the lowest id that have no
        task; one already gone counts as deleted."""
        dropped = []
        for project in ours:
            if project.id == first:
                continue
            try:
                if self._client.task_count(project.id) == 0:
                    self._client.delete_project(project.id, timeout)
                    dropped.append(project.id)
            except LabelStudioError as exc:
                if exc.kind != ErrorKind.PROJECT_GONE:
                    raise
                dropped.append(project.id)
        return dropped

    def _add_view(self, project: Project, timeout: float | None) -> None:
        """Give a new project the Data Manager tab its layout reads well in; never stops delivery."""
        if not needs_tab(self._layout):
            return
        try:
            data = view_for(self._layout, self._client.data_manager_columns(project.id, timeout))
            if data is not None:
                self._client.create_view(project.id, data, timeout)
        except Exception as exc:  # the tab is presentation only: whatever fails, the tasks go in
            detail = exc.detail if isinstance(exc, LabelStudioError) else f"{type(exc).__name__}: {exc}"
            log = _logger.debug if self._view_warned else _logger.warning
            self._view_warned = True
            log(
                "Project %r (id %d) was created, but not its Data Manager tab that hides the raw "
                "prompt column (%s): Label Studio's Default tab shows the dialogue as JSON; hide the "
                "column with the Data Manager's Columns menu. Tasks are delivered all the same.",
                project.title,
                project.id,
                detail,
            )

    def find(self, key: str, timeout: float | None = None) -> Target | None:
        """Like ``resolve``, but a missing project is not created: None (readiness checks write nothing)."""
        target = self._targets.get(key)
        if target is not None:
            return target
        with self._lock:
            return self._lookup(key, timeout)

    def _lookup(self, key: str, timeout: float | None) -> Target | None:
        target = self._targets.get(key)
        if target is not None:
            return target
        misfit = self._misfits.get(key)
        if misfit is not None and self._clock() - misfit[0] < RECHECK_SECONDS:
            raise misfit[1]

        if key.startswith("#"):
            project = self._client.get_project(int(key[1:]), timeout)
        else:
            found = self._client.find_project(key, timeout)
            if found is None:
                return None
            project = found
        target = self._targets[key] = Target(project, self._bind(project, key))
        self._misfits.pop(key, None)
        return target

    def layout_of(self, project_id: int, timeout: float | None = None) -> Layout | PairLayout:
        """The layout bound to a project records were delivered to (looked up, and kept, when this
        process has not delivered to it): a judge result added to an existing task takes its shape."""
        for target in list(self._targets.values()):
            if target.project.id == project_id:
                return target.layout
        key = f"#{project_id}"
        project = self._client.get_project(project_id, timeout)
        self._targets[key] = Target(project, self._bind(project, key))
        return self._targets[key].layout

    def forget(self, key: str) -> None:
        """Drop a cached project (it was deleted, or its config changed)."""
        self._targets.pop(key, None)

    def _bind(self, project: Project, key: str) -> Layout | PairLayout:
        if _same_config(project.label_config, self._layout.label_config):
            return self._layout
        try:
            layout = self._layout.rebind(project.label_config)
        except ValueError as exc:
            error = LabelStudioError(
                ErrorKind.MISFIT,
                f"project {project.title!r} (id {project.id}) cannot take "
                f"{self._layout.noun} tasks: {exc}. "
                "Fix its label config in Label Studio or choose another project.",
            )
            self._misfits[key] = (self._clock(), error)
            _logger.error("%s", error.detail)
            raise error from None
        if project.id not in self._warned:
            note = layout.rebound_note(project.title, project.id, self._layout.dialogue, self._config_given)
            if note:
                self._warned.add(project.id)
                _logger.warning("%s", note)
        return layout


def _same_config(left: str, right: str) -> bool:
    return " ".join(left.split()) == " ".join(right.split())
