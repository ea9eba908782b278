"""routes.yaml validation: every problem reported with its YAML path and line."""

from __future__ import annotations

import textwrap

import pytest

from router.config.loader import parse_config
from router.config.model import Strategy
from router.errors import ConfigError

GOOD = """\
version: 1
server: {port: 8081, max_body_mb: 8, keepalive_interval: 5}
defaults:
  timeouts: {connect: 1, first_byte: 30, idle: 60, total: 300}
  retries: 1
nodes:
  node62:
    url: http://127.0.0.1:9001
    api_key: ${NODE62_KEY}
    timeouts: {first_byte: 5}
    retries: 3
  node63: {url: "http://127.0.0.1:9002/base/", health: false}
  node64: {url: "http://127.0.0.1:9003"}
models:
  gemini-2.5-flash:
    aliases: [gemini]
    backends:
      - {node: node62, weight: 3}
      - {node: node63, weight: 1}
      - {node: node64, priority: 1, model: gemini-2.5-flash-001}
    fallbacks: [gemini-2.0-flash]
  gemini-2.0-flash:
    strategy: least_inflight
    backends: [{node: node64}]
  "gemini-*":
    backends: [{node: node63}]
"""


def parse(text: str, environ: dict[str, str] | None = None):
    env = {"NODE62_KEY": "sk-62"} if environ is None else environ
    return parse_config(textwrap.dedent(text), environ=env)


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    return [f"{p.line}|{p.path}|{p.message}" for p in info.value.problems]


def test_good_config_builds_typed_objects() -> None:
    config = parse(GOOD)
    node62 = config.nodes["node62"]
    assert node62.api_key == "sk-62"
    assert node62.timeouts.first_byte == 5
    assert node62.timeouts.connect == 1  # inherited from defaults
    assert node62.retries == 3
    assert config.nodes["node64"].retries == 1
    assert config.nodes["node63"].base_url == "http://127.0.0.1:9002/base"
    assert config.nodes["node63"].health.enabled is False
    assert config.server.max_body_bytes == 8 * 1024 * 1024
    flash = config.models["gemini-2.5-flash"]
    assert [b.node for b in flash.tiers[0]] == ["node62", "node63"]
    assert flash.tiers[1][0].upstream_model == "gemini-2.5-flash-001"
    assert config.models["gemini-2.0-flash"].strategy is Strategy.LEAST_INFLIGHT


def test_server_ui_defaults_to_on_and_can_be_switched_off() -> None:
    assert parse(GOOD).server.ui is True
    off = GOOD.replace("keepalive_interval: 5}", "keepalive_interval: 5, ui: false}")
    assert parse(off).server.ui is False


def test_server_timeouts_for_slow_clients_default_and_are_checked() -> None:
    assert (parse(GOOD).server.header_timeout, parse(GOOD).server.body_timeout) == (75.0, 60.0)
    quick = GOOD.replace("keepalive_interval: 5}", "keepalive_interval: 5, header_timeout: 10}")
    assert parse(quick).server.header_timeout == 10.0
    bad = GOOD.replace("keepalive_interval: 5}", "keepalive_interval: 5, header_timeout: 0}")
    assert [p.split("|")[1] for p in problems(bad)] == ["server.header_timeout"]


def test_resolve_exact_alias_glob_and_unknown() -> None:
    config = parse(GOOD)
    assert config.resolve("gemini-2.5-flash").name == "gemini-2.5-flash"
    assert config.resolve("gemini").name == "gemini-2.5-flash"
    assert config.resolve("gemini-2.0-flash").name == "gemini-2.0-flash"  # exact beats glob
    assert config.resolve("gemini-3-pro").name == "gemini-*"
    assert config.resolve("gpt-4o") is None
    assert "gemini-*" not in config.listed_models()
    assert {"gemini-2.5-flash", "gemini", "gemini-2.0-flash"} <= set(config.listed_models())


def test_unknown_node_names_path_and_line() -> None:
    text = GOOD.replace("{node: node63, weight: 1}", "{node: node99, weight: 1}")
    assert problems(text) == [
        "19|models.gemini-2.5-flash.backends[1].node|unknown node 'node99'",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: 1", "version: 2", "1|version|unsupported version 2"),
        ("server: {port: 8081", "server: {colour: red, port: 8081", "2|server.colour|unknown key"),
        ("retries: 1\n", "retries: -1\n", "5|defaults.retries|must be at least 0, got -1"),
        ("connect: 1,", "connect: fast,", "4|defaults.timeouts.connect|must be a number"),
        ("url: http://127.0.0.1:9001", "url: ftp://x", "8|nodes.node62.url|must be an http"),
        ("strategy: least_inflight", "strategy: random", "23|models.gemini-2.0-flash.strategy|"),
        (
            "fallbacks: [gemini-2.0-flash]",
            "fallbacks: [nope]",
            "21|models.gemini-2.5-flash.fallbacks[0]|unknown model",
        ),
        (
            "{node: node62, weight: 3}",
            "{node: node62, weight: 0}",
            "18|models.gemini-2.5-flash.backends[0].weight",
        ),
        ("aliases: [gemini]", "aliases: [gemini-2.0-flash]", "also a model name"),
        ("max_body_mb: 8", "max_body_mb: 0", "server.max_body_mb|must be greater than 0"),
        (
            "keepalive_interval: 5}",
            "keepalive_interval: 5, ui: 1}",
            "2|server.ui|must be true or false",
        ),
    ],
)
def test_each_problem_is_reported(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_missing_environment_variable_names_it() -> None:
    found = problems(GOOD, environ={})
    assert found == ["9|nodes.node62.api_key|environment variable NODE62_KEY is not set"]


def test_env_default_syntax() -> None:
    config = parse(GOOD.replace("${NODE62_KEY}", "${NODE62_KEY:-}"), environ={})
    assert config.nodes["node62"].api_key is None


def test_every_problem_listed_not_just_the_first() -> None:
    text = GOOD.replace("node: node63, weight: 1", "node: node99, weight: 1").replace(
        "retries: 1\n", "retries: x\n"
    )
    found = problems(text)
    assert len(found) == 2


def test_yaml_syntax_error_has_line() -> None:
    found = problems("version: 1\nnodes: [\n")
    assert (len(found) == 1 and found[0].startswith("3|")) or found[0].startswith("2|")


def test_duplicate_keys_rejected() -> None:
    found = problems("version: 1\nnodes: {}\nnodes: {}\n")
    assert found == ["3|nodes|duplicate key"]


def test_empty_document_needs_nodes_and_models() -> None:
    found = problems("version: 1\n")
    assert any("nodes|at least one node" in p for p in found)


def test_backend_listed_twice_in_a_tier() -> None:
    text = GOOD.replace("{node: node63, weight: 1}", "{node: node62, weight: 1}")
    assert any("listed twice" in p for p in problems(text))


def test_render_is_file_line_path_message() -> None:
    text = GOOD.replace("node: node63, weight: 1", "node: node99, weight: 1")
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="routes.yaml", environ={"NODE62_KEY": "k"})
    assert info.value.render() == (
        "routes.yaml:19: models.gemini-2.5-flash.backends[1].node: unknown node 'node99'"
    )


def test_secrets_not_in_repr() -> None:
    config = parse(GOOD)
    assert "sk-62" not in repr(config.nodes["node62"])
