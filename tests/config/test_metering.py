"""routes.yaml's billing sections (state, keys, pricing), read with the one toolkit."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from router.config.checker import Checker, check_alone
from router.config.keys import hash_key
from router.config.loader import parse_config
from router.config.metering import read_keys, read_pricing, read_state
from router.config.model import Pricing, StateConfig
from router.config.source import Path
from router.errors import ConfigError


def pricing(raw: Any) -> Pricing:
    return check_alone(read_pricing, raw, ("pricing",))


def state(raw: Any) -> StateConfig:
    return check_alone(read_state, raw, ("state",))


def parse_pricing_table(raw: dict[str, Any]) -> dict[str, Pricing]:
    """Several models' prices read by one checker, as routes.yaml's models are."""

    def read(checker: Checker, path: Path, raw: Any) -> dict[str, Pricing]:
        return {m: read_pricing(checker, (*path, m), p) for m, p in raw.items()}

    return check_alone(read, raw, ("pricing",))


def test_static_keys_hash_and_env_key():
    records = check_alone(
        read_keys,
        [
            {"name": "team-a", "hash": hash_key("k1").upper(), "rpm": 60, "credits": 12.5},
            {"name": "team-b", "key": "${TEAM_B}", "models": ["gemini-*"], "max_concurrent": 2},
        ],
        ("keys",),
        environ={"TEAM_B": "k2"},
    )
    a, b = records
    assert a.key_hash == hash_key("k1") and a.spec.rpm == 60 and a.spec.credits == 12_500_000
    assert a.spec.models == ("*",) and a.is_static
    assert b.key_hash == hash_key("k2") and b.spec.models == ("gemini-*",)
    assert b.spec.credits is None and b.spec.max_concurrent == 2


def test_static_keys_reports_every_problem_with_its_path():
    with pytest.raises(ConfigError) as info:
        check_alone(
            read_keys,
            [
                {"name": "a"},
                {"name": "b", "hash": "zz"},
                {"name": "c", "key": "${MISSING}"},
                {"name": "d", "key": "x", "rpm": "fast", "colour": "red"},
                {"name": "e", "key": "y", "credits": "1.0000001"},
                {"name": "e", "key": "z"},
                "not a mapping",
            ],
            ("keys",),
            environ={},
        )
    text = str(info.value)
    for expected in (
        "keys[0]: needs exactly one of",
        "keys[1].hash: must be 64 hex",
        "keys[2].key: environment variable MISSING is not set",
        "keys[3].rpm: must be int",
        "keys[3].colour: unknown key",
        "keys[4].credits: credits have at most 6 decimal places",
        "keys[5].name: duplicate 'e'",
        "keys[6]: must be a mapping",
    ):
        assert expected in text, text


def test_no_keys_section_means_no_static_keys():
    assert check_alone(read_keys, None, ("keys",)) == ()


def test_pricing_reasoning_defaults_to_completion():
    p = pricing({"pre_deduct": 5, "prompt_per_1k": 0.15, "completion_per_1k": 0.6})
    assert p == Pricing(
        pre_deduct=5_000_000,
        prompt_per_1k=150_000,
        completion_per_1k=600_000,
        reasoning_per_1k=600_000,
    )
    assert pricing({"reasoning_per_1k": 1}).reasoning_per_1k == 1_000_000


def test_pre_deduct_defaults_to_the_worst_case_and_takes_auto_or_credits():
    assert pricing({"prompt_per_1k": 1}).pre_deduct is None  # None: the worst case
    assert pricing({"pre_deduct": "auto"}).pre_deduct is None
    assert pricing({"pre_deduct": 0}).pre_deduct == 0
    assert pricing({"pre_deduct": 2.5}).pre_deduct == 2_500_000
    with pytest.raises(ConfigError, match="pre_deduct: credits must be a number or auto"):
        pricing({"pre_deduct": "cheap"})


def test_pricing_table_reports_all_problems():
    with pytest.raises(ConfigError) as info:
        parse_pricing_table(
            {
                "gpt-4o": {"pre_deduct": -1, "prompt_per_1k": "x"},
                "gemini-*": {"colour": 1},
                "bad": 3,
            }
        )
    text = str(info.value)
    for expected in (
        "pricing.gpt-4o.pre_deduct: must be at least 0",
        "pricing.gpt-4o.prompt_per_1k: credits must be a number",
        "pricing.gemini-*.colour: unknown key",
        "pricing.bad: must be a mapping",
    ):
        assert expected in text, text
    assert parse_pricing_table({"m": {}}) == {"m": Pricing()}


def test_state_section():
    assert state(None) == StateConfig()
    config = state(
        {"backend": "redis", "redis_url": "redis://r:6379/1", "on_error": "open", "timeout": 1}
    )
    assert (config.backend, config.redis_url, config.on_error, config.timeout) == (
        "redis",
        "redis://r:6379/1",
        "open",
        1.0,
    )
    with pytest.raises(ConfigError) as info:
        state({"backend": "etcd", "on_error": "maybe", "timeout": 0, "colour": 1, "ledger_path": 3})
    text = str(info.value)
    for expected in (
        "state.backend: must be one of memory, redis",
        "state.on_error: must be one of closed, open",
        "state.timeout: must be a number of seconds greater than 0",
        "state.colour: unknown key",
        "state.ledger_path: must be a non-empty string",
    ):
        assert expected in text, text


DOC = """\
version: 1
nodes:
  n1: {url: "http://127.0.0.1:9001"}
models:
  m:
    backends: [{node: n1}]
    pricing:
      pre_deduct: -1
      colour: 1
state:
  backend: etcd
  redis_url: ${REDIS_URL}
  timeout: 0
keys:
  - name: a
    key: ${MISSING}
  - {name: b, hash: zz, rpm: fast}
"""


def test_sections_in_a_document_report_their_lines():
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(DOC), environ={})
    found = {f"{p.line}|{p.path}|{p.message}" for p in info.value.problems}
    assert found == {
        "8|models.m.pricing.pre_deduct|must be at least 0",
        "9|models.m.pricing.colour|unknown key",
        "11|state.backend|must be one of memory, redis, got 'etcd'",
        "12|state.redis_url|environment variable REDIS_URL is not set",
        "12|state.redis_url|must be a non-empty string",
        "13|state.timeout|must be a number of seconds greater than 0, got 0",
        "16|keys[0].key|environment variable MISSING is not set",
        "17|keys[1].hash|must be 64 hex digits (sha256 of the key)",
        "17|keys[1].rpm|must be int, got str",
    }


@pytest.mark.parametrize("key", ['""', '"  "', '"${EMPTY}"'])
def test_an_empty_key_is_reported_as_empty(key: str) -> None:
    text = textwrap.dedent(DOC).replace("${MISSING}", key)
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={"REDIS_URL": "redis://r:1/0", "EMPTY": ""})
    found = {f"{p.path}|{p.message}" for p in info.value.problems}
    assert "keys[0].key|is empty" in found


def test_a_continuing_model_keeps_its_reservation_for_every_node_it_may_stream_from():
    """A stream continued on the next node may take each node's `total` in turn (up to
    1 + retries nodes): the reservation must outlive them all, or the sweep charges it."""
    text = textwrap.dedent(DOC).replace(
        "      pre_deduct: -1\n      colour: 1\n", "      pre_deduct: 1\n"
    )
    text = text.replace("etcd", "redis").replace("timeout: 0", "timeout: 2")
    text = text.replace("${MISSING}", "${KEY_A:-plain}").replace("hash: zz, rpm: fast", "key: kb")
    continuing = text.replace(
        "    backends: [{node: n1}]\n",
        "    backends: [{node: n1}]\n    on_midstream_failure: continue\n",
    )
    continuing = continuing.replace(
        'n1: {url: "http://127.0.0.1:9001"}', 'n1: {url: "http://127.0.0.1:9001", retries: 2}'
    )
    config = parse_config(continuing, environ={"REDIS_URL": "redis://r:1/0"})
    assert config.state.reservation_ttl == 900.0 * 3 + 60


def test_sections_in_a_document_build_typed_objects():
    text = textwrap.dedent(DOC).replace(
        "      pre_deduct: -1\n      colour: 1\n", "      pre_deduct: 1\n"
    )
    text = text.replace("etcd", "redis").replace("timeout: 0", "timeout: 2")
    text = text.replace("${MISSING}", "${KEY_A:-plain}").replace("hash: zz, rpm: fast", "key: kb")
    config = parse_config(text, environ={"REDIS_URL": "redis://r:1/0"})
    assert config.models["m"].pricing == Pricing(pre_deduct=1_000_000)
    assert (config.state.backend, config.state.redis_url, config.state.timeout) == (
        "redis",
        "redis://r:1/0",
        2.0,
    )
    assert config.state.reservation_ttl == 900.0 + 60  # the longest total timeout + 60
    assert [(k.name, k.key_hash) for k in config.keys] == [
        ("a", hash_key("plain")),
        ("b", hash_key("kb")),
    ]


def test_a_state_section_that_is_not_a_mapping_is_reported():
    with pytest.raises(ConfigError, match="state: must be a mapping"):
        state(["redis"])
