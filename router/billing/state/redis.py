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

import contextlib
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from router.billing.pricing import reservation
from router.billing.state import lua
from router.billing.state.base import Admission, Charge, Settlement, decide_charge, quota_message
from router.billing.state.ledger import LedgerRecord, parts_text, select
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.pipeline import ScriptPipeline
from router.billing.state.redis_io import bounded, deadline_of, text, texts, translated
from router.billing.state.redis_keys import RedisKeys
from router.billing.state.token_window import counted, settled_tokens, window_wait
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import Pricing, StateConfig
from router.dialects.usage import Usage
from router.errors import AuthRejected, KeyNotFound, StateUnavailable, UnlimitedCredits

T = TypeVar("T")
DONE_TTL = 86400  # seconds "already settled" is remembered per request id
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
        # The request path's scripts share pipelined writes (see router.billing.state.pipeline).
        self._pipeline = ScriptPipeline(
            client, read_timeout=config.timeout, deadline=self._deadline
        )
        self._admit = client.register_script(lua.ADMIT)
        self._settle = client.register_script(lua.SETTLE)
        self._keys = RedisKeys(config, client, self._static)

    async def _run(self, awaitable: Awaitable[T]) -> T:
        """Await one Redis operation; any failure or overrun becomes StateUnavailable."""
        return await bounded(awaitable, self._deadline)

    async def _script(
        self, script: AsyncScript, keys: list[str], args: Sequence[str | int | bytes]
    ) -> Any:
        """A request-path script, pipelined (the pipeline bounds it by the same deadline)."""
        with translated():
            return await self._pipeline.call(script, keys, args)

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
    ) -> Admission:
        key_hash = hash_key(key) if key else ""
        if pricing is None:
            reserve = 0
        elif reserve is None:
            reserve = reservation(pricing)
        once = (key_hash, model, request_id, reserve, now, free, counted(tokens))
        reply = await self._admit_once(*once)
        if reply[0] == "err" and reply[1] == "invalid_token" and key_hash in self._static:
            # A static key missing from Redis (flushed, or Redis was down at startup).
            await self._keys.seed_static(self._static[key_hash])
            reply = await self._admit_once(*once)
        if reply[0] in ("off", "free"):
            return Admission.unmetered(request_id, model, now)
        if reply[0] == "err":
            code, retry_ms = str(reply[1]), int(reply[2])
            if code == "withdrawn":  # only an admission its router gave up on meets this
                raise StateUnavailable("the admission was withdrawn")
            if code == "tpm":
                raise AuthRejected(
                    "too_many_requests",
                    "token-per-minute limit reached",
                    retry_after=window_wait(retry_ms / 1000),
                )
            if code == "too_many_requests" and retry_ms < 0:
                raise AuthRejected(code, "too many concurrent requests for this key")
            if code == "insufficient_quota":  # the third word is the balance
                raise AuthRejected(code, quota_message(reserve, retry_ms))
            retry_after = window_wait(retry_ms / 1000) if code == "too_many_requests" else None
            raise AuthRejected(code, retry_after=retry_after)
        return Admission(
            request_id=request_id,
            model=model,
            started=now,
            key_name=str(reply[1]),
            key_hash=key_hash,
            reserved=int(reply[2]),
            pricing=pricing,
        )

    async def _admit_once(
        self,
        key_hash: str,
        model: str,
        request_id: str,
        reserve: int,
        now: float,
        free: bool,
        tokens: int,
    ) -> list[Any]:
        p = self._p
        keys = [
            f"{p}keys",
            f"{p}key:{key_hash}",
            f"{p}rpm:{key_hash}",
            f"{p}inflight:{key_hash}",
            f"{p}res:{request_id}",
            f"{p}reservations",
            f"{p}tpm:{key_hash}",
            f"{p}done:{request_id}",
        ]
        args: list[str | int] = [
            request_id,
            model,
            reserve,
            "1" if key_hash else "0",
            "1" if self._static else "0",
            key_hash,
            repr(now),
            int(self.config.reservation_ttl * 1000),
            "1" if free else "0",
            tokens,
        ]
        reply: list[Any] = await self._script(self._admit, keys, args)
        return reply

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
        rid = admission.request_id
        if not admission.is_metered or admission.key_hash is None:
            return Settlement(rid, SettleResult.UNMETERED)
        charge = decide_charge(admission, usage, outcome)
        record = _record(admission, usage, outcome, charge, node, status, now)
        used = settled_tokens(usage, outcome)
        held = admission.reserved  # a reservation Redis lost (a failover) is charged anyway
        return await self._settle_one(rid, admission.key_hash, charge, record, used, held)

    async def withdraw(self, request_id: str, key_hash: str, model: str, now: float) -> None:
        admission = Admission(request_id, model, now, key_name="", key_hash=key_hash)
        charge = Charge(SettledBy.REFUND, 0)
        record = _record(admission, None, Outcome.FAILED, charge, None, 503, now)
        await self._settle_one(request_id, key_hash, charge, record, 0, withdraw=True)

    async def _settle_one(
        self,
        rid: str,
        key_hash: str,
        charge: Charge,
        record: LedgerRecord,
        used: int | None,
        held: int | None = None,
        *,
        withdraw: bool = False,
    ) -> Settlement:
        """SETTLE; a difference the script could not apply (the key's record went away
        since admission: rotated by a reload) goes to the key holding the name now.
        `held`: what the admission reserved, when the caller had the admission itself;
        `withdraw`: the router gave up on this admission (router.billing.withdrawals)."""
        settlement, orphan = await self._settle_script(
            rid, key_hash, charge, record, used, held, withdraw
        )
        if orphan:
            with contextlib.suppress(KeyNotFound, UnlimitedCredits):
                await self._keys.add_credits(record.key, orphan)
        return settlement

    async def _settle_script(
        self,
        rid: str,
        key_hash: str,
        charge: Charge,
        record: LedgerRecord,
        used: int | None,
        held: int | None,
        withdraw: bool,
    ) -> tuple[Settlement, int]:
        p = self._p
        fields = record.to_fields()
        del fields["charged"], fields["settled_by"]  # the script decides these
        entry = orjson.dumps([text for pair in fields.items() for text in pair])
        keys = [
            f"{p}res:{rid}",
            f"{p}reservations",
            f"{p}done:{rid}",
            f"{p}usage",
            f"{p}key:{key_hash}",
            f"{p}inflight:{key_hash}",
            f"{p}tpm:{key_hash}",
        ]
        args: list[str | int | bytes] = [
            rid,
            charge.settled_by.value,
            charge.amount,
            DONE_TTL,
            entry,
            "" if used is None else used,
            "" if held is None else held,
            "1" if withdraw else "0",
        ]
        reply: list[Any] = await self._script(self._settle, keys, args)
        result = lua.SETTLE_REPLIES[str(reply[0])]
        if result is SettleResult.ALREADY_SETTLED:
            return Settlement(rid, result, SettledBy(reply[1])), 0
        if result is SettleResult.UNKNOWN:
            return Settlement(rid, result), 0
        balance = None if reply[2] is None else int(reply[2])
        recovered = str(reply[4]) == "1"
        settled = Settlement(rid, result, charge.settled_by, int(reply[1]), balance, recovered)
        return settled, int(reply[3])

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
                record = _record(admission, None, Outcome.EXPIRED, charge, None, 0, now)
                done = await self._settle_one(rid, admission.key_hash or "", charge, record, None)
                swept += done.result is SettleResult.SETTLED
            if len(rids) < SWEEP_BATCH:
                return swept

    # --- keys ----------------------------------------------------------------------------

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
        await self._pipeline.close()
        await self.client.aclose()


def _record(
    admission: Admission,
    usage: Usage | None,
    outcome: Outcome,
    charge: Charge,
    node: str | None,
    status: int,
    now: float,
) -> LedgerRecord:
    usage = usage or Usage()
    return LedgerRecord(
        request_id=admission.request_id,
        key=admission.key_name or "",
        model=admission.model,
        node=node or "",
        prompt_tokens=usage.prompt,
        completion_tokens=usage.completion,
        reasoning_tokens=usage.reasoning,
        charged=charge.amount,
        status=status,
        outcome=outcome,
        settled_by=charge.settled_by,
        started=admission.started,
        ended=now,
        parts=parts_text(usage),
    )
