"""How a failed attempt is tried again on the same node, and which node errors fall back.

`retry_same_node` (defaults and nodes): how many times an attempt that failed with one
kind of failure is tried again on the same node once no other node of its priority tier
is left. An integer N means N for 5xx, resets, connect errors and 429, and 0 for
timeouts (a node that took the whole deadline once is not asked to take it twice); a
mapping sets kinds one by one: `{status_5xx: 1, reset: 1, connect: 1, status_429: 1,
timeout: 0}`, the kinds being the `reason` label values of router_upstream_errors_total.

`retry_wait` (defaults and nodes): how long before such a retry. A node's `Retry-After`
is honoured up to `max` seconds (a longer one is not waited for: the request fails over
at once); without one the wait is `base` x 2^n seconds (n the retries made to that
node), with jitter.

`fallbacks_on` (models): `{context_length_exceeded: [bigger-model]}` sends a request
whose node answered an error with that code (`error.code`, `error.type` or
`error.status` of the node's body) to the named models, in order.
"""

from __future__ import annotations

from dataclasses import fields, replace

from router.config.checker import Section
from router.config.model import RETRIED_REASONS, RetryWait, SameNodeRetry


def read_same_node(parent: Section, key: str, base: SameNodeRetry) -> SameNodeRetry:
    """`retry_same_node: N` or a mapping of kinds to N, over `base`."""
    raw = parent.raw_value(key)
    if raw is None:
        return base
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 0:
            parent.checker.report(parent.at(key), f"must be at least 0, got {raw}")
            return base
        return SameNodeRetry.uniform(raw)
    if not isinstance(raw, dict):
        kinds = ", ".join(r.value for r in RETRIED_REASONS)
        parent.checker.report(
            parent.at(key), f"must be an integer or a mapping of {kinds} to integers"
        )
        return base
    section = Section(parent.checker, parent.at(key), raw)
    changes = {
        f.name: section.integer(f.name, getattr(base, f.name), minimum=0)
        for f in fields(base)
        if section.has(f.name)
    }
    section.close()
    return replace(base, **changes)


def read_retry_wait(parent: Section, key: str, base: RetryWait) -> RetryWait:
    """`retry_wait: {base: 0.5, max: 10}` over `base`."""
    section = parent.section(key)
    wait = RetryWait(
        base=section.number("base", base.base, positive=True),
        max=section.number("max", base.max),
    )
    section.close()
    return wait


def read_fallbacks_on(section: Section) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`fallbacks_on: {code: [model, ...]}`: pairs in the file's order (names checked later)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for code in list(section.raw):
        if not isinstance(code, str) or not code:
            section.checker.report(section.at(str(code)), "an error code must be a string")
            section.raw_value(code)
            continue
        models = section.strings(code)
        if not models:
            section.checker.report(section.at(code), "must be a non-empty list of model names")
            continue
        found.append((code, models))
    section.close()
    return tuple(found)
