"""The Redis state store: every replica shares keys, limits, balances and the ledger.

Each request phase is one Lua script (see `router.billing.state.lua`) run by EVALSHA; redis-py's
script object reloads it on NOSCRIPT (a restarted or flushed server). Every Redis error
becomes StateUnavailable at this boundary and every call is bounded (redis_io). This
module is the request path (admit, settle, sweep) and the ledger; key management lives
in redis_keys.

Layout under `config.prefix` (default `router:`):
    keys                 hash   name -> key hash
    key:<hash>           hash   name, models, patterns, rpm, max_concurrent, credits
                                (absent = unlimited), disabled, static; a static key's
                                granted (routes.yaml's credits last applied) and
                                disabled_admin (by `router keys disable`: kept on reload)
    rpm:<hash>           zset   request id -> admission time (ms), last 60 s
    inflight:<hash>      zset   request id -> slot expiry (ms)
    tpm:<hash>           hash   whole second -> tokens, last 60 s
    res:<request id>     hash   a live reservation
    reservations         zset   request id -> reservation expiry (ms), for the sweep

Times in the windows and expiries are Redis's own clock (TIME), read by the scripts and
the sweep, so replicas need no synchronised clocks (router.billing.state.lua).
    done:<request id>    string how it settled (or that its admission was withdrawn), kept
                                a day: settling is idempotent, and ADMIT refuses the id
    usage                stream the ledger
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

from redis.asyncio import Redis

from router.billing.state.base import Admission, Charge, Settlement
from router.billing.state.ledger import LedgerRecord, select
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.redis_io import (
    bounded,
    deadline_of,
    text,
    texts,
)
from router.billing.state.redis_keys import RedisKeys
from router.billing.state.redis_replies import (
    ledger_record,
)
from router.billing.state.redis_requests import RedisRequests
from router.config.keys import KeyRecord, KeySpec
from router.config.model import Pricing, StateConfig
from router.dialects.usage import Usage

T = TypeVar("T")
SWEEP_BATCH = 200
# The stream id is Redis's clock and `ended` the router's: read a little earlier, then filter.
CLOCK_SLACK_MS = 300_000


class RedisStateStore:
    """StateStore shared by every replica; takes ownership of `client` (closed by `close`)."""

    def __init__(
        self, config: StateConfig, client: Redis, static_keys: Sequence[KeyRecord] = ()
    ) -> None:
        self.config = config
        self.client = client
        self._p = config.prefix
        self._static = {r.key_hash: r for r in static_keys}
        self._deadline = deadline_of(config)
        self._keys = RedisKeys(config, client, self._static)
        self._requests = RedisRequests(config, client, self._static, self._keys, self._deadline)
        # Without a task or an await: the router settles through these (router.billing).
        self.admit_soon = self._requests.admit
        self.settle_soon = self._requests.settle

    async def _run(self, awaitable: Awaitable[T]) -> T:
        """Await one Redis operation; any failure or overrun becomes StateUnavailable."""
        return await bounded(awaitable, self._deadline)

    # --- the request path ----------------------------------------------------------------

    async def admit(
        self,
        key: str | None,
        model: str,
        request_id: str,
        pricing: Pricing | None,
        now: float,
        *,
        free: bool = False,
        tokens: int = 0,
        reserve: int | None = None,
        key_hash: str | None = None,
    ) -> Admission:
        return await self.admit_soon(
            key,
            model,
            request_id,
            pricing,
            now,
            free=free,
            tokens=tokens,
            reserve=reserve,
            key_hash=key_hash,
        )

    async def settle(
        self,
        admission: Admission,
        usage: Usage | None,
        outcome: Outcome,
        *,
        node: str | None,
        status: int,
        now: float,
    ) -> Settlement:
        return await self.settle_soon(admission, usage, outcome, node=node, status=status, now=now)

    async def withdraw(self, request_id: str, key_hash: str, model: str, now: float) -> None:
        await self._requests.withdraw(request_id, key_hash, model, now)

    async def sweep_expired(self, now: float) -> int:
        """Settle reservations past their expiry by Redis's clock (`now`, the router's,
        only dates the ledger entries)."""
        p = self._p
        swept = 0
        seconds, micros = await self._run(self.client.time())
        cutoff_ms = seconds * 1000 + micros // 1000
        while True:
            raw_ids = await self._run(
                self.client.zrangebyscore(
                    f"{p}reservations", "-inf", cutoff_ms, start=0, num=SWEEP_BATCH
                )
            )
            rids = [text(rid) for rid in raw_ids if isinstance(rid, str | bytes)]
            for rid in rids:
                res = texts(await self._run(self.client.hgetall(f"{p}res:{rid}")))
                if not res:  # settled between the two reads, or a dangling index entry
                    await self._run(self.client.zrem(f"{p}reservations", rid))
                    continue
                admission = Admission(
                    request_id=rid,
                    model=res.get("model", ""),
                    started=float(res.get("started") or 0),
                    key_name=res.get("name", ""),
                    key_hash=res.get("hash", ""),
                    reserved=int(res.get("amount") or 0),
                )
                charge = Charge(SettledBy.EXPIRED, admission.reserved)
                record = ledger_record(admission, None, Outcome.EXPIRED, charge, None, 0, now)
                done = await self._requests.settle_call(
                    rid, admission.key_hash or "", charge, record, None, None, False
                )
                swept += done.result is SettleResult.SETTLED
            if len(rids) < SWEEP_BATCH:
                return swept

    # --- keys (router.billing.state.redis_keys) -------------------------------------------

    async def create_key(self, spec: KeySpec) -> str:
        return await self._keys.create_key(spec)

    async def replace_static_keys(self, records: Sequence[KeyRecord]) -> None:
        # One dict shared with RedisKeys (and the seed-on-first-use in admit): update it in place.
        self._static.clear()
        self._static.update((r.key_hash, r) for r in records)
        await self._keys.sync_static_keys()

    async def sync_static_keys(self) -> None:
        """Write routes.yaml's keys to Redis and drop static keys no longer listed there."""
        await self._keys.sync_static_keys()

    async def list_keys(self) -> list[KeyRecord]:
        return await self._keys.list_keys()

    async def get_key(self, name: str) -> KeyRecord | None:
        return await self._keys.get_key(name)

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        return await self._keys.key_by_hash(key_hash)

    async def add_credits(self, name: str, delta: int) -> int:
        return await self._keys.add_credits(name, delta)

    async def disable_key(self, name: str) -> None:
        await self._keys.disable_key(name)

    async def enable_key(self, name: str) -> None:
        await self._keys.enable_key(name)

    # --- ledger and lifecycle ------------------------------------------------------------

    async def usage_records(self, *, since: float, key: str | None = None) -> list[LedgerRecord]:
        stream = f"{self._p}usage"
        start = str(max(0, int(since * 1000) - CLOCK_SLACK_MS))
        out: list[LedgerRecord] = []
        while True:
            batch = await self._run(self.client.xrange(stream, min=start, count=1000)) or []
            out.extend(LedgerRecord.from_fields(fields) for _, fields in batch if fields)
            if len(batch) < 1000:
                return select(out, since=since, key=key)
            start = "(" + text(batch[-1][0])

    async def ping(self) -> None:
        await self._run(self.client.ping())

    async def close(self) -> None:
        await self._requests.close()
        await self.client.aclose()
