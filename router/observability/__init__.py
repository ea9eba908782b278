"""What the router reports: metrics, structured logs, and the request record they read.

Holds: `exchange` (one request's record), `observer` (the one place the rest of the code
reports to), `metrics`/`families`/`single_process` (Prometheus), `logs` (structlog, access
lines), `traffic` (the status page's per-node ring of the last 15 minutes).

May import: router.errors, router.config, router.dialects, router.routing.
"""
