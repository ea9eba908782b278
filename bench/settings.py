"""How long and how hard each section runs, per mode (full, quick, smoke)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Settings:
    """Counts and durations for one benchmark run; every load run is bounded by them."""

    mode: str
    pin: bool  # taskset: proxies on core 0, load generators and upstreams on core 1
    wrk_seconds: int
    throughput_rounds: int  # interleaved rounds over every target; the best one counts
    paired_rounds: int  # time-sliced rounds per compared pair of router variants; the median counts
    paired_seconds: int  # per round, shared by the two variants
    warmup_seconds: int
    connections: tuple[int, ...]
    latency_seconds: int
    stream_levels: tuple[int, ...]
    single_rounds: int  # sequential streams at concurrency 1
    multi_rounds: int  # rounds of `stream_levels[-1]` concurrent streams
    stream_chunks: int
    stream_interval: float
    hold_streams: int
    hold_chunks: int
    hold_interval: float
    hold_ramp: float
    hold_clients: int
    hold_deadline: float  # hard cap on the whole concurrency run, seconds
    routing_requests: int = 2000  # per routing mode (weighted, latency, latency + hedge)
    routing_concurrency: int = 16
    routing_slow_delay: float = 2.0  # the slow node's first token, seconds (30% of requests)
    affinity_sessions: int = 200
    affinity_rounds: int = 5  # requests per session
    hostile_event_mb: int = 40  # one node's newline-free event, per stream (section hostile)
    hostile_streams: int = 2


FULL = Settings(
    mode="full",
    pin=True,
    wrk_seconds=4,
    throughput_rounds=5,  # single runs vary by up to a third here: more rounds, shorter
    paired_rounds=8,  # even: each variant gets the first slice equally often
    paired_seconds=4,
    warmup_seconds=1,
    connections=(32, 256),
    latency_seconds=10,
    stream_levels=(1, 100),
    single_rounds=50,
    multi_rounds=5,
    stream_chunks=40,
    stream_interval=0.01,
    hold_streams=8000,
    hold_chunks=25,
    hold_interval=1.0,
    hold_ramp=8.0,  # opening is slower in practice; 20 s streams still overlap
    hold_clients=2,
    hold_deadline=60.0,
)

QUICK = replace(
    FULL,
    mode="quick",
    wrk_seconds=3,
    throughput_rounds=2,
    paired_rounds=2,
    paired_seconds=3,
    warmup_seconds=1,
    latency_seconds=4,
    single_rounds=20,
    multi_rounds=2,
    routing_requests=600,
)

SMOKE = replace(
    FULL,
    mode="smoke",
    pin=False,
    wrk_seconds=1,
    throughput_rounds=1,
    paired_rounds=1,
    paired_seconds=1,
    warmup_seconds=0,
    latency_seconds=1,
    stream_levels=(1, 20),
    single_rounds=2,
    multi_rounds=1,
    stream_chunks=10,
    hold_streams=20,
    hold_chunks=3,
    hold_interval=0.2,
    hold_ramp=0.2,
    hold_clients=2,
    hold_deadline=20.0,
    routing_requests=60,
    routing_slow_delay=0.3,
    affinity_sessions=20,
    affinity_rounds=2,
    hostile_event_mb=4,
)

MODES = {s.mode: s for s in (FULL, QUICK, SMOKE)}
