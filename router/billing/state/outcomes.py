"""The ledger's vocabularies: how a request ended and how its charge was decided.

The Lua scripts spell the same words as strings (lua.py);
tests/billing/state/test_outcomes.py checks that every literal they use is one of these values.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a request ended, as the proxy saw it (EXPIRED: only the sweep writes it)."""

    SUCCESS = "success"  # an answer was delivered
    FAILED = "failed"  # no successful answer: refund in full
    DISCONNECTED = "disconnected"  # the client left mid-answer
    CLIENT_SLOW = "client_slow"  # the client stopped reading (server.write_timeout): cut
    EXPIRED = "expired"  # never settled before its TTL: the sweep charged the reservation


class SettledBy(StrEnum):
    """How the charge was decided; written to the ledger."""

    USAGE = "usage"  # the reported (or seen-so-far) token usage, priced
    DELIVERED = "delivered"  # no usage came: the prompt estimate and the output delivered
    RESERVATION = "reservation"  # no usage arrived: the reservation is the charge
    REFUND = "refund"  # no answer: nothing charged
    EXPIRED = "expired"  # never settled before its TTL: swept, reservation charged


class SettleResult(StrEnum):
    SETTLED = "settled"
    ALREADY_SETTLED = "already_settled"  # changed nothing
    UNKNOWN = "unknown"  # no such reservation (never admitted, or swept and forgotten)
    UNMETERED = "unmetered"  # auth off or admitted open on a backend error: nothing to do
