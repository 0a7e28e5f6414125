"""Mode pairwise: two answers to one prompt, one task. A trace's LLM spans are held until
``pair_wait`` after the last one arrived, then paired (``pair_hold.py``, ``pairs.py``) and each pair
becomes a task in the pairwise layout (``pair_layout.py``). Review rules do not apply: a rule
decides each LLM span alone, and could keep one side of a pair and drop the other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..rules.language import RuleSet
from ..store.assembly import RunAssembler, RunHold
from ..store.run_codec import AnyRecord
from .pair_hold import PairBuild
from .pair_layout import PAIRWISE_CONFIG, PairLayout, is_pairwise
from .pair_record import PairRecord, is_pair_bytes
from .unit import AnyLayout, HoldSettings, ReviewUnit

if TYPE_CHECKING:
    from ..analysis.readings import Reading
    from ..reading.mapping import Mapper
    from ..rules import ReviewGate

NO_RULES = (
    "review rules do not apply to mode pairwise (a rule decides each LLM span alone, and could keep one "
    "side of a pair and drop the other): drop the rules file or use mode prompt or chat"
)


class PairwiseUnit(ReviewUnit):
    mode = "pairwise"
    decided = "pairs"
    replays = False  # pairs wait for both answers of a trace: send the traffic to `serve --mode pairwise`

    def layout(self, project_config: str | None) -> AnyLayout:
        return PairLayout.from_config(project_config if project_config else PAIRWISE_CONFIG)

    def takes(self, record: AnyRecord) -> bool:
        return isinstance(record, PairRecord)

    def decode(self, data: bytes) -> AnyRecord | None:
        return PairRecord.from_bytes(data) if is_pair_bytes(data) else None

    def shows(self, label_config: str) -> bool:
        return is_pairwise(label_config)

    def reading(self, label_config: str) -> Reading:
        from ..analysis.readings import PairReading  # start-up time: numpy, for the commands only

        return PairReading(label_config)

    def task(self, layout: AnyLayout, record: AnyRecord) -> dict:
        if not isinstance(layout, PairLayout):
            raise ValueError(
                "a pair needs a pairwise label config (a <Pairwise> tag); this project's config "
                "takes single answers"
            )
        assert isinstance(record, PairRecord)
        return layout.task(record.pair)

    def hold(
        self,
        held_in: Callable[[], RunHold],
        settings: HoldSettings,
        *,
        mapper: Mapper,
        redact: Callable[[str], str] | None,
        gate: ReviewGate | None,
    ) -> RunAssembler | None:
        """A trace's LLM spans, paired ``pair_wait`` seconds after the last one arrived."""
        return RunAssembler(
            held_in(), grace=settings.pair_wait, idle_timeout=settings.pair_wait, build=PairBuild(mapper)
        )

    def counts(self, held: RunAssembler) -> dict[str, int]:
        pairs, runs = self._build(held).stats, held.stats
        return {
            "pairs_released": pairs.pairs_released,
            "pair_spans_unpaired": pairs.spans_unpaired,
            "pairs_identical": pairs.identical,
            "pair_spans_rejected": pairs.rejected,
            "pair_traces_waiting": held.open_runs,
            "late_spans_dropped": runs.late_spans_dropped,
            "pair_spans_dropped": runs.spans_dropped_full,
        }

    def readings(self, held: RunAssembler) -> dict[str, Any]:
        return {"pairs": (self._build(held).stats, held.stats, held.open_runs)}

    def check_rules(self, rules: RuleSet) -> None:
        raise ValueError(NO_RULES)

    def check_rules_file(self, path: str) -> None:
        raise ValueError(NO_RULES)  # whatever the file holds

    @staticmethod
    def _build(held: RunAssembler) -> PairBuild:
        build = held.build
        assert isinstance(build, PairBuild)
        return build


PAIRWISE = PairwiseUnit()
