"""The in-process state store: one router, nothing shared, ledger in a JSONL file.

Each method runs without an `await` between its reads and writes, so on one event loop
every phase is atomic exactly as the Redis scripts are. The rules mirror the Lua in
`router.billing.state.lua`; `tests/billing/state/test_store_contract.py` runs the same
cases against both.

Balances outlive the process through the ledger: a key's balance is its `credits:` from
routes.yaml minus everything the ledger charged its name (read once at start), minus the
reservations in flight. So a restart, clean or not, neither refills spent credits nor
loses a settled charge; a reload that changes `credits:` moves the balance by the change.
A key is known by its name: a rotated key (new secret, same name) keeps its balance, and
a reservation settles against the key of its name whatever happened to it meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from router.billing.keys import ModelGlobs, new_key
from router.billing.pricing import reservation
from router.billing.state.base import Admission, Settlement, decide_charge, quota_message
from router.billing.state.ledger import JsonlLedger, LedgerRecord, parts_text, select
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.token_window import (
    TokenWindow,
    counted,
    settled_tokens,
    window_wait,
)
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import Pricing, StateConfig
from router.dialects.usage import Usage
from router.errors import AuthRejected, KeyExists, KeyNotFound, UnlimitedCredits

WINDOW = 60.0
DONE_TTL = 86400.0  # how long "already settled" is remembered per request id
# ... and how many ids at most (the oldest forgotten first): a day at 1,000 requests/s
# would be 86 million entries, tens of GB. A million is some 250 MB and still 15
# minutes (a node's default total timeout) at 1,000 requests/s; in one process a second
# settlement of a request comes within its own lifetime, never hours later.
MAX_DONE = 1_000_000


@dataclass(slots=True)
class _Key:
    record: KeyRecord  # as routes.yaml (or create_key) gave it: `spec.credits` is the grant
    globs: ModelGlobs
    balance: int | None
    disabled_by_operator: bool = False  # disable_key; routes.yaml's `disabled` is in record
    window: deque[float] = field(default_factory=deque)  # admission times, oldest first
    inflight: dict[str, float] = field(default_factory=dict)  # request id -> expiry
    tokens: TokenWindow = field(default_factory=TokenWindow)  # for tpm

    @property
    def is_disabled(self) -> bool:
        return self.record.spec.disabled or self.disabled_by_operator


@dataclass(slots=True)
class _Reservation:
    admission: Admission  # its key_name finds the key when it settles
    expires: float
    tokens: int = 0  # counted against tpm at admission (the estimate)
    second: int = 0  # the whole second it was counted in


class MemoryStateStore:
    """StateStore for a single router process."""

    def __init__(
        self,
        config: StateConfig,
        static_keys: tuple[KeyRecord, ...] = (),
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """`loop`: the ledger writes once per turn of it (router.billing.state.ledger)."""
        self.config = config
        self._keys: dict[str, _Key] = {}  # by hash
        self._names: dict[str, str] = {}  # name -> hash
        self._reservations: dict[str, _Reservation] = {}
        # Settled ids, remembered a day: until when (insertion order = time order), and how.
        # Two dicts of shared values, not a tuple each: nothing per request for the GC.
        self._done_until: dict[str, float] = {}
        self._done_by: dict[str, SettledBy] = {}
        self.ledger = JsonlLedger(config.ledger_path, loop)
        self._charged: Counter[str] = self.ledger.charged_by_key()  # key name -> all time
        for record in static_keys:
            self._store(record)

    def _store(self, record: KeyRecord) -> None:
        credits = record.spec.credits
        balance = None if credits is None else credits - self._charged[record.name]
        self._keys[record.key_hash] = _Key(record, ModelGlobs.compile(record.spec.models), balance)
        self._names[record.name] = record.key_hash

    async def replace_static_keys(self, records: Sequence[KeyRecord]) -> None:
        held: Counter[str] = Counter()
        for res in self._reservations.values():
            held[res.admission.key_name or ""] += res.admission.reserved
        by_name = {e.record.name: e for e in self._keys.values()}
        keys = {h: e for h, e in self._keys.items() if not e.record.is_static}
        for record in records:
            entry = by_name.get(record.name)
            if entry is None:
                entry = _Key(record, ModelGlobs.compile(record.spec.models), None)
            elif entry.record.key_hash != record.key_hash:
                entry.disabled_by_operator = False  # a new secret: as on Redis, not disabled
            entry.balance = self._regranted(entry, record, held[record.name])
            entry.record, entry.globs = record, ModelGlobs.compile(record.spec.models)
            keys[record.key_hash] = entry
        self._keys = keys
        self._names = {e.record.name: h for h, e in keys.items()}

    def _regranted(self, entry: _Key, record: KeyRecord, held: int) -> int | None:
        """A key's balance under its new `credits`: moved by the change, or (from or to
        unlimited, or new) computed as at start: credits - charged - held."""
        old, new = entry.record.spec.credits, record.spec.credits
        if new is None:
            return None
        if old is not None and entry.balance is not None:
            return entry.balance + new - old
        return new - self._charged[record.name] - held

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
        return self.admit_now(
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

    def admit_now(
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
        """`admit` without an await (the router calls it so: router.billing.service)."""
        live = self._reservations.get(request_id)
        if live is not None:
            return live.admission
        if not self._keys:
            return Admission.unmetered(request_id, model, now)
        entry = self._keys.get(key_hash or hash_key(key)) if key else None
        if entry is None:
            raise AuthRejected("invalid_token")
        if entry.is_disabled:
            raise AuthRejected("key_disabled")
        if not entry.globs.allows(model):
            raise AuthRejected("model_not_allowed")
        if free:
            return Admission.unmetered(request_id, model, now)
        spec = entry.record.spec
        tokens = counted(tokens)
        _check_limits(entry, now, tokens)
        if entry.balance is None or pricing is None:
            reserve = 0
        elif reserve is None:
            reserve = reservation(pricing)
        if entry.balance is not None and (entry.balance <= 0 or entry.balance < reserve):
            raise AuthRejected("insufficient_quota", quota_message(reserve, entry.balance))
        # Every check passed: only now count the request, take the slot and the credits.
        expires = now + self.config.reservation_ttl
        if spec.rpm is not None:
            entry.window.append(now)
        if spec.max_concurrent is not None:
            entry.inflight[request_id] = expires
        if entry.balance is not None:
            entry.balance -= reserve
        admission = Admission(
            request_id=request_id,
            model=model,
            started=now,
            key_name=spec.name,
            key_hash=entry.record.key_hash,
            reserved=reserve,
            pricing=pricing,
        )
        held = _Reservation(admission, expires)
        if spec.tpm is not None:
            held.tokens, held.second = tokens, int(now)
            entry.tokens.add(held.second, tokens)
        self._reservations[request_id] = held
        return admission

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
        return self.settle_now(admission, usage, outcome, node=node, status=status, now=now)

    def settle_now(
        self,
        admission: Admission,
        usage: Usage | None,
        outcome: Outcome,
        *,
        node: str | None,
        status: int,
        now: float,
    ) -> Settlement:
        """`settle` without an await (router.billing.state.base.InlineSettle)."""
        rid = admission.request_id
        if not admission.is_metered:
            return Settlement(rid, SettleResult.UNMETERED)
        if rid not in self._reservations:
            done = self._done_by.get(rid)
            if done is not None:
                return Settlement(rid, SettleResult.ALREADY_SETTLED, done)
            return Settlement(rid, SettleResult.UNKNOWN)
        charge = decide_charge(admission, usage, outcome)
        return self._finish(
            rid, charge.settled_by, charge.amount, usage, outcome, node, status, now
        )

    def _finish(
        self,
        rid: str,
        settled_by: SettledBy,
        amount: int,
        usage: Usage | None,
        outcome: Outcome,
        node: str | None,
        status: int,
        now: float,
    ) -> Settlement:
        res = self._reservations.pop(rid)
        name = res.admission.key_name or ""
        key_hash = self._names.get(name)
        entry = None if key_hash is None else self._keys[key_hash]
        self._charged[name] += amount
        balance = None
        if entry is not None:
            entry.inflight.pop(rid, None)
            if res.tokens or entry.record.spec.tpm is not None:
                used = settled_tokens(usage, outcome)
                if used is not None:
                    entry.tokens.add(res.second, used - res.tokens)
            if entry.balance is not None:
                entry.balance += res.admission.reserved - amount
                balance = entry.balance
        done_until = self._done_until
        while done_until:
            oldest = next(iter(done_until))
            if done_until[oldest] > now and len(done_until) < MAX_DONE:
                break
            del done_until[oldest], self._done_by[oldest]
        done_until[rid] = now + DONE_TTL
        self._done_by[rid] = settled_by
        usage = usage or Usage()
        a = res.admission
        self.ledger.append(
            LedgerRecord(
                request_id=rid,
                key=a.key_name or "",
                model=a.model,
                node=node or "",
                prompt_tokens=usage.prompt,
                completion_tokens=usage.completion,
                reasoning_tokens=usage.reasoning,
                charged=amount,
                status=status,
                outcome=outcome,
                settled_by=settled_by,
                started=a.started,
                ended=now,
                parts=parts_text(usage),
            )
        )
        return Settlement(rid, SettleResult.SETTLED, settled_by, amount, balance)

    async def withdraw(self, request_id: str, key_hash: str, model: str, now: float) -> None:
        # Admitting here never yields, so an admission the caller has not seen cannot exist:
        # one it has (a cancelled caller) is refunded.
        held = self._reservations.get(request_id)
        if held is not None:
            await self.settle(held.admission, None, Outcome.FAILED, node=None, status=503, now=now)

    async def sweep_expired(self, now: float) -> int:
        expired = [rid for rid, r in self._reservations.items() if r.expires <= now]
        for rid in expired:
            amount = self._reservations[rid].admission.reserved
            self._finish(rid, SettledBy.EXPIRED, amount, None, Outcome.EXPIRED, None, 0, now)
        return len(expired)

    async def create_key(self, spec: KeySpec) -> str:
        if spec.name in self._names:
            raise KeyExists(spec.name)
        plain = new_key()
        self._store(KeyRecord(spec, hash_key(plain)))
        return plain

    def _current(self, entry: _Key) -> KeyRecord:
        spec = replace(entry.record.spec, credits=entry.balance, disabled=entry.is_disabled)
        return replace(entry.record, spec=spec)

    async def list_keys(self) -> list[KeyRecord]:
        return sorted((self._current(e) for e in self._keys.values()), key=lambda r: r.name)

    async def get_key(self, name: str) -> KeyRecord | None:
        key_hash = self._names.get(name)
        return None if key_hash is None else self._current(self._keys[key_hash])

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        entry = self._keys.get(key_hash)
        return None if entry is None else self._current(entry)

    def _entry(self, name: str) -> _Key:
        key_hash = self._names.get(name)
        if key_hash is None:
            raise KeyNotFound(name)
        return self._keys[key_hash]

    async def add_credits(self, name: str, delta: int) -> int:
        entry = self._entry(name)
        if entry.balance is None:
            raise UnlimitedCredits(name)
        entry.balance += delta
        return entry.balance

    async def disable_key(self, name: str) -> None:
        self._entry(name).disabled_by_operator = True

    async def enable_key(self, name: str) -> None:
        self._entry(name).disabled_by_operator = False

    async def usage_records(self, *, since: float, key: str | None = None) -> list[LedgerRecord]:
        return select(self.ledger.read(), since=since, key=key)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.ledger.close()


def _check_limits(entry: _Key, now: float, tokens: int) -> None:
    """rpm, tpm and concurrency, in the order the Lua checks them; writes nothing."""
    spec = entry.record.spec
    if spec.rpm is not None:
        while entry.window and entry.window[0] <= now - WINDOW:
            entry.window.popleft()
        if len(entry.window) >= spec.rpm:
            raise AuthRejected(
                "too_many_requests", retry_after=window_wait(entry.window[0] + WINDOW - now)
            )
    if spec.tpm is not None:
        wait = entry.tokens.wait(now, tokens, spec.tpm)
        if wait is not None:
            raise AuthRejected(
                "too_many_requests", "token-per-minute limit reached", retry_after=wait
            )
    if spec.max_concurrent is not None:
        for rid in [r for r, exp in entry.inflight.items() if exp <= now]:
            del entry.inflight[rid]
        if len(entry.inflight) >= spec.max_concurrent:
            raise AuthRejected("too_many_requests", "too many concurrent requests for this key")
