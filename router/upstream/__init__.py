"""Talking to backend nodes: the transport, the live node pool, probes and peer sync.

Holds: the HTTP/1.1 client, opening a request with errors translated at the seam, the
node pool that outlives reloads, header rules, active health probes, and node decisions
shared between replicas through Redis.

May import: router.errors, router.tasks, router.config, router.dialects, router.routing,
router.observability.
"""
