"""What the state store tests share: a clock, prices, request ids, and two short calls."""

from __future__ import annotations

import itertools

import pytest

from router.billing.state import LedgerRecord, Outcome, SettledBy
from router.config.model import Pricing
from router.errors import AuthRejected

T0 = 1_700_000_000.0
C = 1_000_000  # one credit in micro-credits
PRICE = Pricing(
    pre_deduct=5 * C, prompt_per_1k=1 * C, completion_per_1k=2 * C, reasoning_per_1k=4 * C
)
ids = (f"req-{n}" for n in itertools.count())


async def rejected(coro) -> AuthRejected:
    with pytest.raises(AuthRejected) as info:
        await coro
    return info.value


async def settle(store, admission, usage=None, outcome=Outcome.SUCCESS, now=T0 + 1, **kw):
    return await store.settle(
        admission, usage, outcome, node=kw.get("node", "n1"), status=kw.get("status", 200), now=now
    )


def ledger_record(**fields: object) -> LedgerRecord:
    """A settled request as the ledger keeps it: one success, unless `fields` say otherwise."""
    base: dict[str, object] = {
        "request_id": "r1",
        "key": "team",
        "model": "m",
        "node": "n1",
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "reasoning_tokens": 0,
        "charged": 1_500_000,
        "status": 200,
        "outcome": Outcome.SUCCESS,
        "settled_by": SettledBy.USAGE,
        "started": 1.5,
        "ended": 2.5,
    }
    return LedgerRecord(**{**base, **fields})  # type: ignore[arg-type]
