"""A mock worker node for tests, the demo and the benchmark: a real aiohttp server.

May import: router.errors, router.tasks, router.config. It shares nothing else with the
router, so a test against it never passes by sharing the router's own code.
"""
