"""What the tests share: processes on loopback, the routes.yaml builder, waiting.

    procs    Proc (one `python -m router ...` child), Launch/start_all (side by side, with a
             retry for a lost free port), start_router, start_mock_node, stop_all,
             http_request;
             free_port comes from bench.system, which bench uses too (bench never imports
             tests)
    nodes    MockNode/MockNodes (a mock node's /_mock controls), Routers (one router per
             distinct config, shared by a module)
    redis    RedisServer (the `redis_server` fixture of tests/conftest.py wraps it)
    nginx    Nginx (deploy/nginx/router.conf in front of loopback replicas)
    routes   routes_yaml (the one config builder), TEST_SERVER/TEST_DEFAULTS, chat_body
    waiting  eventually (async), eventually_blocking

The fixtures themselves live in tests/conftest.py.
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
