"""Why each attempt is made: the kind its span and access-log entry carry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from router.errors import FailureReason, UpstreamFailure
from router.observability.exchange import AttemptKind
from router.proxy.plan import attempt_kind

REQUESTED = SimpleNamespace(name="m")
FALLBACK = SimpleNamespace(name="f")
FAILED = UpstreamFailure(FailureReason.STATUS_5XX, "node answered 503", status=503)


def candidate(served: Any = REQUESTED, retrying: UpstreamFailure | None = None) -> Any:
    return SimpleNamespace(served=served, retrying=retrying)


@pytest.mark.parametrize(
    "made,first,hedge,kind",
    [
        (candidate(), True, False, AttemptKind.FIRST),
        (candidate(), False, False, AttemptKind.FAILOVER),
        (candidate(retrying=FAILED), False, False, AttemptKind.SAME_NODE_RETRY),
        (candidate(FALLBACK), False, False, AttemptKind.FALLBACK),
        (candidate(FALLBACK), True, False, AttemptKind.FALLBACK),  # the model's nodes all out
        (candidate(FALLBACK, FAILED), False, False, AttemptKind.SAME_NODE_RETRY),
        (candidate(), False, True, AttemptKind.HEDGE),
        (candidate(FALLBACK), False, True, AttemptKind.HEDGE),
    ],
)
def test_kinds(made: Any, first: bool, hedge: bool, kind: AttemptKind) -> None:
    assert attempt_kind(made, REQUESTED, first=first, hedge=hedge) is kind  # type: ignore[arg-type]
