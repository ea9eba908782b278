"""Running the router: the application factory, the server loop, worker processes.

Holds: `app` (wires config, pool, proxy, billing and routes together), `serve`, `workers`.

May import: router.web and everything below it.
"""
