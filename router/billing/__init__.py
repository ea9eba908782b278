"""API keys, rate limits and credits: admission before a request, settlement after.

Holds: `service` (admit and settle for the web layer), `settling` (each request's
settlement), `keys`, `pricing`, and `state`
(the memory and Redis stores behind one Protocol, the ledger, the Lua scripts).

May import: router.errors, router.tasks, router.config, router.dialects, router.routing,
router.observability.
"""
