"""Keys, limits and credits around one proxied request.

How this works: `admit` runs once per client request, before the first attempt: it finds
the key (any accepted form), checks it, its model globs, rpm and concurrency, and
reserves the request's credits (a flat `pre_deduct`, or its worst case priced from the
body estimate and output cap: router.billing.pricing), all in one call to the state store
(one Redis round trip). Retries on other nodes reuse that admission. `settle_later` runs
exactly once however the request ends (router.billing.settling: at once on the memory
store, else in a task of its own so a client that goes away cannot cancel it). The
store makes settling idempotent per request id, and reservations of a crashed router
expire into the ledger.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Sequence

from router.billing.keys import KeyDigests, RecentKeys
from router.billing.pricing import reservation
from router.billing.settling import Settler
from router.billing.state import (
    Admission,
    Admit,
    AdmitNow,
    StateStore,
    open_store,
    sweep_periodically,
)
from router.billing.state.memory import MemoryStateStore
from router.billing.state.redis import RedisStateStore
from router.billing.withdrawals import Withdrawal, Withdrawals
from router.config.keys import KeyRecord, hash_key
from router.config.model import ModelRoute, StateConfig
from router.dialects.estimate import NO_ESTIMATE, TokenEstimate
from router.dialects.usage import Usage
from router.errors import AuthRejected, StateUnavailable
from router.observability.exchange import Exchange
from router.observability.observer import Observer
from router.tasks import cancel_and_wait

HEALTH_CHECK_INTERVAL = 2.0
SETTLE_RETRY_FIRST = 0.25  # seconds before the first retry of a settlement; then doubling
SETTLE_RETRY_MAX = 10.0


class Billing:
    """Admission and settlement against one state store."""

    def __init__(
        self, config: StateConfig, static_keys: Sequence[KeyRecord], observer: Observer
    ) -> None:
        self._store: StateStore | None = None
        self.withdrawals: Withdrawals  # admissions given up on (set by start)
        self.static_keys = tuple(static_keys)
        self.config = config
        self.observer = observer
        self.backend_up = True
        # The memory backend holds only routes.yaml's keys: none there means auth is off,
        # and admission can be skipped outright. Redis may hold dynamic keys: always ask.
        self.auth_off = config.backend == "memory" and not static_keys
        self.has_dynamic_keys = False  # a key created through the admin API (memory backend)
        # Static keys mean every request needs one: a request with none is refused before
        # any work (dynamic keys only, in Redis, are known only once the store is asked).
        self.key_required = bool(static_keys)
        # Redis admits over the network: a handler cancelled meanwhile (the client left)
        # must not leave an admission that lands with nobody to settle it. The memory
        # store admits without yielding, so it needs no guard.
        self._guard_admit = config.backend == "redis"
        self.recent_keys = RecentKeys()
        self.digests = KeyDigests()
        self._keys_pending = False  # a reload's keys not yet written to an unreachable Redis
        self.settler: Settler  # set by start
        self._background: list[asyncio.Task[None]] = []
        # Billing ids need to be unique, not secret: no getrandom system call per request.
        self._ids = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start
        self._admit: Admit | None = None  # set by start: Redis admits as a future, no task
        self._admit_now: AdmitNow | None = None  # set by start: memory admits without I/O

    @property
    def store(self) -> StateStore:
        if self._store is None:
            raise RuntimeError("Billing.start() has not run")
        return self._store

    async def admit(
        self,
        key: str | None,
        exchange: Exchange,
        route: ModelRoute,
        *,
        free: bool = False,
        estimate: TokenEstimate = NO_ESTIMATE,
    ) -> Admission:
        """Authorise the request presenting `key` (None: it presents none) and reserve its
        credits, or raise a RouterError.

        A `free` request (countTokens) is only authorised: no rpm, tpm, slot or credits.
        `estimate` (router.dialects.estimate) counts against the key's tpm and prices the
        reservation of a model without a flat `pre_deduct`.
        """
        now = time.time()
        # Billing uses an id of its own: a client's X-Request-ID may be reused, and must never
        # ride on another request's admission. The trace id in front joins the access log.
        billing_id = f"{exchange.request_id}:{self._ids.getrandbits(48):012x}"
        pricing = route.pricing
        reserve = 0 if pricing is None else reservation(pricing, route.limits, estimate)
        key_hash = None if key is None else self.digests.of(key)
        loop = self._loop or asyncio.get_running_loop()
        exchange.admitting = loop.time()
        try:
            if self._admit_now is not None:  # memory: no I/O, so no await and no coroutine
                admission = self._admit_now(
                    key,
                    route.name,
                    billing_id,
                    pricing,
                    now,
                    free=free,
                    tokens=estimate.total,
                    reserve=reserve,
                    key_hash=key_hash,
                )
            else:
                admission = await self._admitted(
                    key, billing_id, exchange, route, now, free, estimate.total, reserve, key_hash
                )
        except AuthRejected as exc:
            self.observer.admission_refused(route.name, exc.code)
            raise
        except StateUnavailable:
            # It may still land (Redis runs what it was sent once it resumes): withdrawn,
            # so a request refused (or let through unmetered) is never charged for it.
            self.withdrawals.add(_withdrawal(billing_id, key, route))
            self._mark(False)
            if self.config.on_error == "closed":
                raise
            self.observer.admitted_unmetered(route.name)
            return Admission.unmetered(exchange.request_id, route.name, now)
        finally:
            exchange.admitted = loop.time()
        if key_hash is not None:  # accepted: not asked about before its next body
            self.recent_keys.accepted_digest(key_hash, now)
        exchange.key_name, exchange.reserved = admission.key_name, admission.reserved
        return admission

    async def _admitted(
        self,
        key: str | None,
        billing_id: str,
        exchange: Exchange,
        route: ModelRoute,
        now: float,
        free: bool,
        tokens: int,
        reserve: int,
        key_hash: str | None,
    ) -> Admission:
        """An admission over the network (Redis), guarded against the caller's cancellation."""
        admit = self._admit or self.store.admit
        admitting = admit(
            key,
            route.name,
            billing_id,
            route.pricing,
            now,
            free=free,
            tokens=tokens,
            reserve=reserve,
            key_hash=key_hash,
        )
        if not self._guard_admit:
            return await admitting
        return await self._guarded(admitting, exchange, billing_id, key, route)

    async def _guarded(
        self,
        admitting: Awaitable[Admission],
        exchange: Exchange,
        billing_id: str,
        key: str | None,
        route: ModelRoute,
    ) -> Admission:
        """The admission, made to completion even if the caller is cancelled meanwhile;
        one that lands after that is refunded at once rather than charged by the sweep,
        and one that fails is withdrawn (it may land later). Redis's admission is a
        future already (`admit_soon`): shielding it makes no task."""
        admission = asyncio.ensure_future(admitting)
        try:
            return await asyncio.shield(admission)
        except asyncio.CancelledError:
            withdrawal = _withdrawal(billing_id, key, route)
            admission.add_done_callback(
                lambda done: self._refund_abandoned(done, exchange, withdrawal)
            )
            raise

    def _refund_abandoned(
        self, done: asyncio.Future[Admission], exchange: Exchange, withdrawal: Withdrawal
    ) -> None:
        if done.cancelled() or isinstance(done.exception(), StateUnavailable):
            self.withdrawals.add(withdrawal)
        elif done.exception() is None:
            self.settle_later(done.result(), exchange, None)  # no node: a full refund

    async def apply_keys(self, records: Sequence[KeyRecord]) -> None:
        """A reload's `keys:`: the store applies them (router.billing.state.base); with
        none left on the memory backend auth is off, as at start. An unreachable Redis
        gets them once it answers again (`_watch`)."""
        records = tuple(records)
        if records == self.static_keys:
            return
        was_off = self.auth_off
        self.static_keys = records
        self.auth_off = self.config.backend == "memory" and not records
        self.auth_off = self.auth_off and not self.has_dynamic_keys
        self.key_required = bool(records) or self.has_dynamic_keys
        self.recent_keys = RecentKeys()  # a removed or disabled key is asked about again
        if self.auth_off and not was_off:
            self.observer.auth_off()
        if self._store is not None:
            await self._sync_keys()

    async def _sync_keys(self) -> None:
        try:
            await self.store.replace_static_keys(self.static_keys)
        except StateUnavailable:
            self._keys_pending = True
            self._mark(False)
            self.observer.log.warning(
                "keys_not_applied", detail="the state backend is unreachable; retried"
            )
        else:
            self._keys_pending = False

    def key_created(self) -> None:
        """A key created through the admin API: from now on every request needs a key
        (on the memory backend with no key in routes.yaml, auth was off until now)."""
        self.has_dynamic_keys = True
        self.auth_off = False
        self.key_required = True

    def require_key(self, key: str | None) -> None:
        """The cheap first step of authentication (no I/O): 401 when keys are configured
        and the request presents none (several that differ were refused when the key was
        read, router.dialects.registry.extract_key)."""
        if self.auth_off:
            return
        if key is None and self.key_required:
            self.observer.admission_refused("", "invalid_token")
            raise AuthRejected("invalid_token")

    async def check_key(self, key: str | None) -> None:
        """Authentication before a request's body is read: 401 at once for no key or one
        the store does not accept, so an unauthenticated client cannot make the router
        read (and hold) a large body. A key accepted lately (`recent_keys`) is not asked
        about again here: its admission, which follows, checks it in the same call that
        reserves its credits, so the hot path pays nothing extra."""
        if self.auth_off:
            return
        self.require_key(key)
        if key is not None and self.recent_keys.knows_digest(self.digests.of(key), time.time()):
            return
        await self.authenticate(key)
        if key is not None:
            self.recent_keys.accepted_digest(self.digests.of(key), time.time())

    async def authenticate(self, key: str | None) -> None:
        """Authentication without a model (model lists, unknown models): 401 unless the
        request's key is known and enabled. Nothing is counted, reserved or charged."""
        if self.auth_off:
            return
        probe_id = f"auth:{os.urandom(8).hex()}"
        try:
            # A free admission checks the key and whether it is disabled before its models;
            # "not allowed" for the empty model name means the key itself is good.
            await self.store.admit(key, "", probe_id, None, time.time(), free=True)
        except AuthRejected as exc:
            if exc.code != "model_not_allowed":
                self.observer.admission_refused("", exc.code)
                raise
        except StateUnavailable:
            self._mark(False)
            if self.config.on_error == "closed":
                raise

    def settle_later(self, admission: Admission, exchange: Exchange, usage: Usage | None) -> None:
        """Settle once, however the request ended (router.billing.settling)."""
        self.settler.settle(admission, exchange, usage)

    def _mark(self, up: bool) -> None:
        changed = up != self.backend_up
        self.backend_up = up
        self.observer.state_backend(self.config.backend, up=up, changed=changed)

    def is_ready(self) -> bool:
        """False only while the backend is down and requests would be refused for it."""
        return self.backend_up or self.config.on_error == "open"

    async def start(self) -> None:
        """Open the state store and start the reservation sweep and the backend watch."""
        self._store = await open_store(self.config, self.static_keys)
        self._loop = asyncio.get_running_loop()
        self.settler = Settler(
            self._store,
            self.config,
            self.observer,
            backend_down=lambda: self._mark(False),
            # The memory store settles without I/O: at once, with no task.
            settle_now=self._store.settle_now
            if isinstance(self._store, MemoryStateStore)
            else None,
            # Redis settles through its script pipeline: no task, the request not waiting.
            settle_soon=self._store.settle_soon
            if isinstance(self._store, RedisStateStore)
            else None,
            loop=self._loop,
        )
        self._admit = (
            self._store.admit_soon
            if isinstance(self._store, RedisStateStore)
            else self._store.admit
        )
        if isinstance(self._store, MemoryStateStore):
            self._admit_now = self._store.admit_now
        self.withdrawals = Withdrawals(self._store, self.observer)
        if self.config.backend == "memory" and not self.static_keys:
            self.observer.auth_off()
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(sweep_periodically(self.store)),
            loop.create_task(self._watch()),
        ]

    async def _watch(self) -> None:
        while True:
            try:
                await self.store.ping()
            except StateUnavailable:
                self._mark(False)
            else:
                self._mark(True)
                if self._keys_pending:
                    await self._sync_keys()
            await asyncio.sleep(HEALTH_CHECK_INTERVAL)

    async def stop(self) -> None:
        """Finish pending settlements, stop background work, close the store."""
        if self._store is not None:
            await self.settler.stop()
        await cancel_and_wait(self._background)
        if self._store is not None:
            await self.withdrawals.stop()
            await self._store.close()


def _withdrawal(billing_id: str, key: str | None, route: ModelRoute) -> Withdrawal:
    return Withdrawal(billing_id, hash_key(key) if key else "", route.name)
