"""router.billing.state.redis_replies: what ADMIT and SETTLE answer, read (no Redis)."""

from __future__ import annotations

from typing import Any

import pytest

from router.billing.state.base import Charge
from router.billing.state.outcomes import SettledBy, SettleResult
from router.billing.state.redis_replies import admission_of, needs_seed, settlement_of
from router.errors import AuthRejected, StateUnavailable
from tests.support.store import PRICE, T0, C


def admitted(reply: Any) -> Any:
    return admission_of(
        reply, request_id="r1", model="m", now=T0, key_hash="h", pricing=PRICE, reserve=5 * C
    )


def test_an_admission_carries_the_key_and_what_was_reserved() -> None:
    admission = admitted(["ok", "team", str(5 * C)])
    assert (admission.key_name, admission.key_hash, admission.reserved) == ("team", "h", 5 * C)
    assert not admitted(["free"]).is_metered and not admitted(["off"]).is_metered


@pytest.mark.parametrize(
    ("reply", "code", "retry_after"),
    [
        (["err", "invalid_token", 0], "invalid_token", None),
        (["err", "too_many_requests", 1500], "too_many_requests", 1.5),
        (["err", "too_many_requests", -1], "too_many_requests", None),
        (["err", "tpm", 90_000], "too_many_requests", 60.0),
        (["err", "insufficient_quota", 2 * C], "insufficient_quota", None),
    ],
    ids=["unknown-key", "rpm", "concurrency", "tpm-held-to-a-minute", "quota"],
)
def test_a_refusal_is_its_error(reply: list[Any], code: str, retry_after: float | None) -> None:
    with pytest.raises(AuthRejected) as refused:
        admitted(reply)
    assert refused.value.code == code
    assert getattr(refused.value, "retry_after", None) == retry_after


def test_a_withdrawn_admission_is_the_backend_failing() -> None:
    with pytest.raises(StateUnavailable):
        admitted(["err", "withdrawn", 0])


@pytest.mark.parametrize(
    "reply", [[], ["err"], None, "ok", [1, 2, 3]], ids=["empty", "short", "none", "text", "nums"]
)
def test_a_reply_of_another_shape_never_asks_for_seeding(reply: Any) -> None:
    """Read in a done-callback: raising there would leave the admission waiting forever."""
    assert needs_seed(reply) is False


def test_settlement_replies() -> None:
    charge = Charge(SettledBy.USAGE, 3 * C)
    settled, orphan = settlement_of(["settled", 3 * C, 97 * C, 0, "0"], "r1", charge)
    assert (settled.result, settled.charged, settled.balance, orphan) == (
        SettleResult.SETTLED,
        3 * C,
        97 * C,
        0,
    )
    again, _ = settlement_of(["already", "usage"], "r1", charge)
    assert again.result is SettleResult.ALREADY_SETTLED and again.settled_by is SettledBy.USAGE
