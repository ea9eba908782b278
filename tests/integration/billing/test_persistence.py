"""Keys across restarts and reloads (issue 17 item 4), on both state backends.

A real router in front of a real mock node is killed, restarted and reloaded: spent
credits stay spent (the memory backend rebuilds each balance from its ledger), and
`POST /admin/reload` applies routes.yaml's `keys:` (added, removed, disabled, a changed
`credits:` adding the difference). `router keys show`, run as the README shows it, reads
the same balance the router enforces.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import CHAT, REPO_ROOT, MockNodes, Proc
from tests.support.billing import (
    MICRO,
    StateView,
    assert_error_shape,
    backend_state,
    billing_config,
    chat,
    client_session,
    expected_cost,
    key_hash,
    new_request_id,
    post,
    redis_url_for,
    start_routers,
)

pytestmark = pytest.mark.integration

ADMIN_TOKEN = f"bp-admin-{secrets.token_hex(8)}"
# One mock answer (36 output tokens at 0.25) costs 9 credits; 5 are reserved up front.
PRICING: dict[str, Any] = {
    "pre_deduct": 5,
    "prompt_per_1k": 0,
    "completion_per_1k": 250,
    "reasoning_per_1k": 250,
}
COST = expected_cost(PRICING, "hello")
KEYS = {
    name: f"sk-bp-{name}-{secrets.token_hex(12)}" for name in ("spender", "victim", "gone", "new")
}


MOCK_NODES = {"good": ()}


def _config(
    mock_nodes: MockNodes,
    state: dict[str, Any],
    *,
    credits: int = 20,
    disabled: bool = False,
    names: tuple[str, ...] = ("spender", "victim", "gone"),
) -> str:
    entries = {
        "spender": {"credits": credits},
        "victim": {"disabled": disabled},
        "gone": {},
        "new": {"credits": 10},
    }
    keys = [{"name": n, "hash": key_hash(KEYS[n]), **entries[n]} for n in names]
    return billing_config(
        nodes={"good": {"url": mock_nodes["good"].url}},
        models={"m": {"backends": [{"node": "good"}], "pricing": PRICING}},
        state=state,
        keys=keys,
        server={"admin_token": ADMIN_TOKEN},  # for POST /admin/reload
    )


def _write(path: Path, text: str) -> None:
    """Replace routes.yaml in one step, so the router's poller never reads half of it."""
    part = path.with_suffix(".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _show(config: Path, name: str) -> dict[str, Any]:
    """`router keys show NAME --config routes.yaml`, as the README runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "router", "keys", "show", name, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


async def _ask(session: aiohttp.ClientSession, router: Proc, name: str, view: StateView) -> int:
    """One request with key `name`; an admitted one is waited for until it is settled."""
    rid = new_request_id()
    reply = await post(session, router.base_url + CHAT, chat("m"), key=KEYS[name], request_id=rid)
    if reply.status == 200:
        await view.settled(rid)
    return reply.status


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_restarts_keep_balances_and_reloads_apply_key_changes(
    backend: str, mock_nodes: MockNodes, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    state, view = backend_state(backend, tmp_path, redis_url_for(backend, request))
    path = tmp_path / "routes.yaml"
    _write(path, _config(mock_nodes, state))
    (router,) = start_routers([path], log_dir=tmp_path)
    try:
        async with client_session() as session:
            assert [await _ask(session, router, "spender", view) for _ in range(3)] == [
                200,
                200,
                429,  # 20 - 2 x 9 = 2 credits left: less than the 5 reserved up front
            ]
        left = 20 * MICRO - 2 * COST
        assert _show(path, "spender")["credits"] == left / MICRO

        # A crash, then a restart: the spent credits stay spent.
        router.kill()
        (router,) = start_routers([path], log_dir=tmp_path)
        async with client_session() as session:
            assert await _ask(session, router, "spender", view) == 429
        assert _show(path, "spender")["credits"] == left / MICRO

        # A reload: 10 more credits, `victim` disabled, `gone` removed, `new` added.
        _write(
            path,
            _config(
                mock_nodes, state, credits=30, disabled=True, names=("spender", "victim", "new")
            ),
        )
        async with client_session() as session:
            reply = await post(
                session,
                router.base_url + "/admin/reload",
                {},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert reply.status == 200 and reply.json()["status"] == "reloaded", reply.raw
            url = router.base_url + CHAT
            disabled = await post(session, url, chat("m"), key=KEYS["victim"])
            assert_error_shape(disabled, 401, "key_disabled")
            removed = await post(session, url, chat("m"), key=KEYS["gone"])
            assert_error_shape(removed, 401, "invalid_token")
            assert await _ask(session, router, "new", view) == 200
            assert await _ask(session, router, "spender", view) == 200  # 12 available
        left += 10 * MICRO - COST
        assert _show(path, "spender")["credits"] == left / MICRO
        assert _show(path, "new")["credits"] == (10 * MICRO - COST) / MICRO

        # A clean restart keeps all of it.
        router.stop()
        (router,) = start_routers([path], log_dir=tmp_path)
        async with client_session() as session:
            assert await _ask(session, router, "spender", view) == 429  # 3 < 5
            disabled = await post(session, router.base_url + CHAT, chat("m"), key=KEYS["victim"])
            assert_error_shape(disabled, 401, "key_disabled")
        assert _show(path, "spender")["credits"] == left / MICRO
    finally:
        router.stop()
