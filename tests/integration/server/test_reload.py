"""Live reload of routes.yaml under client load: nodes added, reweighted and removed, an
invalid file refused, and SIGHUP, without one client request failing.

The router polls routes.yaml every second; `RouterUnderTest.write_config` replaces the file
in one step so the poller never reads half of it. Each edit is followed by waiting for the
router's `config_reloaded` (or `config_reload_failed`) log event, and the traffic split is
then read from the `X-Mock-Node` header of the requests started after that moment.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.support.load import client_session, running_load
from tests.support.router_under_test import (
    FAST_HEALTH,
    config_text,
)

pytestmark = pytest.mark.integration

A, B, C = "node62", "node63", "node64"


def weighted(urls: dict[str, str], weights: dict[str, int], tag: str = "") -> str:
    """FLASH over the nodes in `weights` (only those are in `nodes:`), active checks on."""
    chosen = {name: urls[name] for name in weights}
    backends = [{"node": name, "weight": weight} for name, weight in weights.items()]
    return config_text(chosen, backends=backends, health=FAST_HEALTH, tag=tag)


async def test_routes_yaml_edits_under_load_never_fail_a_request(started):
    nodes, router = started.launch(
        {A: (), B: (), C: ()}, lambda urls: weighted(urls, {A: 1, B: 1}), together=False
    )
    urls = {name: nodes[name].url for name in (A, B, C)}
    reloads = 0

    async def install(text: str) -> float:
        """Write routes.yaml and wait for the poller to install it; when it was installed."""
        nonlocal reloads
        router.write_config(text)
        reloads += 1
        await router.wait_event("config_reloaded", count=reloads, within=4)
        return time.monotonic()

    async with asyncio.timeout(40), client_session() as session:
        async with running_load(session, router.url, workers=4, pause=0.005) as load:
            await asyncio.sleep(0.6)
            split = load.nodes_since(0)
            assert split[A] > 0 and split[B] > 0 and split[C] == 0, split

            # A new node serves once its first probe succeeds.
            since = await install(weighted(urls, {A: 1, B: 1, C: 1}))
            await asyncio.sleep(1.0)
            split = load.nodes_since(since)
            assert min(split[A], split[B], split[C]) > 0, split

            since = await install(weighted(urls, {A: 4, B: 1, C: 1}))
            await asyncio.sleep(1.0)
            split = load.nodes_since(since)
            assert 0.55 <= split[A] / sum(split.values()) <= 0.8, split

            since = await install(weighted(urls, {A: 1, C: 1}))
            await asyncio.sleep(0.8)
            split = load.nodes_since(since)
            assert split[B] == 0 and split[A] > 0 and split[C] > 0, split
            status, body = await router.admin(session, "GET", "/admin/nodes")
            assert status == 200 and set(body["nodes"]) == {A, C}, body

            # An invalid file: refused with every problem, the running config untouched.
            broken = weighted(urls, {A: 1, C: 1}).replace(f"node: {C}", "node: node99")
            broken = broken.replace("weight: 1", "weight: 0", 1)
            router.write_config(broken)
            (failed,) = await router.wait_event("config_reload_failed", within=4)
            problems = "\n".join(failed["problems"])
            assert "models.gemini-2.5-flash.backends[1].node" in problems, failed
            assert "node99" in problems and "weight" in problems, failed
            refused_at = time.monotonic()
            status, body = await router.admin(session, "POST", "/admin/reload")
            assert status == 400 and body["error"]["code"] == "invalid_config", body
            assert body["error"]["problems"] == failed["problems"], body
            await asyncio.sleep(0.5)
            split = load.nodes_since(refused_at)
            assert split[A] > 0 and split[C] > 0 and split[B] == 0, split

            # Fixed again (the poller), then SIGHUP with the file unchanged: a reload the
            # poller would not have done.
            await install(weighted(urls, {A: 1, C: 1}, tag="fixed"))
            before = await router.metric(session, "router_config_reloads_total", result="success")
            router.send_signal(signal.SIGHUP)
            reloads += 1
            await router.wait_event("config_reloaded", count=reloads, within=0.9)
            after = await router.metric(session, "router_config_reloads_total", result="success")
            assert after == before + 1
            await asyncio.sleep(0.3)
        failures = await router.metric(session, "router_config_reloads_total", result="failure")

    assert failures == 2  # the poller's attempt and POST /admin/reload
    assert len(load.outcomes) > 300, len(load.outcomes)
    assert load.failures() == [], load.failures()[:5]


async def test_admin_reload_reports_every_problem_with_its_yaml_path(started):
    nodes, router = started.launch({A: ()}, config_text)
    urls = {A: nodes[A].url}
    async with asyncio.timeout(20), client_session() as session:
        router.write_config(
            config_text(
                urls,
                backends=[{"node": A, "weight": -1}, {"node": "ghost"}],
                ejection={"consecutive_failures": 0},
            )
        )
        status, body = await router.admin(session, "POST", "/admin/reload")
        assert status == 400, body
        problems = body["error"]["problems"]
        assert len(problems) == 3, problems
        for path in (
            "models.gemini-2.5-flash.backends[0].weight",
            "models.gemini-2.5-flash.backends[1].node",
            "defaults.ejection.consecutive_failures",
        ):
            assert any(path in problem for problem in problems), (path, problems)
        assert all(":" in p.split(" ")[0] for p in problems), problems  # file:line: ...
        # The old config still answers.
        async with session.post(
            router.url + "/v1/chat/completions",
            json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]},
        ) as resp:
            assert resp.status == 200
        status, config = await router.admin(session, "GET", "/admin/config")
        assert status == 200 and config["models"]["gemini-2.5-flash"]["backends"][0]["weight"] == 1
