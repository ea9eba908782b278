"""Two router replicas on one Redis, one of them running 30 s behind under Debian's
`faketime`: the key's rpm stays exact across both, because the window is Redis's clock.

Before (each replica stamping the window with its own clock): the replica behind
stamped its admissions 30 s in the past, the other told its refused clients to come back
in 30 s, and 30 s later it dropped those admissions from the window and admitted the
key's whole rpm again.
"""

from __future__ import annotations

import email.utils
import glob
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support import (
    MockNodes,
    Proc,
    RedisServer,
    http_request,
    router_launch,
    start_all,
    stop_all,
)
from tests.support.billing import billing_config, chat, key_hash

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# libfaketime preloaded into the router itself, not through the `faketime` command: that
# command forks and waits, so a SIGTERM to it left the router behind it running.
LIBFAKETIME = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), "")
SKEW = 30  # seconds the second replica's clock is behind
RPM = 10
KEY = f"sk-skew-{secrets.token_hex(12)}"
# Longer than SKEW: the old code re-admitted once the replica's stamps looked that old.
WATCH = SKEW + 6


@dataclass(slots=True)
class Replicas:
    on_time: Proc
    behind: Proc


MOCK_NODES = {"node": ()}


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, mock_nodes: MockNodes
) -> Iterator[Replicas]:
    if not LIBFAKETIME:
        pytest.fail("libfaketime is not installed (make sysdeps)")
    folder = tmp_path_factory.mktemp("skew")
    procs: list[Proc] = []
    try:
        config = folder / "routes.yaml"
        state = {"backend": "redis", "redis_url": redis_server.url, "prefix": "skew:"}
        keys = [{"name": "skew", "hash": key_hash(KEY), "rpm": RPM}]
        models = {"m": {"backends": [{"node": "node"}]}}
        text = billing_config(nodes={"node": {"url": mock_nodes["node"].url}}, models=models,
                              state=state, keys=keys)  # fmt: skip
        config.write_text(text, encoding="utf-8")
        procs = start_all(
            [
                router_launch(config, log_dir=folder, name="on-time", timeout=20),
                router_launch(
                    config,
                    log_dir=folder,
                    name="behind",
                    timeout=20,
                    env={"LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"-{SKEW}"},
                ),
            ]
        )
        yield Replicas(*procs)
    finally:
        stop_all(procs)


def ask(router: Proc) -> tuple[int, dict[str, str]]:
    status, headers, _ = http_request(
        "POST",
        router.base_url + "/v1/chat/completions",
        body=json.dumps(chat("m")).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=10.0,
    )
    return status, headers


def clock_of(headers: dict[str, str]) -> float:
    """The replica's own clock, from its Date header."""
    return email.utils.parsedate_to_datetime(headers["Date"]).timestamp()


def test_rpm_is_exact_across_a_replica_30s_behind(replicas: Replicas) -> None:
    on_time, behind = replicas.on_time, replicas.behind
    # The replica behind admits first, then the other fills the window.
    answers = [ask(behind) for _ in range(RPM // 2)] + [ask(on_time) for _ in range(RPM // 2)]
    started = time.monotonic()
    assert [status for status, _ in answers] == [200] * RPM
    skew = clock_of(answers[0][1]) - clock_of(answers[-1][1])
    assert SKEW - 3 <= -skew <= SKEW + 3, f"the replica is not {SKEW}s behind: {skew}"
    # Full for both, and both say so for the rest of the minute.
    for router in (on_time, behind):
        status, headers = ask(router)
        assert status == 429, router.name
        assert 57 <= int(headers["Retry-After"]) <= 60, (router.name, headers["Retry-After"])
    refused = {on_time.name: 0, behind.name: 0}
    while time.monotonic() - started < WATCH:
        for router in (on_time, behind):
            status, headers = ask(router)
            assert status == 429, (
                f"{router.name} admitted request {RPM + 1} of the minute "
                f"{time.monotonic() - started:.1f}s after the first"
            )
            left = 60 - (time.monotonic() - started)
            assert left - 3 <= int(headers["Retry-After"]) <= left + 2, headers["Retry-After"]
            refused[router.name] += 1
        time.sleep(1.0)
    assert min(refused.values()) >= WATCH // 2
