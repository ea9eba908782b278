"""Pure pieces of the failure vocabulary: reasons and failover statuses (no loop); the
errors a client hears of them are tested in test_attempt_errors.py."""

from __future__ import annotations

import pytest

from router.errors import (
    FailureReason,
    RouterError,
    UpstreamFailure,
)
from router.upstream.request import failure_for_status, is_failover_status


def test_reason_values_are_the_metric_labels() -> None:
    assert [r.value for r in FailureReason] == [
        "connect",
        "timeout",
        "status_5xx",
        "status_429",
        "status_4xx",
        "reset",
        "midstream",
        "not_an_answer",
    ]
    assert f"{FailureReason.RESET}" == str(FailureReason.RESET) == "reset"


def test_an_upstream_failure_is_internal() -> None:
    assert not issubclass(UpstreamFailure, RouterError)


@pytest.mark.parametrize(
    ("status", "failover", "reason"),
    [
        (200, False, None),
        (400, False, None),
        (401, True, FailureReason.STATUS_4XX),
        (403, True, FailureReason.STATUS_4XX),
        (404, True, FailureReason.STATUS_4XX),
        (408, True, FailureReason.STATUS_4XX),
        (422, False, None),
        (429, True, FailureReason.STATUS_429),
        (500, True, FailureReason.STATUS_5XX),
        (503, True, FailureReason.STATUS_5XX),
    ],
)
def test_failover_statuses(status: int, failover: bool, reason: FailureReason | None) -> None:
    assert is_failover_status(status) is failover
    if reason is not None:
        failure = failure_for_status(status, "3")
        assert (failure.reason, failure.status, failure.retry_after) == (reason, status, "3")
        assert failure.detail == f"node answered {status}"
