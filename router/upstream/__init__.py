"""upstream: talking to the nodes.

The transport seam (`transport`: NodeTransport, UpstreamResponse, TransportFactory) and
its real implementation (`http_transport` over the httptools client `http11` and its
connections, `node_connection`); opening a
request (`request`), live per-node objects (`nodes`), header filtering (`headers`), a
node's own error message made safe to show (`reasons`), health probes (`prober`) and
peer sync (`peers`). Every node error leaves this package
as `router.errors.UpstreamFailure`.

May import: errors, tasks, config, dialects, routing,
observability.
"""
