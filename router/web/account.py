"""A key holder's account: `GET {prefix}/account`, what one request cost
(`GET {prefix}/account/requests/{request_id}`), and the one-api/new-api billing endpoints.

`{prefix}/dashboard/billing/subscription` and `{prefix}/dashboard/billing/usage` answer in
the shapes one-api and new-api serve, which chat clients (ChatGPT-Next-Web, LobeChat...)
read to show a balance: one credit is shown as one "USD"; `hard_limit_usd` is the balance
plus everything the key was charged, `total_usage` the charges in the date range, in
cents, so `hard_limit_usd - total_usage / 100` is the balance when the range covers all
use. The documents are built by pure functions below; the handlers only fetch records.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from router.billing.service import Billing
from router.billing.state.ledger import LedgerRecord
from router.config.credits import micro_to_credits
from router.config.keys import KeyRecord, hash_key
from router.errors import AuthRejected, InvalidRequest, NotFound, echo
from router.web.context import presented_key

DAY = 86400.0
HOUR = 3600
RECENT = 50  # ledger records listed on the account page
UNLIMITED_USD = 100000000  # what one-api reports for a key without a credit limit
MAX_WAIT = 10.0  # seconds a request-cost lookup may wait for the settlement
# A waiting lookup reads the ledger again after 0.1 s, doubling to at most 1 s: most
# requests are settled by the first or second read, and one lookup stays a handful of
# ledger reads (a scan of usage.jsonl on the memory backend), not one per 0.2 s.
FIRST_STEP, LAST_STEP = 0.1, 1.0


def account_document(record: KeyRecord, records: Sequence[LedgerRecord], now: float) -> Any:
    """GET {prefix}/account: limits, balance, the last day's totals and recent requests."""
    spec = record.spec
    day = [r for r in records if r.ended >= now - DAY]
    hour_now = int(now // HOUR)
    hours = [(hour_now - 23 + i) * HOUR for i in range(24)]  # hour starts, oldest first
    per_hour = [0] * 24
    for r in day:
        index = 23 - (hour_now - int(r.ended // HOUR))
        if 0 <= index < 24:
            per_hour[index] += r.charged
    recent = sorted(records, key=lambda r: r.ended, reverse=True)[:RECENT]
    return {
        "name": spec.name,
        "balance": None if spec.credits is None else micro_to_credits(spec.credits),
        "rpm": spec.rpm,
        "tpm": spec.tpm,
        "max_concurrent": spec.max_concurrent,
        "models": list(spec.models),
        "disabled": spec.disabled,
        "last_24h": _totals(day),
        "credits_per_hour": {
            "hour_starts": hours,
            "credits": [micro_to_credits(c) for c in per_hour],
        },
        "recent": [_row(r) for r in recent],
    }


def _totals(records: Sequence[LedgerRecord]) -> dict[str, Any]:
    return {
        "requests": len(records),
        "credits": micro_to_credits(sum(r.charged for r in records)),
        "tokens": {
            "prompt": sum(r.prompt_tokens for r in records),
            "completion": sum(r.completion_tokens for r in records),
            "reasoning": sum(r.reasoning_tokens for r in records),
        },
    }


def _row(r: LedgerRecord) -> dict[str, Any]:
    """One ledger record as the page lists it (no node: which worker answered is ours)."""
    return {
        # The ledger id is the client's X-Request-ID plus ":" and a suffix of the router's.
        "request_id": r.request_id.rpartition(":")[0] or r.request_id,
        "time": r.ended,
        "model": r.model,
        "tokens": {
            "prompt": r.prompt_tokens,
            "completion": r.completion_tokens,
            "reasoning": r.reasoning_tokens,
        },
        "credits": micro_to_credits(r.charged),
        "status": r.status,
        "outcome": r.outcome.value,
        "settled_by": r.settled_by.value,
    }


def subscription_document(record: KeyRecord, charged_ever: int) -> dict[str, Any]:
    """one-api's `billing_subscription`: the limit is the balance plus all charges so far."""
    balance = record.spec.credits
    amount = UNLIMITED_USD if balance is None else micro_to_credits(balance + charged_ever)
    return {
        "object": "billing_subscription",
        "has_payment_method": True,
        "soft_limit_usd": amount,
        "hard_limit_usd": amount,
        "system_hard_limit_usd": amount,
        "access_until": 0,
    }


def usage_document(charged: int) -> dict[str, Any]:
    """one-api's usage answer: `total_usage` in hundredths of a credit ("cents")."""
    return {"object": "list", "total_usage": round(micro_to_credits(charged) * 100, 4)}


def date_range(start: str | None, end: str | None) -> tuple[float, float]:
    """`start_date`/`end_date` (YYYY-MM-DD, UTC; the end day excluded) -> Unix seconds."""
    return _day(start, "start_date", 0.0), _day(end, "end_date", float("inf"))


def _day(text: str | None, name: str, default: float) -> float:
    if not text:
        return default
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise InvalidRequest(f"{name} must be YYYY-MM-DD, got {echo(text)}") from None


def wait_seconds(text: str | None) -> float:
    """`?wait=` of a request-cost lookup: 0 to MAX_WAIT seconds, absent meaning 0."""
    if text is None or not text.strip():
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_WAIT:  # nan fails both
        raise InvalidRequest(f"wait must be 0-{MAX_WAIT:g} seconds, got {echo(text)}")
    return seconds


class Account:
    """The account endpoints; every one needs the key it reports on."""

    def __init__(self, billing: Billing) -> None:
        self.billing = billing

    async def _holder(self, request: web.Request) -> KeyRecord:
        if self.billing.auth_off:
            raise NotFound("auth is off (no keys configured): there is no account to show")
        key = presented_key(request)
        self.billing.require_key(key)
        record = await self.billing.store.key_by_hash(hash_key(key)) if key else None
        if record is None:
            raise AuthRejected("invalid_token")
        return record

    async def account(self, request: web.Request) -> web.Response:
        """GET {prefix}/account."""
        record = await self._holder(request)
        now = time.time()
        records = await self.billing.store.usage_records(since=now - DAY, key=record.name)
        return _json(account_document(record, records, now))

    async def request_cost(self, request: web.Request) -> web.Response:
        """GET {prefix}/account/requests/{request_id}[?wait=S]: what one request of the
        last day cost (its X-Request-ID), as `recent` lists it; 404 until it is settled (a
        moment after it ends; a client that left after the whole text, up to 2 s more).
        `wait` holds the answer up to S seconds for the settlement, so a page asks once
        instead of polling through 404s."""
        record = await self._holder(request)
        wanted = request.match_info["request_id"]
        deadline = time.monotonic() + wait_seconds(request.query.get("wait"))
        step = FIRST_STEP
        while True:
            now = time.time()
            records = await self.billing.store.usage_records(since=now - DAY, key=record.name)
            found = [
                r for r in records if (r.request_id.rpartition(":")[0] or r.request_id) == wanted
            ]
            if found:
                return _json(_row(max(found, key=lambda r: r.ended)))
            if time.monotonic() >= deadline:
                raise NotFound(f"no settled request {echo(wanted)} of this key in the last day")
            await asyncio.sleep(min(step, max(0.0, deadline - time.monotonic())))
            step = min(step * 2, LAST_STEP)

    async def subscription(self, request: web.Request) -> web.Response:
        """GET {prefix}/dashboard/billing/subscription."""
        record = await self._holder(request)
        records = await self.billing.store.usage_records(since=0, key=record.name)
        return _json(subscription_document(record, sum(r.charged for r in records)))

    async def usage(self, request: web.Request) -> web.Response:
        """GET {prefix}/dashboard/billing/usage?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD."""
        start, end = date_range(request.query.get("start_date"), request.query.get("end_date"))
        record = await self._holder(request)
        records = await self.billing.store.usage_records(since=start, key=record.name)
        return _json(usage_document(sum(r.charged for r in records if r.ended < end)))

    def routes(self, prefixes: Sequence[str]) -> list[web.RouteDef]:
        out = []
        for prefix in dict.fromkeys(prefixes):
            out += [
                web.get(f"{prefix}/account", self.account),
                web.get(f"{prefix}/account/requests/{{request_id}}", self.request_cost),
                web.get(f"{prefix}/dashboard/billing/subscription", self.subscription),
                web.get(f"{prefix}/dashboard/billing/usage", self.usage),
            ]
        return out


def _json(document: object) -> web.Response:
    response = web.Response(body=orjson.dumps(document), content_type="application/json")
    response.headers["Cache-Control"] = "no-store"  # a balance, never cached
    return response
