"""`strategy: latency` and `affinity:` (pure): peak EWMA, two choices, the bounded-load ring."""

from __future__ import annotations

import collections
import random
import textwrap

import pytest

from router.config.affinity import Affinity, AffinitySource
from router.config.loader import parse_config
from router.config.model import Backend, ModelRoute, Strategy
from router.dialects.openai import CODEC as OPENAI
from router.errors import ConfigError
from router.routing.affinity import AffinityOutcome, Ring
from router.routing.affinity_key import affinity_key as _affinity_key
from router.routing.balancer import ModelBalancer
from router.routing.latency import DECAY, PeakEwma, two_choices


def test_peak_ewma_jumps_to_peaks_and_decays_towards_lower_samples() -> None:
    ewma = PeakEwma()
    assert ewma.value(0.0) == 0.0  # never measured
    ewma.observe(0.1, 0.0)
    ewma.observe(2.0, 1.0)
    assert ewma.value(1.0) == pytest.approx(2.0)  # a peak is believed at once
    ewma.observe(0.1, 1.0 + DECAY)
    assert 0.1 < ewma.value(1.0 + DECAY) < 2.0  # a lower sample pulls it down gradually
    before = ewma.value(1.0 + DECAY)
    assert ewma.value(1.0 + 4 * DECAY) < before / 10  # idle: it fades, so it is tried again


def test_two_choices_prefers_the_cheaper_and_respects_eligibility() -> None:
    rng = random.Random(7)
    costs = [1.0, 0.1, 1.0]
    picks = collections.Counter(
        two_choices([True, True, True], [1, 1, 1], lambda i: costs[i], rng) for _ in range(3000)
    )
    assert picks[1] > 1800  # chosen whenever drawn (2 of 3 draws)
    assert two_choices([False, False, True], [1, 1, 1], lambda i: costs[i], rng) == 2
    assert two_choices([False, False, False], [1, 1, 1], lambda i: 0.0, rng) is None


def _route(strategy: Strategy = Strategy.LATENCY, affinity: Affinity | None = None) -> ModelRoute:
    backends = tuple(Backend(node=f"n{i}") for i in range(3))
    return ModelRoute("m", backends, strategy=strategy, affinity=affinity)


def test_latency_balancer_shifts_to_the_fast_node_and_trials_an_unmeasured_one() -> None:
    balancer = ModelBalancer(_route(), random.Random(3))
    picks: collections.Counter[str] = collections.Counter()
    now = 0.0
    for _ in range(600):
        now += 0.01
        backend = balancer.choose(lambda _: True, lambda _: 0, now)
        assert backend is not None
        picks[backend.node] += 1
        balancer.observe(backend.node, 2.0 if backend.node == "n0" else 0.05, now)
    assert picks["n0"] < 60, picks  # the slow node gets little once measured
    assert picks["n0"] >= 1  # but it was tried
    fresh = ModelBalancer(_route(), random.Random(3))
    fresh.observe("n1", 0.05, 0.0)
    fresh.observe("n2", 0.05, 0.0)
    tried = collections.Counter(
        fresh.choose(lambda _: True, lambda _: 0, 0.0).node for _ in range(300)
    )
    assert tried["n0"] > 150  # unmeasured: wins whenever drawn (its trial share)


def test_a_failure_counts_as_a_slow_answer() -> None:
    balancer = ModelBalancer(_route(), random.Random(1))
    for node in ("n0", "n1", "n2"):
        balancer.observe(node, 0.1, 0.0)
    balancer.observe_failure("n2", 0.0)
    picks = collections.Counter(
        balancer.choose(lambda _: True, lambda _: 0, 0.0).node for _ in range(300)
    )
    assert picks["n2"] == 0  # it loses every pairing while its penalty lasts


def test_an_unmeasured_node_with_requests_in_flight_gets_one_trial_at_a_time() -> None:
    """A node whose first answer hangs (no sample yet) must not win every draw."""
    balancer = ModelBalancer(_route(), random.Random(5))
    balancer.observe("n1", 0.2, 0.0)
    balancer.observe("n2", 0.2, 0.0)
    inflight = {"n0": 50, "n1": 0, "n2": 0}
    picks = collections.Counter(
        balancer.choose(lambda _: True, inflight.__getitem__, 0.0).node for _ in range(600)
    )
    assert picks["n0"] == 0, picks
    idle = {"n0": 0, "n1": 0, "n2": 0}  # nothing in flight: its trial share again
    trial = collections.Counter(
        balancer.choose(lambda _: True, idle.__getitem__, 0.0).node for _ in range(600)
    )
    assert trial["n0"] > 300, trial


def test_a_node_failing_fast_on_a_slow_model_does_not_look_fast() -> None:
    balancer = ModelBalancer(_route(), random.Random(2))
    now = 0.0
    for step in range(40):  # a model whose first token takes 8 s; n2 answers 500 at once
        now = step * 0.5
        balancer.observe("n0" if step % 2 else "n1", 8.0, now)
        balancer.observe_failure("n2", now)
    picks = collections.Counter(
        balancer.choose(lambda _: True, lambda _: 0, now).node for _ in range(300)
    )
    assert picks["n2"] == 0, picks
    for _ in range(5000):  # failures do not compound: its cost stays finite and fades
        balancer.observe_failure("n2", now)
    assert balancer.tiers[0].ewma[2].value(now + 600) < 1.0


def test_an_affinity_key_of_raw_header_bytes_hashes_and_never_raises() -> None:
    from router.routing.affinity import ring_point

    raw = "ab\udcff\udcfe"  # how aiohttp hands over the bytes ab\xff\xfe
    assert ring_point(raw) == ring_point(raw)
    ring = Ring(["a", "b", "c"], [1, 1, 1])
    assert ring.choose(raw, [True] * 3, lambda i: 0, 0.25)[1] is AffinityOutcome.HIT
    ring_point("\ud83d")  # any lone surrogate


def test_ring_keeps_a_key_home_and_spreads_keys() -> None:
    ring = Ring(["a", "b", "c"], [1, 1, 1])
    everyone = [True, True, True]
    homes = collections.Counter()
    for n in range(3000):
        index, outcome = ring.choose(f"session-{n}", everyone, lambda i: 0, 0.25)
        assert outcome is AffinityOutcome.HIT
        assert ring.choose(f"session-{n}", everyone, lambda i: 5, 0.25)[0] == index  # stable
        homes[index] += 1
    assert min(homes.values()) > 700, homes  # about a third each
    index, _ = ring.choose("session-1", everyone, lambda i: 0, 0.25)
    out = [i != index for i in range(3)]
    moved, outcome = ring.choose("session-1", out, lambda i: 0, 0.25)
    assert moved != index and outcome is AffinityOutcome.MOVED


def test_bounded_load_passes_a_hot_key_on() -> None:
    ring = Ring(["a", "b", "c"], [1, 1, 1])
    home, _ = ring.choose("hot", [True] * 3, lambda i: 0, 0.25)
    load = {home: 4, (home + 1) % 3: 0, (home + 2) % 3: 0}
    # 4 in flight on home, 4 in all: the bound is ceil(1.25 * 5 / 3) = 3, so it spills.
    index, outcome = ring.choose("hot", [True] * 3, load.__getitem__, 0.25)
    assert index != home and outcome is AffinityOutcome.MOVED


def test_model_balancer_reports_affinity_outcomes() -> None:
    affinity = Affinity(AffinitySource.HEADER, "X-Session-ID")
    balancer = ModelBalancer(_route(Strategy.WEIGHTED, affinity), random.Random(0))
    first, outcome = balancer.choose_by_key("s1", lambda _: True, lambda _: 0)
    assert outcome is AffinityOutcome.HIT and first is not None
    assert balancer.choose_by_key(None, lambda _: True, lambda _: 0)[1] is AffinityOutcome.NONE
    plain = ModelBalancer(_route(Strategy.WEIGHTED), random.Random(0))
    assert plain.choose_by_key("s1", lambda _: True, lambda _: 0)[1] is None


def affinity_key(
    affinity: Affinity | None, headers: dict[str, str], document: object
) -> str | None:
    """An OpenAI request's key: its conversation is its `messages`."""
    conversation = OPENAI.ingress.conversation_fields
    return _affinity_key(affinity, headers, document, conversation)  # type: ignore[arg-type]


def test_affinity_keys_from_header_body_and_prefix() -> None:
    header = Affinity(AffinitySource.HEADER, "X-Session-ID")
    assert affinity_key(header, {"X-Session-ID": "abc"}, None) == "abc"
    assert affinity_key(header, {}, None) is None
    user = Affinity(AffinitySource.BODY, "user")
    assert affinity_key(user, {}, {"user": "u1"}) == "u1"
    assert affinity_key(user, {}, {"user": 5}) is None
    prefix = Affinity(AffinitySource.PREFIX, prefix_bytes=16)
    one = {"model": "a", "messages": [{"role": "user", "content": "x" * 100}]}
    two = {"model": "b", "stream": True, "messages": [{"role": "user", "content": "x" * 100}]}
    assert affinity_key(prefix, {}, one) == affinity_key(prefix, {}, two)
    assert len(affinity_key(prefix, {}, one) or "") == 16
    assert affinity_key(prefix, {}, {"model": "a"}) is None
    assert affinity_key(None, {"X-Session-ID": "abc"}, None) is None


CONFIG = """\
version: 1
nodes:
  a: {url: "http://127.0.0.1:9001"}
models:
  m:
    strategy: latency
    affinity: {by: "header:X-Session-ID", epsilon: 0.5}
    backends: [{node: a}]
"""


def test_config_reads_latency_and_affinity() -> None:
    route = parse_config(CONFIG, environ={}).models["m"]
    assert route.strategy is Strategy.LATENCY
    assert route.affinity == Affinity(AffinitySource.HEADER, "X-Session-ID", 2048, 0.5)
    prefix = parse_config(CONFIG.replace('"header:X-Session-ID"', "prefix"), environ={})
    assert prefix.models["m"].affinity.source is AffinitySource.PREFIX


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('"header:X-Session-ID"', '"cookie:x"', "models.m.affinity.by"),
        ('"header:X-Session-ID"', '"header:bad name"', "models.m.affinity.by"),
        ("epsilon: 0.5", "epsilon: 0", "models.m.affinity.epsilon"),
        ("epsilon: 0.5", "epsilon: .inf", "models.m.affinity.epsilon"),
        ("epsilon: 0.5", "epsilon: .nan", "models.m.affinity.epsilon"),
        ("epsilon: 0.5", "colour: red", "models.m.affinity.colour"),
        ("strategy: latency", "strategy: fastest", "models.m.strategy"),
    ],
)
def test_bad_latency_or_affinity_is_located(old: str, new: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(CONFIG.replace(old, new)), environ={})
    assert [p.path for p in info.value.problems] == [where]


@pytest.mark.parametrize("strategy", [Strategy.WEIGHTED, Strategy.LEAST_INFLIGHT])
def test_a_model_without_latency_routing_keeps_no_latency_averages(strategy: Strategy) -> None:
    balancer = ModelBalancer(_route(strategy), random.Random(1))
    assert not balancer.tracks_latency and balancer.hedging is None
    assert all(tier.ewma == () for tier in balancer.tiers)
    balancer.observe("n0", 0.1, 0.0)  # a time to first byte: nothing to record
    balancer.observe_failure("n1", 0.0)
    balancer.observe_outraced("n2", 0.5, 0.0)
    assert balancer.choose(lambda _: True, lambda _: 0, 0.0) is not None


def test_a_latency_model_keeps_one_average_per_backend() -> None:
    balancer = ModelBalancer(_route(), random.Random(1))
    assert balancer.tracks_latency and len(balancer.tiers[0].ewma) == 3
