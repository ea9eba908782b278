"""The HTTP surface: request handlers, the admin API, middleware pieces, reloads.

Holds: `pipeline` (every dialect's proxied requests: read once, then authenticate, admit,
proxy, settle), `client_stream` (the proxy's ClientStream over aiohttp), `context` (the
trace id, dialect and key of a request), `models` (every dialect's model list and get),
`readiness` (/healthz, /readyz), `parts` (the pieces a server is wired from), `admin`
(nodes, reload, config), `admin_keys` (keys, credits and usage for the console),
`usage_report` (the console's ledger views: pure), `audit` (every admin call in the access
log), `forwarded` (client
addresses behind trusted proxies), `lifecycle` (in-flight count, draining), `reload`,
`account` (a key holder's account and the one-api billing endpoints), `status` (the status
page's document), `pages` (the playground, account, console and status pages; files in
`ui/`).

May import: router.proxy and everything below it.
"""
