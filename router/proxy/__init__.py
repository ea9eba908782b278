"""proxy: forwarding one request.

The live route table (`table`), the attempt loop (`attempts`: candidates, failover,
retry budget, final error), the relay of a committed answer (`relay`) and the SSE
keep-alives (`keepalive`).

May import: the layers below (errors, config, dialects,
routing, observability, upstream, billing).
"""
