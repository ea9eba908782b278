"""The HTTP surface: request handlers, the admin API, middleware pieces, reloads.

Holds: `handlers` (the OpenAI endpoints, Gemini, health endpoints), `models` (the model
list and get of both dialects), `admin` (nodes, reload, config), `admin_keys` (keys,
credits and usage for the console), `usage_report` (the console's ledger views: pure),
`audit` (every admin call in the access log), `forwarded` (client
addresses behind trusted proxies), `lifecycle` (in-flight count, draining), `reload`,
`account` (a key holder's account and the one-api billing endpoints), `status` (the status
page's document), `pages` (the playground, account, console and status pages; files in
`ui/`).

May import: router.proxy and everything below it.
"""
