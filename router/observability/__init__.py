"""What the router reports: metrics, structured logs, and the request record they read.

Holds: `exchange` (one request's record, with its attempts and their times), `observer`
(the one place the rest of the code reports to), `listeners` (the protocol finished
requests are handed to, and the metrics and access-line listeners),
`metrics`/`families`/`single_process` (Prometheus), `logs` (structlog, access lines),
`traffic` (the status page's per-node ring of the last 15 minutes), `trace_context` (a
request's W3C trace ids, pure), and `tracing` (OpenTelemetry: imported only when
`observability.tracing` is configured).

May import: router.errors, router.config, router.dialects, router.routing.
"""
