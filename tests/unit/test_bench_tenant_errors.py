"""bench.tenant_traffic.summarize: which calls of the shim's log count as errors."""

from __future__ import annotations

from bench.h2load import CallRecord
from bench.tenant_traffic import KINDS, summarize

GET = KINDS.index("get")
CREATE = KINDS.index("create")


def _call(kind: int, start_ms: int, latency_ms: int, grpc_status: int) -> CallRecord:
    return CallRecord(kind, start_ms * 1000, latency_ms * 1000, grpc_status, 200)


def _errors(calls: list[CallRecord]) -> dict[str, int]:
    summary = summarize(calls, KINDS, warmup_s=0.0)
    return {name: int(stats["errors"]) for name, stats in summary.items()}


def test_a_call_the_server_refused_is_an_error_wherever_it_falls():
    errors = _errors([_call(GET, 0, 5, 0), _call(CREATE, 1, 10, 8)])
    assert (errors["CreateCohort"], errors["GetCohort"]) == (1, 0)


def test_a_call_reset_while_others_are_still_answered_is_an_error():
    errors = _errors([_call(CREATE, 0, 3, -2), _call(CREATE, 1, 2, -1), _call(GET, 2, 10, 0)])
    assert errors["CreateCohort"] == 2


def test_a_call_cut_off_after_the_last_answer_is_not_an_error():
    # h2load stopped: the answered calls are all in, and one still open closes without a status.
    errors = _errors([_call(GET, 0, 10, 0), _call(CREATE, 5, 7, -1)])
    assert errors == dict.fromkeys(errors, 0)
