"""The state store seam: keys, limits, credit reservations and the usage ledger.

Its errors (StateError and below, AuthRejected) live in router.errors, drawn in its tree.

A request's life: `admit` once before the first upstream attempt (one round trip: find
the key, check disabled, models, rpm, concurrency, reserve `pre_deduct`), retries reuse
that admission, and `settle` once in a `finally` (charge, refund or charge-the-reservation,
release the slot, append the ledger). Settling is idempotent per request id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.billing.pricing import cost
from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.config.credits import format_credits
from router.config.keys import KeyRecord, KeySpec
from router.config.model import Pricing
from router.dialects.usage import Usage


@dataclass(frozen=True, slots=True)
class Admission:
    """A request let through; hand it back to `settle`. `key_name` None means unmetered."""

    request_id: str
    model: str
    started: float
    key_name: str | None = None
    key_hash: str | None = None
    reserved: int = 0
    pricing: Pricing | None = None

    @property
    def is_metered(self) -> bool:
        return self.key_name is not None

    @classmethod
    def unmetered(cls, request_id: str, model: str, started: float) -> Admission:
        """For auth off, or on_error=open when the backend is down."""
        return cls(request_id=request_id, model=model, started=started)


@dataclass(frozen=True, slots=True)
class Settlement:
    request_id: str
    result: SettleResult
    settled_by: SettledBy | None = None
    charged: int = 0  # micro-credits charged by THIS call (0 unless result is SETTLED)
    balance: int | None = None  # the key's balance after, when limited and known
    # The store had lost the reservation (Redis failed over to a replica that had not
    # received it): charged from the balance anyway (router.billing.state.lua, SETTLE).
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class Charge:
    """What settling one request means, decided purely from the outcome and usage."""

    settled_by: SettledBy
    amount: int  # micro-credits


def decide_charge(admission: Admission, usage: Usage | None, outcome: Outcome) -> Charge:
    """The flow's rules: refund without an answer, else price usage, else charge the
    reservation. Usage estimated from what was delivered is never charged more than the
    reservation (an estimate must not exceed the worst case it was held for)."""
    if outcome is Outcome.FAILED:
        return Charge(SettledBy.REFUND, 0)
    if usage is None:
        return Charge(SettledBy.RESERVATION, admission.reserved)
    amount = cost(admission.pricing, usage) if admission.pricing is not None else 0
    if usage.estimated:
        if admission.reserved > 0:
            amount = min(amount, admission.reserved)
        return Charge(SettledBy.DELIVERED, amount)
    return Charge(SettledBy.USAGE, amount)


def quota_message(reserve: int, balance: int) -> str:
    """What a client refused for its balance is told (429 insufficient_quota)."""
    if balance <= 0:
        return f"insufficient credits for this API key: its balance is {format_credits(balance)}"
    return (
        f"insufficient credits for this API key: this request reserves "
        f"{format_credits(reserve)} credits and {format_credits(balance)} are available "
        "(a lower output cap reserves less)"
    )


class InlineSettle(Protocol):
    """`settle` done without I/O, for a store that needs none (memory): no task, no await."""

    def __call__(
        self,
        admission: Admission,
        usage: Usage | None,
        outcome: Outcome,
        *,
        node: str | None,
        status: int,
        now: float,
    ) -> Settlement: ...


class Admit(Protocol):
    """`StateStore.admit`, or the same as a future made with no task (Redis's `admit_soon`)."""

    def __call__(
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
    ) -> Awaitable[Admission]: ...


class AdmitNow(Protocol):
    """`StateStore.admit` done without I/O, for a store that needs none (memory)."""

    def __call__(
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
    ) -> Admission: ...


class QueuedSettle(Protocol):
    """`settle` as a future, queued with no task of its own (Redis: its script pipeline).
    The future fails with StateUnavailable as `settle` raises it."""

    def __call__(
        self,
        admission: Admission,
        usage: Usage | None,
        outcome: Outcome,
        *,
        node: str | None,
        status: int,
        now: float,
    ) -> asyncio.Future[Settlement]: ...


class StateStore(Protocol):
    """Keys, limits, credits and ledger; memory (one process) or Redis (shared by replicas).

    Every method may raise StateUnavailable. Money is integer micro-credits; `now` is Unix
    seconds from the caller's clock: the memory store's windows run on it, the Redis
    store's on Redis's own (TIME), and both date the ledger with it.
    """

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
        """Authorise and reserve in one step, or raise AuthRejected. Repeats reuse a live one.

        `tokens` is the request's token estimate, counted against the key's tpm until the
        request is settled (router.billing.state.token_window).

        `reserve` is the micro-credits to hold for a key with a balance (refused with
        insufficient_quota when the balance, less what is held already, cannot cover it);
        None: `router.billing.pricing.reservation(pricing)` for a request with no estimate.

        `free` (countTokens): check the key, disabled and its models only; nothing is
        counted, reserved or written, and the answer is unmetered (never settled).

        `key_hash`: the key's digest (router.config.keys.hash_key), when the caller has it.
        """
        ...

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
        """Charge or refund, release the concurrency slot and append the ledger; idempotent."""
        ...

    async def withdraw(self, request_id: str, key_hash: str, model: str, now: float) -> None:
        """Undo an admission the caller gave up on (it timed out or was cancelled, and may
        land later): refunded if it landed (ledger: failed, refund), and refused if it
        lands after this. `key_hash` is the presented key's (router.config.keys.hash_key)."""
        ...

    async def sweep_expired(self, now: float) -> int:
        """Charge reservations past their TTL (ledger: expired); returns how many. `now` is
        the router's clock; a store shared by replicas judges expiry by its own."""
        ...

    async def replace_static_keys(self, records: Sequence[KeyRecord]) -> None:
        """Make `records` routes.yaml's keys (a reload): added keys work, removed ones are
        refused, changed fields apply, a changed `credits` moves the balance by the change,
        a rotated key (same name) keeps its balance; a key disabled by `disable_key` stays
        disabled. Reservations made before settle against the key of their name."""
        ...

    async def create_key(self, spec: KeySpec) -> str:
        """Store a new dynamic key; returns the plain key (the only time it exists)."""
        ...

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, static and dynamic, with current balances, sorted by name."""
        ...

    async def get_key(self, name: str) -> KeyRecord | None:
        """One key with its current balance."""
        ...

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        """The key stored under this SHA-256 digest, with its current balance (the account
        pages find a key holder's record this way, without taking a request slot)."""
        ...

    async def add_credits(self, name: str, delta: int) -> int:
        """Add (or with a negative delta remove) micro-credits; returns the new balance."""
        ...

    async def disable_key(self, name: str) -> None:
        """Refuse the key from now on (401)."""
        ...

    async def enable_key(self, name: str) -> None:
        """Undo `disable_key` (a key routes.yaml disables stays so at the next reload)."""
        ...

    async def usage_records(self, *, since: float, key: str | None = None) -> list[LedgerRecord]:
        """Ledger records that ended at or after `since`, optionally for one key."""
        ...

    async def ping(self) -> None:
        """Raise StateUnavailable unless the backend answers."""
        ...

    async def close(self) -> None: ...
