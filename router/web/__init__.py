"""The HTTP surface: request handlers, the admin API, middleware pieces, reloads.

Holds: `handlers` (chat, Gemini, models, health endpoints), `admin`, `forwarded` (client
addresses behind trusted proxies), `lifecycle` (in-flight count, draining), `reload`.

May import: router.proxy and everything below it.
"""
