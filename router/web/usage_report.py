"""The admin console's usage views, built from ledger records: pure functions, no I/O.

`GET /admin/usage` filters the ledger (key, model, outcome, time), pages it, and adds the
totals and an hourly chart per key and per model over the same selection; `GET
/admin/usage.csv` is the same selection, every row, as CSV. Credits are exact decimal
text in the CSV (the sum of its `credits` column is what the keys were charged) and
numbers with at most six decimals in JSON. Token figures are the ledger's own three
kinds, under the names every page uses: prompt, answer (text) and reasoning.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome
from router.config.credits import format_credits, micro_to_credits
from router.config.keys import KeyRecord
from router.errors import InvalidRequest

HOUR = 3600
MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_HOURS = 24 * 31  # the hourly chart covers at most a month of hours
CSV_COLUMNS = (
    "time",
    "request_id",
    "key",
    "model",
    "node",
    "prompt_tokens",
    "answer_tokens",
    "reasoning_tokens",
    "credits",
    "status",
    "outcome",
    "settled_by",
)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """What the console asked for; `since`/`until` are Unix seconds (until excluded)."""

    key: str | None = None
    model: str | None = None
    outcome: str | None = None
    since: float = 0.0
    until: float | None = None
    limit: int = DEFAULT_PAGE
    offset: int = 0

    @classmethod
    def parse(cls, query: Mapping[str, str], now: float) -> UsageQuery:
        """From the query string; a bad value is a 400 naming it."""
        outcome = query.get("outcome") or None
        known = {o.value for o in Outcome}
        if outcome is not None and outcome not in known:
            raise InvalidRequest(f"outcome must be one of {', '.join(sorted(known))}")
        return cls(
            key=query.get("key") or None,
            model=query.get("model") or None,
            outcome=outcome,
            since=_time(query.get("since"), "since", now, 0.0),
            until=_time(query.get("until"), "until", now, None),
            limit=_count(query.get("limit"), "limit", DEFAULT_PAGE, 1, MAX_PAGE),
            offset=_count(query.get("offset"), "offset", 0, 0, 10**9),
        )

    def matches(self, record: LedgerRecord) -> bool:
        return (
            (self.key is None or record.key == self.key)
            and (self.model is None or record.model == self.model)
            and (self.outcome is None or record.outcome.value == self.outcome)
            and record.ended >= self.since
            and (self.until is None or record.ended < self.until)
        )


def _time(text: str | None, name: str, now: float, default: float | None) -> Any:
    """Unix seconds, ISO 8601 (`2026-12-07T10:00:00Z`, `2026-12-07`) or an age (`24h`)."""
    text = (text or "").strip()
    if not text:  # absent, empty or blank (str.strip also takes Unicode spaces: \x85)
        return default
    ages = {"m": 60, "h": HOUR, "d": 24 * HOUR}
    try:
        if text[-1] in ages and text[:-1].replace(".", "", 1).isdigit():
            return now - float(text[:-1]) * ages[text[-1]]
        if text.replace(".", "", 1).isdigit():
            return float(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        message = f"{name} must be a time (2026-12-07T10:00:00Z) or an age (24h)"
        raise InvalidRequest(message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _count(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}")
    return int(text)


def select(records: Sequence[LedgerRecord], query: UsageQuery) -> list[LedgerRecord]:
    """The matching records, newest first."""
    return sorted((r for r in records if query.matches(r)), key=lambda r: r.ended, reverse=True)


def tokens(record: LedgerRecord) -> dict[str, int]:
    """A record's tokens under the names every page shows."""
    return {
        "prompt": record.prompt_tokens,
        "answer": record.completion_tokens,
        "reasoning": record.reasoning_tokens,
    }


def row(record: LedgerRecord) -> dict[str, Any]:
    """One ledger record for the console (the node is shown: this is the operator)."""
    return {
        "request_id": record.request_id,
        "time": record.ended,
        "key": record.key,
        "model": record.model,
        "node": record.node,
        "tokens": tokens(record),
        "credits": micro_to_credits(record.charged),
        "status": record.status,
        "outcome": record.outcome.value,
        "settled_by": record.settled_by.value,
    }


def totals(records: Sequence[LedgerRecord]) -> dict[str, Any]:
    """Requests, credits and tokens of a selection."""
    return {
        "requests": len(records),
        "credits": micro_to_credits(sum(r.charged for r in records)),
        "tokens": {
            "prompt": sum(r.prompt_tokens for r in records),
            "answer": sum(r.completion_tokens for r in records),
            "reasoning": sum(r.reasoning_tokens for r in records),
        },
    }


def hourly(records: Sequence[LedgerRecord], now: float, since: float) -> dict[str, Any]:
    """Credits per hour per key and per model, from the selection's start (at most a
    month back, at least a day; the last day when it has none) to now; hour starts are
    Unix seconds, oldest first."""
    last = int(now // HOUR)
    start = int(since // HOUR) if since > 0 else last - 23
    first = max(last - MAX_HOURS + 1, min(last - 23, start))
    hours = [h * HOUR for h in range(first, last + 1)]
    by_key: dict[str, list[int]] = {}
    by_model: dict[str, list[int]] = {}
    for r in records:
        index = int(r.ended // HOUR) - first
        if 0 <= index < len(hours):
            by_key.setdefault(r.key, [0] * len(hours))[index] += r.charged
            by_model.setdefault(r.model, [0] * len(hours))[index] += r.charged

    def credits(series: dict[str, list[int]]) -> dict[str, list[float]]:
        return {name: [micro_to_credits(v) for v in values] for name, values in series.items()}

    return {"hour_starts": hours, "by_key": credits(by_key), "by_model": credits(by_model)}


def usage_document(records: Sequence[LedgerRecord], query: UsageQuery, now: float) -> Any:
    """GET /admin/usage: one page of the selection, its totals and its hourly chart."""
    chosen = select(records, query)
    page = chosen[query.offset : query.offset + query.limit]
    return {
        "total": len(chosen),
        "offset": query.offset,
        "limit": query.limit,
        "records": [row(r) for r in page],
        "totals": totals(chosen),
        "hourly": hourly(chosen, now, query.since),
        "keys": sorted({r.key for r in records}),
        "models": sorted({r.model for r in records}),
        "outcomes": [o.value for o in Outcome],
    }


def usage_csv(records: Sequence[LedgerRecord], query: UsageQuery) -> str:
    """GET /admin/usage.csv: every record of the selection, newest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in select(records, query):
        moment = datetime.fromtimestamp(r.ended, UTC).isoformat(timespec="milliseconds")
        writer.writerow(
            (
                moment.replace("+00:00", "Z"),
                *(_cell(text) for text in (r.request_id, r.key, r.model, r.node)),
                r.prompt_tokens,
                r.completion_tokens,
                r.reasoning_tokens,
                format_credits(r.charged),
                r.status,
                r.outcome.value,
                r.settled_by.value,
            )
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (`=...`, `+...`, `@...`)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def key_row(record: KeyRecord, last_used: float | None) -> dict[str, Any]:
    """One key as the console lists it: balance, limits, state and when it was last used."""
    return {**record.to_json(), "last_used": last_used}


def last_use(records: Sequence[LedgerRecord]) -> dict[str, float]:
    """When each key's latest settled request ended."""
    latest: dict[str, float] = {}
    for r in records:
        if r.ended > latest.get(r.key, 0.0):
            latest[r.key] = r.ended
    return latest
