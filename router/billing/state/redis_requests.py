"""The Redis store's request path: ADMIT and SETTLE, queued on the script pipeline.

How this works: each call is queued on the pipeline (router.billing.state.pipeline),
which sends one loop turn's calls to Redis in one write, and its reply is read by a
done-callback into a future of ours. So an admission costs the request one round trip
shared with every other request of its turn, and a settlement none at all: the router
does not wait for it, and no task is made for either (a coroutine would need one to
outlive a cancelled caller). Only the rare paths that need a second call (seeding a
static key Redis lost, moving the credits of a rotated key) take a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis

from router.billing.pricing import reservation
from router.billing.state import lua
from router.billing.state.base import Admission, Charge, Settlement, decide_charge
from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.pipeline import ScriptPipeline
from router.billing.state.redis_io import resolve, translated
from router.billing.state.redis_keys import RedisKeys
from router.billing.state.redis_replies import (
    admission_of,
    ledger_record,
    needs_seed,
    settlement_of,
)
from router.billing.state.token_window import counted, settled_tokens
from router.config.keys import KeyRecord, hash_key
from router.config.model import Pricing, StateConfig
from router.dialects.usage import Usage
from router.errors import KeyNotFound, UnlimitedCredits
from router.tasks import cancel_and_wait

DONE_TTL = 86400  # seconds "already settled" is remembered per request id
PER_KEY_LIMIT = 10_000  # keys whose entry names are kept


class RedisRequests:
    """Admissions and settlements of one RedisStateStore (which owns `client`)."""

    def __init__(
        self,
        config: StateConfig,
        client: Redis,
        static: dict[str, KeyRecord],
        keys: RedisKeys,
        deadline: float,
    ) -> None:
        """`static`: routes.yaml's keys by hash, shared with the store (updated in place)."""
        self._p = config.prefix
        self._static = static
        self._keys = keys
        self._ttl_ms = int(config.reservation_ttl * 1000)
        self._pipeline = ScriptPipeline(client, read_timeout=config.timeout, deadline=deadline)
        self._admit = client.register_script(lua.ADMIT)
        self._settle = client.register_script(lua.SETTLE)
        self._side_tasks: set[asyncio.Task[None]] = set()  # seeding a key, moving an orphan
        p = config.prefix
        self._all_keys, self._reservations, self._usage = (
            f"{p}keys",
            f"{p}reservations",
            f"{p}usage",
        )
        self._per_key: dict[str, tuple[str, str, str, str]] = {}

    def _names_of(self, key_hash: str) -> tuple[str, str, str, str]:
        """The names of a key's record, rpm, inflight and tpm entries, made once per key
        (bounded: a flood of made-up keys only clears them)."""
        names = self._per_key.get(key_hash)
        if names is None:
            if len(self._per_key) >= PER_KEY_LIMIT:
                self._per_key.clear()
            p = self._p
            record, rpm = f"{p}key:{key_hash}", f"{p}rpm:{key_hash}"
            names = (record, rpm, f"{p}inflight:{key_hash}", f"{p}tpm:{key_hash}")
            self._per_key[key_hash] = names
        return names

    async def close(self) -> None:
        await cancel_and_wait(list(self._side_tasks))
        await self._pipeline.close()

    def admit(
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
    ) -> asyncio.Future[Admission]:
        """StateStore.admit as a future: queued on the pipeline with this loop turn's other calls,
        and read by a callback, with no task of its own (the router shields it:
        router.billing.service)."""
        key_hash = (key_hash or hash_key(key)) if key else ""
        if pricing is None:
            reserve = 0
        elif reserve is None:
            reserve = reservation(pricing)
        once = (key_hash, model, request_id, reserve, now, free, counted(tokens))
        read = functools.partial(
            admission_of,
            request_id=request_id,
            model=model,
            now=now,
            key_hash=key_hash,
            pricing=pricing,
            reserve=reserve,
        )
        raw = self._admit_call(*once)
        admitted: asyncio.Future[Admission] = raw.get_loop().create_future()
        raw.add_done_callback(functools.partial(self._admit_replied, admitted, read, once))
        return admitted

    def _admit_replied(
        self,
        admitted: asyncio.Future[Admission],
        read: Callable[[list[Any]], Admission],
        once: tuple[str, str, str, int, float, bool, int],
        raw: asyncio.Future[Any],
    ) -> None:
        key_hash = once[0]
        if _replied(raw) and needs_seed(raw.result()) and key_hash in self._static:
            # A static key missing from Redis (flushed, or Redis was down at startup): seed
            # it and ask again. Rare, so this path may take a task.
            self._spawn(self._admit_seeded(admitted, read, once))
            return
        resolve(admitted, raw, read)

    async def _admit_seeded(
        self,
        admitted: asyncio.Future[Admission],
        read: Callable[[list[Any]], Admission],
        once: tuple[str, str, str, int, float, bool, int],
    ) -> None:
        try:
            await self._keys.seed_static(self._static[once[0]])
            with translated():
                reply = await self._admit_call(*once)
            admission = read(reply)
        except Exception as exc:
            if not admitted.done():
                admitted.set_exception(exc)
        else:
            if not admitted.done():
                admitted.set_result(admission)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _admit_call(
        self,
        key_hash: str,
        model: str,
        request_id: str,
        reserve: int,
        now: float,
        free: bool,
        tokens: int,
    ) -> asyncio.Future[Any]:
        p = self._p
        record, rpm, inflight, tpm = self._names_of(key_hash)
        keys = [
            self._all_keys,
            record,
            rpm,
            inflight,
            f"{p}res:{request_id}",
            self._reservations,
            tpm,
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
            self._ttl_ms,
            "1" if free else "0",
            tokens,
        ]
        return self._pipeline.call(self._admit, keys, args)

    def settle(
        self,
        admission: Admission,
        usage: Usage | None,
        outcome: Outcome,
        *,
        node: str | None,
        status: int,
        now: float,
    ) -> asyncio.Future[Settlement]:
        """StateStore.settle as a future (router.billing.state.base.QueuedSettle): queued on the
        pipeline with this loop turn's other calls, read by a callback, no task."""
        rid = admission.request_id
        if not admission.is_metered or admission.key_hash is None:
            unmetered: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()
            unmetered.set_result(Settlement(rid, SettleResult.UNMETERED))
            return unmetered
        charge = decide_charge(admission, usage, outcome)
        record = ledger_record(admission, usage, outcome, charge, node, status, now)
        used = settled_tokens(usage, outcome)
        held = admission.reserved  # a reservation Redis lost (a failover) is charged anyway
        return self.settle_call(rid, admission.key_hash, charge, record, used, held, False)

    async def withdraw(self, request_id: str, key_hash: str, model: str, now: float) -> None:
        admission = Admission(request_id, model, now, key_name="", key_hash=key_hash)
        charge = Charge(SettledBy.REFUND, 0)
        record = ledger_record(admission, None, Outcome.FAILED, charge, None, 503, now)
        await self.settle_call(request_id, key_hash, charge, record, 0, None, True)

    def settle_call(
        self,
        rid: str,
        key_hash: str,
        charge: Charge,
        record: LedgerRecord,
        used: int | None,
        held: int | None,
        withdraw: bool,
    ) -> asyncio.Future[Settlement]:
        """SETTLE; a difference the script could not apply (the key's record went away
        since admission: rotated by a reload) goes to the key holding the name now.
        `held`: what the admission reserved, when the caller had the admission itself;
        `withdraw`: the router gave up on this admission (router.billing.withdrawals)."""
        p = self._p
        entry = record.stream_entry()
        key_record, _, inflight, tpm = self._names_of(key_hash)
        keys = [
            f"{p}res:{rid}",
            self._reservations,
            f"{p}done:{rid}",
            self._usage,
            key_record,
            inflight,
            tpm,
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
        raw = self._pipeline.call(self._settle, keys, args)
        settled: asyncio.Future[Settlement] = raw.get_loop().create_future()
        raw.add_done_callback(
            functools.partial(self._settle_replied, settled, rid, charge, record.key)
        )
        return settled

    def _settle_replied(
        self,
        settled: asyncio.Future[Settlement],
        rid: str,
        charge: Charge,
        name: str,
        raw: asyncio.Future[Any],
    ) -> None:
        if not _replied(raw) or settled.done():
            resolve(settled, raw, lambda reply: settlement_of(reply, rid, charge)[0])
            return
        try:
            settlement, orphan = settlement_of(raw.result(), rid, charge)
        except Exception as exc:  # a reply this router cannot read: a bug, told the caller
            settled.set_exception(exc)
            return
        if orphan:  # rare (a rotated key): its credits move before the caller hears
            self._spawn(self._give_orphan(settled, settlement, name, orphan))
        else:
            settled.set_result(settlement)

    async def _give_orphan(
        self, settled: asyncio.Future[Settlement], settlement: Settlement, name: str, orphan: int
    ) -> None:
        try:
            with contextlib.suppress(KeyNotFound, UnlimitedCredits):
                await self._keys.add_credits(name, orphan)
        except Exception as exc:
            if not settled.done():
                settled.set_exception(exc)
            return
        if not settled.done():
            settled.set_result(settlement)


def _replied(raw: asyncio.Future[Any]) -> bool:
    """The call was answered (possibly with an error reply the reader turns into ours)."""
    return not raw.cancelled() and raw.exception() is None
