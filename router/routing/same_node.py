"""How long to wait before trying a failed node again (pure: the clock and randomness
are passed in).

A node that says `Retry-After` is taken at its word, never earlier, with a little
jitter on top so that the requests it turned away together do not come back together;
a wait longer than `retry_wait.max` is not taken (the request fails over at once, and
the client may hear the node's Retry-After). Without the header the wait is exponential
backoff, `base` x 2^n with +/-25% jitter (n: the retries already made to that node).
"""

from __future__ import annotations

import datetime
import email.utils
import random

from router.config.model import RetryWait

MAX_AFTER_JITTER = 0.2  # seconds at most added to a node's Retry-After
AFTER_JITTER_SHARE = 0.1  # and at most this share of it


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a `Retry-After` value asks for: delta-seconds (decimals accepted, as some
    nodes send them) or an HTTP date, against `now` (Unix time). None when absent,
    unreadable or negative; a date in the past is 0."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # asctime form: HTTP dates are all in GMT
            moment = moment.replace(tzinfo=datetime.UTC)
        return max(0.0, moment.timestamp() - now)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative, inf
        return None
    return seconds


def retry_delay(
    wait: RetryWait, retry_after: float | None, retried: int, rng: random.Random
) -> float | None:
    """Seconds before the next try on the same node; None when that is longer than
    `wait.max` (the node asked for more than the router waits)."""
    if retry_after is not None:
        if retry_after > wait.max:
            return None
        return retry_after + rng.uniform(
            0.0, min(MAX_AFTER_JITTER, AFTER_JITTER_SHARE * retry_after)
        )
    # 2^n capped before it is computed: past 2^64 base x 2^n is above any max anyway.
    backoff = wait.base * (2.0 ** min(retried, 64)) * rng.uniform(0.75, 1.25)
    return min(backoff, wait.max)
