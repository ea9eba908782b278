"""`hedge:`, `timeouts.first_token` and the adaptive hedging delay (pure)."""

from __future__ import annotations

import pytest

from router.config.hedging import Hedge
from router.config.loader import parse_config
from router.errors import ConfigError
from router.routing.hedging import RECOMPUTE_EVERY, UNMEASURED, WARMUP, HedgeDelay

CONFIG = """\
version: 1
nodes:
  a: {url: "http://127.0.0.1:9001", timeouts: {first_token: 1.5}}
  b: {url: "http://127.0.0.1:9002"}
models:
  m:
    hedge: {after: 0.8, max: 2}
    backends: [{node: a}, {node: b}]
"""


def test_config_reads_hedge_and_first_token() -> None:
    config = parse_config(CONFIG, environ={})
    assert config.models["m"].hedge == Hedge(0.8, 2)
    assert config.nodes["a"].timeouts.first_token == 1.5
    assert config.nodes["b"].timeouts.first_token is None  # off by default
    adaptive = parse_config(CONFIG.replace("after: 0.8, max: 2", "after: p95"), environ={})
    assert adaptive.models["m"].hedge == Hedge(None, 1)
    plain = parse_config(CONFIG.replace("    hedge: {after: 0.8, max: 2}\n", ""), environ={})
    assert plain.models["m"].hedge is None


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("after: 0.8", "after: 0", "models.m.hedge.after"),
        ("after: 0.8", "after: p99", "models.m.hedge.after"),
        ("after: 0.8", "after: true", "models.m.hedge.after"),
        ("after: 0.8, ", "", "models.m.hedge.after"),
        ("max: 2", "max: 0", "models.m.hedge.max"),
        ("max: 2", "maximum: 2", "models.m.hedge.maximum"),
        ("first_token: 1.5", "first_token: 0", "nodes.a.timeouts.first_token"),
        ("first_token: 1.5", "first_token: soon", "nodes.a.timeouts.first_token"),
    ],
)
def test_bad_hedge_or_first_token_is_located(old: str, new: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.replace(old, new), environ={})
    assert [p.path for p in info.value.problems] == [where]


def test_a_fixed_delay_ignores_samples() -> None:
    delay = HedgeDelay(Hedge(0.8))
    for _ in range(100):
        delay.observe(0.01)
    assert delay.after == 0.8


def test_the_adaptive_delay_is_the_recent_p95() -> None:
    delay = HedgeDelay(Hedge(None))
    for _ in range(WARMUP - 1):
        delay.observe(0.05)
    assert delay.after == UNMEASURED  # not enough samples yet
    samples = [i / 100 for i in range(1, 101)] * 3  # 0.01 .. 1.00, three times
    for sample in samples:
        delay.observe(sample)
    assert delay.after == pytest.approx(0.95, abs=0.03)
    for _ in range(256 + RECOMPUTE_EVERY):  # the ring forgets: all fast now
        delay.observe(0.02)
    assert delay.after == 0.02


def test_the_adaptive_delay_is_recomputed_in_steps() -> None:
    delay = HedgeDelay(Hedge(None))
    for _ in range(3 * RECOMPUTE_EVERY):  # a whole number of steps: just recomputed
        delay.observe(0.1)
    settled = delay.after
    for _ in range(RECOMPUTE_EVERY - 1):
        delay.observe(9.0)
    assert delay.after == settled  # no sort on every sample
