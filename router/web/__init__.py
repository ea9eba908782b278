"""The HTTP surface: request handlers, the admin API, middleware pieces, reloads.

Holds: `handlers` (the OpenAI endpoints, Gemini, health endpoints), `models` (the model
list and get of both dialects), `admin`, `forwarded` (client
addresses behind trusted proxies), `lifecycle` (in-flight count, draining), `reload`.

May import: router.proxy and everything below it.
"""
