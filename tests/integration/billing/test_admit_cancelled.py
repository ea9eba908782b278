"""A client that leaves while Redis admits its request (the handler is cancelled during the
admit round trip): the admission still lands, and is refunded at once, not charged its
whole reservation by the expiry sweep. Real redis-server, the real Billing service."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp.test_utils import make_mocked_request

from router.billing.service import Billing
from router.config.keys import KeySpec
from router.config.model import ModelRoute, Pricing, StateConfig
from router.dialects.estimate import TokenEstimate
from router.observability.exchange import Exchange
from router.observability.observer import Observer

pytestmark = pytest.mark.integration

C = 1_000_000
PRICE = Pricing(pre_deduct=5 * C, prompt_per_1k=1 * C, completion_per_1k=1 * C)


async def test_an_admission_whose_client_left_meanwhile_is_refunded(redis_server) -> None:
    config = StateConfig(
        backend="redis", redis_url=redis_server.url, prefix=f"c-{uuid.uuid4().hex}:"
    )
    billing = Billing(config, (), Observer(None, access_log=False))
    await billing.start()
    try:
        key = await billing.store.create_key(KeySpec(name="team", credits=100 * C))
        route = ModelRoute("m", (), pricing=PRICE)
        request = make_mocked_request(
            "POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}
        )
        exchange = Exchange("r1", "POST", "/v1/chat/completions", None, 0.0)
        admitting = asyncio.create_task(
            billing.admit(request, exchange, route, estimate=TokenEstimate(10, 100))
        )
        await asyncio.sleep(0)  # sent on its way to Redis
        admitting.cancel()  # the client left
        with pytest.raises(asyncio.CancelledError):
            await admitting

        # The admit landed (5 credits reserved) and was settled as a refund at once.
        records = []
        for _ in range(100):
            records = await billing.store.usage_records(since=0)
            if records:
                break
            await asyncio.sleep(0.05)
        assert [(r.charged, r.settled_by) for r in records] == [(0, "refund")], records
        record = await billing.store.get_key("team")
        assert record is not None and record.spec.credits == 100 * C
    finally:
        await billing.stop()
