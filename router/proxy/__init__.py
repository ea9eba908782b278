"""Forwarding one request: the attempt loop, failover, the streaming relay.

Holds: `attempts` (choose, try, fail over), the relay of the answer, `table` (the live
route table swapped on reload), `keepalive` (comments on quiet streams).

May import: everything below it: router.upstream, router.billing, router.observability,
router.routing, router.dialects, router.config, router.errors, router.tasks.
"""
