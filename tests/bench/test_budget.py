"""The per-stage CPU budget (bench/budget.py): which stage a sampled stack is charged to."""

from __future__ import annotations

import pytest

from bench.budget import LOOP, ORDER, stage_counts, stage_of

ROOT = [
    "_run_module_as_main (<frozen runpy>:198)",
    "main (router/cli/main.py:63)",
    "Runner.run (asyncio/runners.py:118)",
]
HANDLER = [
    *ROOT,
    "RequestHandler._handle_request (aiohttp/web_protocol.py:602)",
    "error_middleware (router/server/app.py:80)",
    "Pipeline._observed (router/web/pipeline.py:120)",
    "Pipeline._serve (router/web/pipeline.py:170)",
]


@pytest.mark.parametrize(
    ("leaf", "stage"),
    [
        (
            ["Pipeline._body (router/web/pipeline.py:200)", "BaseRequest.read (aiohttp/x.py:1)"],
            "accept/parse",
        ),
        (
            [
                "presented_key (router/web/context.py:9)",
                "_bearer (router/dialects/openai/ingress.py:3)",
            ],
            "authenticate",
        ),
        (
            ["Billing.admit (router/billing/service.py:9)", "hash_key (router/config/keys.py:3)"],
            "admit",
        ),
        (
            [
                "Proxy.forward (router/proxy/attempts.py:9)",
                "Plan._of_model (router/proxy/plan.py:3)",
                "TierBalancer.choose (router/routing/balancer.py:1)",
            ],
            "choose",
        ),
        (
            [
                "Proxy._attempt (router/proxy/attempts.py:9)",
                "open_response (router/upstream/request.py:3)",
                "Connection.send (router/upstream/node_connection.py:1)",
            ],
            "connect/send",
        ),
        (
            [
                "NodeClient._head (router/upstream/http11.py:3)",
                "Connection.on_header (router/upstream/node_connection.py:1)",
            ],
            "first byte",
        ),
        (
            [
                "Relay.send (router/proxy/relay.py:9)",
                "usage_from_openai (router/dialects/openai/usage.py:1)",
            ],
            "relay",
        ),
        (
            [
                "Response.write_eof (aiohttp/web_response.py:1)",
                "StreamWriter._writelines (aiohttp/http_writer.py:2)",
            ],
            "relay",
        ),
        (
            [
                "Settler.settle (router/billing/settling.py:1)",
                "JsonlLedger.append (router/billing/state/ledger.py:2)",
            ],
            "settle",
        ),
        (
            [
                "RedisStateStore._script (router/billing/state/redis.py:1)",
                "ScriptPipeline.call (router/billing/state/pipeline.py:2)",
            ],
            "state backend I/O",
        ),
        (["Observer.request_finished (router/observability/observer.py:1)"], "observe"),
        (["Pipeline._exchange (router/web/pipeline.py:3)"], "handler (rest)"),
    ],
)
def test_the_innermost_frame_naming_a_stage_decides(leaf: list[str], stage: str) -> None:
    assert stage_of(HANDLER + leaf) == stage


def test_a_stack_outside_any_handler_is_the_event_loops() -> None:
    assert stage_of([*ROOT, "UVTransport._on_read (uvloop/loop.pyx:1)"]) == LOOP
    assert stage_of(ROOT) == LOOP


def test_stage_counts_reads_py_spys_raw_format() -> None:
    relay = ";".join([*HANDLER, "Relay.send (router/proxy/relay.py:9)"])
    lines = [f"{relay} 7", f"{';'.join(ROOT)} 3", "", "garbage"]
    counts = stage_counts(lines)
    assert counts == {"relay": 7, LOOP: 3}
    assert set(counts) <= set(ORDER)
