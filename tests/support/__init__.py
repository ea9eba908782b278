"""Everything the tests share; nothing here is a test. Import the common names from
`tests.support`, the rest from their module.

Processes and the core helpers (re-exported here):

    procs    Proc (one `python -m router ...` child), Launch/start_all (side by side, with a
             retry for a lost free port), start_router, start_mock_node, stop_all, Stops
             (a `with` block stops what an object started), http_request; free_port comes
             from bench.system, which bench uses too (bench never imports tests)
    nodes    MockNode/MockNodes (a mock node's /_mock controls), Routers (one router per
             distinct config and flags, shared by a module)
    redis    RedisServer (the `redis_server` fixture wraps it)
    nginx    Nginx (deploy/nginx/router.conf in front of loopback replicas)
    routes   routes_yaml (the one config builder), TEST_SERVER/TEST_DEFAULTS, chat_body,
             FLASH, CHAT, GEMINI_BODY, sse_data
    waiting  eventually (async), eventually_blocking

By feature (import from the module):

    browser           Debian's Chromium through Playwright: the `browser` fixture,
                      open_page, overflow, shoot (docs/screenshots/)
    billing           billing configs, prices and expected costs, StateView (the ledger of
                      either backend), backend_state/backend_setup (memory or Redis), Setup
    error_shape       openai_error, google_error: the two error shapes, checked once
    fake_transport    FakeNodes/Script: the in-process transport seam; SSE/JSON answers
    router_under_test RouterUnderTest/Started: a router with its JSON log and admin API
    load              Load: client loops that keep every outcome
    hostile           raw-socket requests and the hostile tests' config
    cluster, cluster_traffic   nginx + replicas + Redis, and the traffic through them
    sentinel          a Redis master, replica and three Sentinels
    prometheus        a real Prometheus scraping a router
    otlp              a local OTLP trace receiver
    raw_node          raw asyncio servers for the upstream client's tests
    health_records    NodeHealth records in each state (routing tables)
    store             the state store tests' clock, prices and ledger records
    observability     metric samples from a registry or a /metrics text
    deploy_files, dashboard   deploy/ and grafana/ files, and the tools that check them
    keys_cli          `router keys` run in process
    node_sdk          the official Node SDKs (tests/node)
    readme_blocks     the docs' fenced blocks, read as examples to run
    translation       the translation tests' IR normal form and strategies

The fixtures live in tests/conftest.py: one per kind of process.
"""

from tests.support.nginx import NGINX, Nginx
from tests.support.nodes import MockNode, MockNodes, Routers
from tests.support.procs import (
    REPO_ROOT,
    Launch,
    Proc,
    ProcessError,
    Stops,
    free_port,
    http_request,
    lost_its_port,
    mock_node_launch,
    poll_ready,
    router_launch,
    start_all,
    start_mock_node,
    start_router,
    stop_all,
)
from tests.support.redis import RedisServer
from tests.support.routes import (
    CHAT,
    FLASH,
    GEMINI_BODY,
    TEST_DEFAULTS,
    TEST_SERVER,
    Json,
    chat_body,
    closed_port_url,
    node_entry,
    routes_yaml,
)
from tests.support.waiting import eventually, eventually_blocking

__all__ = [
    "CHAT",
    "FLASH",
    "GEMINI_BODY",
    "NGINX",
    "REPO_ROOT",
    "TEST_DEFAULTS",
    "TEST_SERVER",
    "Json",
    "Launch",
    "MockNode",
    "MockNodes",
    "Nginx",
    "Proc",
    "ProcessError",
    "RedisServer",
    "Routers",
    "Stops",
    "chat_body",
    "closed_port_url",
    "eventually",
    "eventually_blocking",
    "free_port",
    "http_request",
    "lost_its_port",
    "mock_node_launch",
    "node_entry",
    "poll_ready",
    "router_launch",
    "routes_yaml",
    "start_all",
    "start_mock_node",
    "start_router",
    "stop_all",
]
