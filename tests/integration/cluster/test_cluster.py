"""The deployment as a whole (issue 7): nginx in front of three replicas sharing one Redis.

nginx runs deploy/nginx/router.conf (rendered for loopback ports), in front of three
`router serve` replicas (the middle one with `--workers 2`) and three mock nodes. Client
loops send plain and streaming chat requests through nginx with one key the whole time,
while the test

1. SIGKILLs a node: no client sees a failure except streams already open on that node
   (they end with the mid-stream error event), and every replica shows the node ejected
   within 1 s (shared through Redis, not found out by each replica's probes);
2. starts it again on the same port: healthy on every replica within one health interval;
3. restarts every replica with SIGTERM, one at a time: no request through nginx fails,
   every stream open at the time finishes with `data: [DONE]`, no request begins at a
   replica after its shutdown_delay (it no longer accepts then), and a replica started
   again does not take the recovered node out of rotation;
4. sends 200 requests with an `rpm: 120` key: exactly 120 pass across all replicas;
5. sums the ledger (`router:usage`) for the traffic key: exactly the balance it lost.

Every check is collected and reported together at the end, with the counts seen, so one
run shows every problem (`pytest -s` also prints the counts as the test goes).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support import NGINX, REPO_ROOT, http_request
from tests.support.billing import RedisView
from tests.support.cluster import (
    HEALTH_INTERVAL,
    SHUTDOWN_DELAY,
    SHUTDOWN_GRACE,
    Cluster,
    Replica,
    create_key,
    key_credits,
    states_everywhere,
)
from tests.support.cluster_traffic import Outcome, Traffic, burst

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VICTIM = "node-c"
EJECT_WITHIN = 1.0
# One interval (+10% jitter), a probe's round trip and polling, on two busy cores.
RECOVER_WITHIN = HEALTH_INTERVAL * 1.1 + 1.0
IN_TRANSIT = 0.25  # headers the node sent just before SIGKILL may still be on their way
LATE_MARGIN = 0.3  # clock and scheduling slack for "began after shutdown_delay"
# The connections nginx keeps alive per replica (`keepalive N;` in the shipped config).
NGINX_KEEPALIVE_POOL = int(
    re.search(  # type: ignore[union-attr]
        r"^\s*keepalive (\d+);",
        (REPO_ROOT / "deploy/nginx/router.conf").read_text(),
        re.M,
    ).group(1)
)
RPM = 120
BURST = 200
MICRO = 1_000_000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is not installed (make sysdeps)")
    started = Cluster(tmp_path)
    try:
        started.start()
        yield started
    finally:
        started.stop()


def say(label: str, value: object) -> None:
    print(f"[cluster] {label}: {value}", flush=True)


def listing(outcomes: list[Outcome], limit: int = 10) -> str:
    return "\n  ".join(o.describe() for o in outcomes[:limit])


async def test_cluster_behind_nginx(cluster: Cluster) -> None:
    began = time.monotonic()
    config = cluster.config
    traffic_key = await asyncio.to_thread(
        create_key, config, "traffic", rpm=100_000, credits=100_000
    )
    burst_key = await asyncio.to_thread(create_key, config, "burst", rpm=RPM, credits=100_000)
    initial = await asyncio.to_thread(key_credits, config, "traffic")
    assert cluster.nginx is not None
    say("started", f"{time.monotonic() - began:.1f}s, nginx {cluster.nginx.url}")

    connector = aiohttp.TCPConnector(limit=60)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        asyncio.timeout(110),
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
    ):
        traffic = Traffic(session, cluster.nginx.url, traffic_key).start()
        run = Run(cluster, traffic)
        try:
            await asyncio.sleep(2.0)
            warm = [o for o in traffic.outcomes if o.ended]
            say("warm-up", Traffic.summary(warm))
            if not warm or not all(o.ok for o in warm):
                run.problem(f"warm-up failures:\n  {listing([o for o in warm if not o.ok])}")
            await run.kill_node()
            recovered_at = await run.restart_node()
            await run.rolling_restart(recovered_at)
            await run.rpm_burst(session, burst_key)
        finally:
            await traffic.stop()
    await run.ledger(initial)

    say("all traffic", Traffic.summary(traffic.outcomes))
    say("runtime", f"{time.monotonic() - began:.1f}s")
    # The problems come first and last: CI shows only a part of a long message.
    problems = "\n".join(run.problems)
    assert not run.problems, f"{problems}\n{cluster.diagnostics()}\n=== problems ===\n{problems}"


class Run:
    """The phases of the test, sharing the cluster, the traffic and the problems found."""

    def __init__(self, cluster: Cluster, traffic: Traffic) -> None:
        self.cluster = cluster
        self.traffic = traffic
        self.problems: list[str] = []
        self.names = {f"127.0.0.1:{r.port}": r.name for r in cluster.replicas}

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def reached_in_time(
        self, seconds_by_replica: dict[str, float | None], state: str, within: float, event: str
    ) -> None:
        """A problem for each replica that saw VICTIM reach `state` late, or never."""
        for name, seconds in seconds_by_replica.items():
            if seconds is None or seconds > within:
                self.problem(
                    f"{VICTIM} not {state} on {name} within {within:.2f}s of {event}: "
                    f"{seconds} (all: {seconds_by_replica})"
                )

    async def kill_node(self) -> None:
        """1. SIGKILL a node: retried around by every replica, ejected on all within 1 s."""
        traffic = self.traffic
        # Killed while a stream is open on it (if one opens within 5 s): that path too.
        for _ in range(100):
            if any(is_open_on(o, VICTIM) for o in traffic.outcomes):
                break
            await asyncio.sleep(0.05)
        killed_at = time.monotonic()
        await asyncio.to_thread(self.cluster.nodes[VICTIM].kill)
        ejected = await states_everywhere(
            self.cluster.replicas, VICTIM, "ejected", since=killed_at, within=5.0
        )
        await asyncio.sleep(1.0)  # traffic flows around the ejected node for a while
        end = time.monotonic()
        say("ejected after (s since SIGKILL)", ejected)
        self.reached_in_time(ejected, "ejected", EJECT_WITHIN, "the kill")
        window = [
            o for o in traffic.outcomes if o.started < end and (not o.ended or o.ended >= killed_at)
        ]
        await wait_ended(window, within=10.0)
        # Only streams whose answer from the victim had begun may end with the error event.
        cut = [
            o
            for o in window
            if o.is_stream
            and o.status == 200
            and o.error_event
            and o.node == VICTIM
            and o.headers_at is not None
            and o.headers_at < killed_at + IN_TRANSIT
        ]
        failed = [o for o in window if not o.ok and o not in cut]
        say("kill phase", {**Traffic.summary(window), "cut_streams_on_victim": len(cut)})
        if failed:
            self.problem(
                f"{len(failed)} of {len(window)} requests failed around the kill "
                f"(besides {len(cut)} streams open on {VICTIM}):\n  {listing(failed)}"
            )

    async def restart_node(self) -> float:
        """2. Start it again on its port: healthy on every replica within one interval."""
        await asyncio.to_thread(self.cluster.restart_node, VICTIM)
        up_at = time.monotonic()
        healthy = await states_everywhere(
            self.cluster.replicas, VICTIM, "healthy", since=up_at, within=10.0
        )
        say("healthy after (s since the node answered)", healthy)
        self.reached_in_time(healthy, "healthy", RECOVER_WITHIN, "its restart")
        await asyncio.sleep(1.0)
        url = self.cluster.nodes[VICTIM].base_url + "/_mock/stats"
        _, _, raw = await asyncio.to_thread(http_request, "GET", url)
        requests = orjson.loads(raw)["requests"]
        say(f"requests {VICTIM} served in the second after", requests)
        if not requests:
            self.problem(f"{VICTIM} got no request in the second after its recovery")
        return up_at

    async def rolling_restart(self, recovered_at: float) -> None:
        """3. SIGTERM each replica in turn, start it again: nothing fails through nginx."""
        began = time.monotonic()
        open_at_term: list[Outcome] = []
        for replica in self.cluster.replicas:
            open_at_term += await self.restart_replica(replica)
        end = time.monotonic()
        for replica in self.cluster.replicas:
            self.check_no_stale_ejection(replica, end - recovered_at)
        rolling = [o for o in self.traffic.outcomes if began <= o.started < end]
        considered = list({id(o): o for o in [*open_at_term, *rolling]}.values())
        await wait_ended(considered, within=15.0)
        failed = [o for o in considered if not o.ok]
        unfinished = [o for o in open_at_term if not o.ok]
        by_replica = Counter(
            "->".join(self.names.get(a.strip(), a) for a in (o.replica or "-").split(","))
            for o in rolling
        )
        say(
            "rolling restart",
            {
                **Traffic.summary(considered),
                "streams_open_at_a_sigterm": len({id(o) for o in open_at_term}),
                "by_replica (nginx retries as a->b)": dict(by_replica),
            },
        )
        if failed:
            self.problem(
                f"{len(failed)} of {len(considered)} requests failed during the rolling "
                f"restart ({len(unfinished)} of them streams open at a SIGTERM):\n  "
                f"{listing(failed)}"
            )

    async def restart_replica(self, replica: Replica) -> list[Outcome]:
        """SIGTERM, wait for exit 0, start again on the port; the streams open at SIGTERM."""
        outcomes = self.traffic.outcomes
        open_streams = [o for o in outcomes if o.is_stream and not o.ended]
        mine = [o for o in open_streams if o.replica == f"127.0.0.1:{replica.port}"]
        signalled = time.monotonic()
        replica.proc.terminate()
        code = await asyncio.to_thread(replica.proc.wait, SHUTDOWN_DELAY + SHUTDOWN_GRACE + 10)
        stopped = time.monotonic() - signalled
        await asyncio.to_thread(start_again, replica)
        back = time.monotonic() - signalled
        old = len(replica.generations) - 2
        expired = replica.log_events("shutdown_grace_expired", old)
        # Once shutdown_delay is over the replica no longer accepts: a request that begins
        # there later came down a connection nginx kept alive from before.
        late = replica.started_after_stop(old, SHUTDOWN_DELAY + LATE_MARGIN)
        say(
            f"restarted {replica.name}",
            f"exit {code} after {stopped:.2f}s, ready again after {back:.2f}s, "
            f"{len(mine)} of its streams open at SIGTERM, {len(late)} requests begun "
            f"after shutdown_delay, grace expired: {[e.get('ended_streams') for e in expired]}",
        )
        if code != 0:
            self.problem(f"{replica.name} exited {code} after SIGTERM")
        # The listener is closed by then, but each connection nginx keeps alive (at most its
        # `keepalive 32` pool) may still bring one request, which is answered with
        # `Connection: close` so it cannot bring another. More than that means connections
        # are being reused and the replica would never drain.
        if len(late) > NGINX_KEEPALIVE_POOL:
            first = {k: late[0].get(k) for k in ("trace_id", "timestamp", "duration_ms")}
            self.problem(
                f"{replica.name} began {len(late)} requests (streamed: "
                f"{sum(bool(e.get('streamed')) for e in late)}) more than "
                f"{SHUTDOWN_DELAY + LATE_MARGIN:g}s after its SIGTERM, when it should no "
                f"longer accept any; first: {first}"
            )
        if expired:
            self.problem(f"{replica.name} had to end streams at shutdown_grace: {expired}")
        return open_streams

    def check_no_stale_ejection(self, replica: Replica, since_recovery: float) -> None:
        """A replica started after the node recovered everywhere must not eject it again."""
        stale = [
            {k: e.get(k) for k in ("timestamp", "trigger", "reason", "until")}
            for e in replica.log_events("node_state", len(replica.generations) - 1)
            if e.get("node") == VICTIM and e.get("new") == "ejected"
        ]
        if stale:
            self.problem(
                f"{replica.name}, started again up to {since_recovery:.1f}s after {VICTIM} "
                f"had recovered on every replica, ejected that healthy node at start: {stale}"
            )

    async def rpm_burst(self, session: aiohttp.ClientSession, key: str) -> None:
        """4. An rpm 120 key admits exactly 120 across every replica and worker."""
        assert self.cluster.nginx is not None
        results = await burst(session, self.cluster.nginx.url, key, BURST, concurrency=20)
        statuses = Counter(f"{status} {code}".strip() for status, code in results)
        say("rpm burst", dict(statuses))
        admitted = statuses.get("200", 0)
        limited = statuses.get("429 too_many_requests", 0)
        if (admitted, limited) != (RPM, BURST - RPM):
            self.problem(
                f"rpm {RPM} key: {admitted} admitted and {limited} limited of {BURST}, "
                f"wanted {RPM} and {BURST - RPM} ({dict(statuses)})"
            )

    async def ledger(self, initial: Decimal) -> None:
        """5. The ledger sums exactly to what the traffic key lost."""
        sent = len(self.traffic.outcomes)
        view = RedisView(self.cluster.redis.url, "router:")
        records = await settled_records(view, "traffic", sent)
        final = await asyncio.to_thread(key_credits, self.cluster.config, "traffic")
        charged = sum(int(r["charged"]) for r in records)
        lost = (initial - final) * MICRO
        twice = [rid for rid, n in Counter(r["request_id"] for r in records).items() if n > 1]
        settled_by = Counter(r["settled_by"] for r in records)
        say(
            "ledger",
            f"{len(records)} records for {sent} requests, charged {charged} micro-credits, "
            f"balance {initial} -> {final} ({lost} micro), by {dict(settled_by)}",
        )
        if charged != lost:
            self.problem(
                f"ledger charged {charged} micro-credits but the balance fell by {lost} "
                f"({initial} -> {final}, {len(records)} records)"
            )
        if twice:
            self.problem(f"requests settled more than once: {twice[:5]}")
        if len(records) != sent:
            self.problem(f"{len(records)} ledger records for {sent} requests with the key")
        left = await asyncio.to_thread(view.reservations_left)
        if left:
            self.problem(f"reservations left after settling: {left[:5]}")


def start_again(replica: Replica) -> None:
    replica.begin().wait_ready()


def is_open_on(outcome: Outcome, node: str) -> bool:
    """A stream whose answer from `node` has begun and not ended."""
    return outcome.is_stream and outcome.node == node and not outcome.ended


async def wait_ended(outcomes: list[Outcome], within: float) -> None:
    """Until every one of `outcomes` has ended (the client loops finish them)."""
    for _ in range(int(within / 0.05)):
        if all(o.ended for o in outcomes):
            return
        await asyncio.sleep(0.05)


async def settled_records(view: RedisView, key: str, expected: int) -> list[dict[str, Any]]:
    """The key's ledger records once every reservation is settled (or after 15 s)."""
    deadline = time.monotonic() + 15.0
    while True:
        records = [r for r in await asyncio.to_thread(view.records) if r["key"] == key]
        left = await asyncio.to_thread(view.reservations_left)
        if (len(records) >= expected and not left) or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.1)
