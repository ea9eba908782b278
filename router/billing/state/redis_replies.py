"""What the request path's Lua scripts answer, read into our own types (pure: no I/O).

ADMIT answers `off`/`free` (let through unmetered), `err <code> <number>` (refused;
the number is the wait in ms, -1 for concurrency, or the balance), or `ok <key name>
<reserved>`; SETTLE answers as `lua.SETTLE_REPLIES` lists (router.billing.state.lua).
"""

from __future__ import annotations

from typing import Any

from router.billing.state import lua
from router.billing.state.base import Admission, Charge, Settlement, quota_message
from router.billing.state.ledger import LedgerRecord, parts_text
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.token_window import window_wait
from router.config.model import Pricing
from router.dialects.usage import Usage
from router.errors import AuthRejected, StateUnavailable


def needs_seed(reply: Any) -> bool:
    """Redis does not know the key (its static record was flushed, or never written)."""
    # Read in a done-callback: a reply of another shape must not raise here (admission_of
    # then fails the admission with it).
    return (
        isinstance(reply, list)
        and len(reply) > 1
        and reply[0] == "err"
        and reply[1] == "invalid_token"
    )


def admission_of(
    reply: list[Any],
    *,
    request_id: str,
    model: str,
    now: float,
    key_hash: str,
    pricing: Pricing | None,
    reserve: int,
) -> Admission:
    """The admission ADMIT granted, or the AuthRejected it means."""
    if reply[0] in ("off", "free"):
        return Admission.unmetered(request_id, model, now)
    if reply[0] == "err":
        raise _refusal(str(reply[1]), int(reply[2]), reserve)
    return Admission(
        request_id=request_id,
        model=model,
        started=now,
        key_name=str(reply[1]),
        key_hash=key_hash,
        reserved=int(reply[2]),
        pricing=pricing,
    )


def _refusal(code: str, number: int, reserve: int) -> Exception:
    if code == "withdrawn":  # only an admission its router gave up on meets this
        return StateUnavailable("the admission was withdrawn")
    if code == "tpm":
        return AuthRejected(
            "too_many_requests",
            "token-per-minute limit reached",
            retry_after=window_wait(number / 1000),
        )
    if code == "too_many_requests" and number < 0:
        return AuthRejected(code, "too many concurrent requests for this key")
    if code == "insufficient_quota":  # the number is the balance
        return AuthRejected(code, quota_message(reserve, number))
    retry_after = window_wait(number / 1000) if code == "too_many_requests" else None
    return AuthRejected(code, retry_after=retry_after)


def settlement_of(reply: list[Any], rid: str, charge: Charge) -> tuple[Settlement, int]:
    """How SETTLE went, and the difference it could not apply (the key's record went
    away since admission: it goes to the key holding the name now)."""
    result = lua.SETTLE_REPLIES[str(reply[0])]
    if result is SettleResult.ALREADY_SETTLED:
        return Settlement(rid, result, SettledBy(reply[1])), 0
    if result is SettleResult.UNKNOWN:
        return Settlement(rid, result), 0
    balance = None if reply[2] is None else int(reply[2])
    recovered = str(reply[4]) == "1"
    settled = Settlement(rid, result, charge.settled_by, int(reply[1]), balance, recovered)
    return settled, int(reply[3])


def ledger_record(
    admission: Admission,
    usage: Usage | None,
    outcome: Outcome,
    charge: Charge,
    node: str | None,
    status: int,
    now: float,
) -> LedgerRecord:
    """The ledger entry SETTLE appends (the script fills in what it charged)."""
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
