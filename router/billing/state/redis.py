"""The Redis state store: every replica shares keys, limits, balances and the ledger.

Each request phase is one Lua script (see `router.billing.state.lua`) run by EVALSHA; redis-py's
script object reloads it on NOSCRIPT (a restarted or flushed server). Every Redis error
becomes StateUnavailable at this boundary, and every call is bounded: socket timeouts of
`config.timeout`, one immediate reconnect attempt, and an overall deadline.

Layout under `config.prefix` (default `router:`):
    keys                 hash   name -> key hash
    key:<hash>           hash   name, models, patterns, rpm, max_concurrent, credits
                                (absent = unlimited), disabled, static
    rpm:<hash>           zset   request id -> admission time (ms), last 60 s
    inflight:<hash>      zset   request id -> slot expiry (ms)
    res:<request id>     hash   a live reservation
    reservations         zset   request id -> reservation expiry (ms), for the sweep
    done:<request id>    string how it settled, kept a day for idempotency
    usage                stream the ledger
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from router.billing.keys import ModelGlobs, new_key
from router.billing.pricing import Usage
from router.billing.state import lua
from router.billing.state.base import Admission, Settlement, decide_charge
from router.billing.state.ledger import LedgerRecord, select
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.pipeline import ScriptPipeline
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import Pricing, StateConfig
from router.errors import AuthRejected, KeyExists, KeyNotFound, StateUnavailable, UnlimitedCredits

T = TypeVar("T")
DONE_TTL = 86400  # seconds "already settled" is remembered per request id
SWEEP_BATCH = 200
# The stream id is Redis's clock and `ended` the router's: read a little earlier, then filter.
CLOCK_SLACK_MS = 300_000


@contextmanager
def _translated() -> Iterator[None]:
    """Every Redis failure, and running out of time, as StateUnavailable."""
    try:
        yield
    except RedisError as exc:
        raise StateUnavailable(f"state backend error: {type(exc).__name__}") from exc
    except (TimeoutError, OSError) as exc:
        raise StateUnavailable("state backend did not answer in time") from exc


def redis_client(config: StateConfig) -> Redis:
    """A client that fails fast: short socket timeouts, one immediate reconnect, no backoff."""
    # One retry on a connection error only: a pooled connection may be dead after a Redis
    # restart, and every script is idempotent per request id, so replaying is harmless.
    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    # A bounded pool: under a burst, requests wait (briefly) for a connection instead of
    # opening thousands of sockets; waiting too long is StateUnavailable like any outage.
    pool = BlockingConnectionPool.from_url(
        config.redis_url,
        max_connections=config.max_connections,
        # A burst queues for a pooled connection; that wait may use the whole deadline
        # (a busy router is not an outage), while each socket step keeps its own bound.
        timeout=config.timeout * 3,
        socket_timeout=config.timeout,
        socket_connect_timeout=config.timeout,
        retry=retry,
        decode_responses=True,
    )
    return Redis.from_pool(pool)


class RedisStateStore:
    """StateStore shared by every replica; takes ownership of `client` (closed by `close`)."""

    def __init__(
        self, config: StateConfig, client: Redis, static_keys: Sequence[KeyRecord] = ()
    ) -> None:
        self.config = config
        self.client = client
        self._p = config.prefix
        self._static = {r.key_hash: r for r in static_keys}
        # The deadline covers a connect, a retry and a read, each bounded by `timeout`.
        self._deadline = config.timeout * 3 + 0.25
        # The request path's scripts share pipelined writes (see router.billing.state.pipeline).
        self._pipeline = ScriptPipeline(
            client, read_timeout=config.timeout, deadline=self._deadline
        )
        self._admit = client.register_script(lua.ADMIT)
        self._settle = client.register_script(lua.SETTLE)
        self._create = client.register_script(lua.CREATE_KEY)
        self._seed = client.register_script(lua.SEED_STATIC)
        self._drop = client.register_script(lua.DROP_STATIC)
        self._credit = client.register_script(lua.ADD_CREDITS)
        self._disable = client.register_script(lua.DISABLE_KEY)

    async def _run(self, awaitable: Awaitable[T]) -> T:
        """Await one Redis operation; any failure or overrun becomes StateUnavailable."""
        with _translated():
            async with asyncio.timeout(self._deadline):
                return await awaitable

    async def _script(
        self, script: AsyncScript, keys: list[str], args: Sequence[str | int | bytes]
    ) -> Any:
        """A request-path script, pipelined (the pipeline bounds it by the same deadline)."""
        with _translated():
            return await self._pipeline.call(script, keys, args)

    # --- the request path ----------------------------------------------------------------

    async def admit(
        self, key: str | None, model: str, request_id: str, pricing: Pricing | None, now: float
    ) -> Admission:
        key_hash = hash_key(key) if key else ""
        reply = await self._admit_once(key_hash, model, request_id, pricing, now)
        if reply[0] == "err" and reply[1] == "invalid_token" and key_hash in self._static:
            # A static key missing from Redis (flushed, or Redis was down at startup).
            await self._seed_static(self._static[key_hash])
            reply = await self._admit_once(key_hash, model, request_id, pricing, now)
        if reply[0] == "off":
            return Admission.unmetered(request_id, model, now)
        if reply[0] == "err":
            code, retry_ms = str(reply[1]), int(reply[2])
            if code == "too_many_requests" and retry_ms < 0:
                raise AuthRejected(code, "too many concurrent requests for this key")
            retry_after = retry_ms / 1000 if code == "too_many_requests" else None
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
        self, key_hash: str, model: str, request_id: str, pricing: Pricing | None, now: float
    ) -> list[Any]:
        p = self._p
        now_ms = int(now * 1000)
        ttl_ms = int(self.config.reservation_ttl * 1000)
        keys = [
            f"{p}keys",
            f"{p}key:{key_hash}",
            f"{p}rpm:{key_hash}",
            f"{p}inflight:{key_hash}",
            f"{p}res:{request_id}",
            f"{p}reservations",
        ]
        args: list[str | int] = [
            request_id,
            model,
            now_ms,
            pricing.pre_deduct if pricing is not None else 0,
            now_ms + ttl_ms,
            "1" if key_hash else "0",
            "1" if self._static else "0",
            key_hash,
            repr(now),
            ttl_ms,
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
        record = _record(admission, usage, outcome, node, status, now, charge.amount)
        return await self._settle_one(
            rid, admission.key_hash, charge.settled_by, charge.amount, record
        )

    async def _settle_one(
        self, rid: str, key_hash: str, settled_by: SettledBy, amount: int, record: LedgerRecord
    ) -> Settlement:
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
        ]
        args: list[str | int | bytes] = [rid, settled_by.value, amount, DONE_TTL, entry]
        reply: list[Any] = await self._script(self._settle, keys, args)
        if reply[0] == "already":
            return Settlement(rid, SettleResult.ALREADY_SETTLED, SettledBy(reply[1]))
        if reply[0] == "unknown":
            return Settlement(rid, SettleResult.UNKNOWN)
        balance = None if reply[2] is None else int(reply[2])
        return Settlement(rid, SettleResult.SETTLED, settled_by, int(reply[1]), balance)

    async def sweep_expired(self, now: float) -> int:
        p = self._p
        swept = 0
        while True:
            raw_ids = await self._run(
                self.client.zrangebyscore(
                    f"{p}reservations", "-inf", int(now * 1000), start=0, num=SWEEP_BATCH
                )
            )
            rids = [_text(rid) for rid in raw_ids if isinstance(rid, str | bytes)]
            for rid in rids:
                res = _texts(await self._run(self.client.hgetall(f"{p}res:{rid}")))
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
                record = _record(admission, None, "expired", None, 0, now, admission.reserved)
                done = await self._settle_one(
                    rid, admission.key_hash or "", SettledBy.EXPIRED, admission.reserved, record
                )
                swept += done.result is SettleResult.SETTLED
            if len(rids) < SWEEP_BATCH:
                return swept

    # --- keys ----------------------------------------------------------------------------

    async def create_key(self, spec: KeySpec) -> str:
        plain = new_key()
        key_hash = hash_key(plain)
        args = _record_args(KeyRecord(spec, key_hash))
        keys = [f"{self._p}keys", f"{self._p}key:{key_hash}"]
        if await self._run(self._create(keys=keys, args=args)) == "exists":
            raise KeyExists(spec.name)
        return plain

    async def sync_static_keys(self) -> None:
        """Write routes.yaml's keys to Redis and drop static keys no longer listed there."""
        for record in self._static.values():
            await self._seed_static(record)
        names = {r.name for r in self._static.values()}
        index = _texts(await self._run(self.client.hgetall(f"{self._p}keys")))
        for name, key_hash in index.items():
            if name not in names:
                keys = [f"{self._p}keys", f"{self._p}key:{key_hash}"]
                await self._run(self._drop(keys=keys, args=[name, key_hash]))

    async def _seed_static(self, record: KeyRecord) -> None:
        p = self._p
        for _ in range(3):  # another replica may be seeding the same name right now
            found = await self._run(self.client.hget(f"{p}keys", record.name))
            previous = "" if found is None else _text(found)
            keys = [
                f"{p}keys",
                f"{p}key:{record.key_hash}",
                f"{p}key:{previous or record.key_hash}",
            ]
            reply = await self._run(self._seed(keys=keys, args=[*_record_args(record), previous]))
            if reply == "conflict":
                raise KeyExists(f"static key {record.name!r} clashes with a dynamic key")
            if reply == "ok":
                return

    async def list_keys(self) -> list[KeyRecord]:
        index = _texts(await self._run(self.client.hgetall(f"{self._p}keys")))
        out = []
        for name in sorted(index):
            record = await self._load(index[name])
            if record is not None:
                out.append(record)
        return out

    async def get_key(self, name: str) -> KeyRecord | None:
        key_hash = await self._run(self.client.hget(f"{self._p}keys", name))
        return None if key_hash is None else await self._load(_text(key_hash))

    async def _load(self, key_hash: str) -> KeyRecord | None:
        raw = _texts(await self._run(self.client.hgetall(f"{self._p}key:{key_hash}")))
        if not raw:
            return None
        spec = KeySpec(
            name=raw["name"],
            models=tuple(orjson.loads(raw.get("models") or '["*"]')),
            rpm=int(raw["rpm"]) if raw.get("rpm") else None,
            max_concurrent=int(raw["max_concurrent"]) if raw.get("max_concurrent") else None,
            credits=int(raw["credits"]) if "credits" in raw else None,
            disabled=raw.get("disabled") == "1",
        )
        return KeyRecord(spec, key_hash, is_static=raw.get("static") == "1")

    async def _hash_of(self, name: str) -> str:
        key_hash = await self._run(self.client.hget(f"{self._p}keys", name))
        if key_hash is None:
            raise KeyNotFound(name)
        return _text(key_hash)

    async def add_credits(self, name: str, delta: int) -> int:
        key_hash = await self._hash_of(name)
        reply = await self._run(self._credit(keys=[f"{self._p}key:{key_hash}"], args=[delta]))
        if reply[0] == "missing":
            raise KeyNotFound(name)
        if reply[0] == "unlimited":
            raise UnlimitedCredits(name)
        return int(reply[1])

    async def disable_key(self, name: str) -> None:
        key_hash = await self._hash_of(name)
        if not await self._run(self._disable(keys=[f"{self._p}key:{key_hash}"])):
            raise KeyNotFound(name)

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
            start = "(" + _text(batch[-1][0])

    async def ping(self) -> None:
        await self._run(self.client.ping())

    async def close(self) -> None:
        await self._pipeline.close()
        await self.client.aclose()


def _text(value: bytes | str | None) -> str:
    """Replies are str (decode_responses=True); the client's types also allow bytes."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else value


def _texts(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _record(
    admission: Admission,
    usage: Usage | None,
    outcome: str,
    node: str | None,
    status: int,
    now: float,
    charged: int,
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
        charged=charged,
        status=status,
        outcome=str(outcome),
        settled_by="",
        started=admission.started,
        ended=now,
    )


def _record_args(record: KeyRecord) -> list[str]:
    s = record.spec
    return [
        s.name,
        record.key_hash,
        orjson.dumps(list(s.models)).decode(),
        orjson.dumps(ModelGlobs.compile(s.models).lua_patterns()).decode(),
        "" if s.rpm is None else str(s.rpm),
        "" if s.max_concurrent is None else str(s.max_concurrent),
        "" if s.credits is None else str(s.credits),
        "1" if s.disabled else "0",
        "1" if record.is_static else "0",
    ]
