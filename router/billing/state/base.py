"""The state store seam: keys, limits, credit reservations and the usage ledger.

    StateError                        admin-side problems
    ├── KeyNotFound                   no key has that name
    ├── KeyExists                     a key with that name already exists
    ├── UnlimitedCredits              crediting a key whose credits are unlimited
    └── StateUnavailable              the backend cannot be reached (also a 503
                                      ServiceUnavailable; the caller applies on_error)
    AuthRejected (RouterError)        a request refused: 401/403/429 with code and Retry-After

A request's life: `admit` once before the first upstream attempt (one round trip: find
the key, check disabled, models, rpm, concurrency, reserve `pre_deduct`), retries reuse
that admission, and `settle` once in a `finally` (charge, refund or charge-the-reservation,
release the slot, append the ledger). Settling is idempotent per request id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from router.billing.keys import KeyRecord, KeySpec
from router.billing.pricing import Pricing, cost
from router.billing.state.ledger import LedgerRecord
from router.config.source import Path, Problem, format_path
from router.dialects.usage import Usage
from router.errors import ConfigError, RouterError, ServiceUnavailable


class StateError(Exception):
    """A state-store operation that cannot be done as asked."""


class KeyNotFound(StateError):
    pass


class KeyExists(StateError):
    pass


class UnlimitedCredits(StateError):
    pass


class StateUnavailable(ServiceUnavailable, StateError):
    """The backend did not answer in time; raised `from` the client library's error."""

    def __init__(self, message: str = "state backend unavailable") -> None:
        super().__init__(message, retry_after=1.0)


# code -> (HTTP status, OpenAI-style type, message)
_REJECTIONS: dict[str, tuple[int, str, str]] = {
    "invalid_token": (401, "authentication_error", "invalid or missing API key"),
    "key_disabled": (401, "authentication_error", "this API key is disabled"),
    "model_not_allowed": (403, "permission_error", "this API key may not use this model"),
    "too_many_requests": (429, "rate_limit_error", "too many requests for this API key"),
    "insufficient_quota": (429, "insufficient_quota", "insufficient credits for this API key"),
}


class AuthRejected(RouterError):
    """A request the key may not make; rendered by the error middleware like any RouterError."""

    def __init__(self, code: str, message: str | None = None, retry_after: float | None = None):
        status, type_, default = _REJECTIONS[code]
        super().__init__(message or default, retry_after=retry_after)
        self.status, self.code, self.type = status, code, type_


class Outcome(StrEnum):
    """How a request ended, as the proxy saw it."""

    SUCCESS = "success"  # an answer was delivered
    FAILED = "failed"  # no successful answer: refund in full
    DISCONNECTED = "disconnected"  # the client left mid-answer


class SettledBy(StrEnum):
    """How the charge was decided; written to the ledger."""

    USAGE = "usage"  # the reported (or seen-so-far) token usage, priced
    RESERVATION = "reservation"  # no usage arrived: the reservation is the charge
    REFUND = "refund"  # no answer: nothing charged
    EXPIRED = "expired"  # never settled before its TTL: swept, reservation charged


class SettleResult(StrEnum):
    SETTLED = "settled"
    ALREADY_SETTLED = "already_settled"  # changed nothing
    UNKNOWN = "unknown"  # no such reservation (never admitted, or swept and forgotten)
    UNMETERED = "unmetered"  # auth off or admitted open on a backend error: nothing to do


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


@dataclass(frozen=True, slots=True)
class Charge:
    """What settling one request means, decided purely from the outcome and usage."""

    settled_by: SettledBy
    amount: int  # micro-credits


def decide_charge(admission: Admission, usage: Usage | None, outcome: Outcome) -> Charge:
    """The flow's rules: refund without an answer, else price usage, else charge the reservation."""
    if outcome is Outcome.FAILED:
        return Charge(SettledBy.REFUND, 0)
    if usage is None:
        return Charge(SettledBy.RESERVATION, admission.reserved)
    amount = cost(admission.pricing, usage) if admission.pricing is not None else 0
    return Charge(SettledBy.USAGE, amount)


@dataclass(frozen=True, slots=True)
class StateConfig:
    """routes.yaml `state:`. `reservation_ttl` should exceed the longest request's total timeout."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    on_error: Literal["closed", "open"] = "closed"
    ledger_path: str | None = None
    reservation_ttl: float = 960.0
    prefix: str = "router:"
    timeout: float = 1.0
    max_connections: int = 64

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, path: Path = ("state",)) -> StateConfig:
        """Parse and validate; raises ConfigError listing every problem."""
        raw = raw or {}
        problems: list[Problem] = []

        def bad(field: str, message: str) -> None:
            problems.append(Problem(format_path((*path, field)), message))

        for unknown in sorted(set(raw) - set(cls.__dataclass_fields__)):
            bad(unknown, "unknown key")
        values: dict[str, Any] = {}
        choices = {"backend": ("memory", "redis"), "on_error": ("closed", "open")}
        for name, allowed in choices.items():
            if name in raw:
                if raw[name] not in allowed:
                    bad(name, f"must be one of {', '.join(allowed)}, got {raw[name]!r}")
                values[name] = raw[name]
        for name in ("redis_url", "ledger_path", "prefix"):
            if raw.get(name) is not None:
                if not isinstance(raw[name], str) or not raw[name]:
                    bad(name, "must be a non-empty string")
                values[name] = raw[name]
        for name in ("reservation_ttl", "timeout"):
            if name in raw:
                value = raw[name]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    bad(name, f"must be a number of seconds greater than 0, got {value!r}")
                values[name] = float(value) if isinstance(value, int | float) else value
        if "max_connections" in raw:
            value = raw["max_connections"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                bad("max_connections", f"must be an integer of at least 1, got {value!r}")
            values["max_connections"] = value
        if problems:
            raise ConfigError(problems)
        return cls(**values)


class StateStore(Protocol):
    """Keys, limits, credits and ledger; memory (one process) or Redis (shared by replicas).

    Every method may raise StateUnavailable. Money is integer micro-credits; `now` is Unix
    seconds from the caller's clock (replicas sharing Redis must keep clocks in sync).
    """

    async def admit(
        self, key: str | None, model: str, request_id: str, pricing: Pricing | None, now: float
    ) -> Admission:
        """Authorise and reserve in one step, or raise AuthRejected. Repeats reuse a live one."""
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

    async def sweep_expired(self, now: float) -> int:
        """Charge reservations past their TTL (ledger: expired); returns how many."""
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

    async def add_credits(self, name: str, delta: int) -> int:
        """Add (or with a negative delta remove) micro-credits; returns the new balance."""
        ...

    async def disable_key(self, name: str) -> None:
        """Refuse the key from now on (401)."""
        ...

    async def usage_records(self, *, since: float, key: str | None = None) -> list[LedgerRecord]:
        """Ledger records that ended at or after `since`, optionally for one key."""
        ...

    async def ping(self) -> None:
        """Raise StateUnavailable unless the backend answers."""
        ...

    async def close(self) -> None: ...
