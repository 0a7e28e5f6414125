"""Mode pairwise: a trace's LLM spans wait for their partners, then become pairs (``assembly.Build``).

The wait is the agent mode's hold (``assembly.RunAssembler``: the spool's ``run_pieces`` table in
``serve`` and with ``spool_path``, capped memory otherwise). Every LLM span is held, none ends the
wait early: a trace is released ``pair_wait`` seconds after its last span arrived (each new span
restarts the wait; the timers use stored arrival times, so they resume after a restart).

At release the trace's spans are mapped (dialects, filters, redaction, as in the other modes) and
paired by ``pairs.form_pairs`` (one span's first two generations; spans whose input messages
match after whitespace normalisation, each paired with the first). Each pair is queued once,
keyed by its pair id (``pair_record.PairRecord``), in the same transaction that deletes the held
spans. A span with no partner is counted (``spans_unpaired``) and not imported; a candidate pair
whose two answers are the same is counted (``identical``) and not imported.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

from ..reading import dialects
from ..reading.mapping import Mapper
from ..reading.spanview import SpanView
from ..store.assembly import Built
from ..store.run_codec import AnyRecord
from .pair_record import PairRecord
from .pairs import form_pairs

_logger = logging.getLogger(__name__)


@dataclass
class PairStats:
    pairs_released: int = 0  # pairs queued (a pair queued again after a crash is counted again)
    spans_unpaired: int = 0  # LLM spans with no partner when their trace's wait ended: not imported
    identical: int = 0  # candidate pairs whose two answers were the same: not imported
    rejected: int = 0  # held LLM spans that could not become records (no content, unreadable, errors)


class PairBuild:
    """Mode pairwise's ``assembly.Build``."""

    noun = "pairs"
    waits_for_parents = False  # an LLM span's parents are not held: only time ends the wait

    def __init__(self, mapper: Mapper):
        self._mapper = mapper
        self._lock = threading.Lock()
        self.stats = PairStats()

    def takes(self, view: SpanView) -> bool:
        return dialects.dialect_for(view) is not None

    def top(self, view: SpanView) -> bool:
        return False  # nothing ends a trace's wait but time

    def build(
        self,
        views: list[SpanView],
        project: str | None,
        *,
        missing: Collection[str] = (),
        released_as: Mapping[str, str] | None = None,
    ) -> Built:
        """``missing`` and ``released_as`` do not apply: no pair is kept to be completed."""
        mapped = self._mapper.map(views)
        for record in mapped.records:
            if not record.project:
                record.project = project
        pairing = form_pairs(mapped.records)
        records = [PairRecord(pair, pair.project) for pair in pairing.pairs]
        rejected = mapped.unreadable + mapped.no_content + mapped.errors_skipped

        def count() -> None:
            with self._lock:
                stats = self.stats
                stats.pairs_released += len(records)
                stats.spans_unpaired += len(pairing.unpaired)
                stats.identical += pairing.identical
                stats.rejected += rejected
            if pairing.unpaired:
                _logger.info(
                    "%d LLM spans of trace %s found no partner within the pair wait: counted, not imported",
                    len(pairing.unpaired),
                    pairing.unpaired[0].trace_id,
                )

        return Built(records, count)

    def settle(self, *, queued: bool, refused: Sequence[AnyRecord] = ()) -> None:
        """Nothing to keep or give back: review rules do not apply to mode pairwise."""
