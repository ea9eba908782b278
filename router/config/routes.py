"""routes.yaml's route table: server, defaults, nodes and models, read section by section.

Each reader takes a `Section` (router.config.checker) and returns a frozen object,
reporting problems rather than raising; `cross_check` runs once every model is read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from router.config.affinity import read_affinity
from router.config.checker import Checker, Section
from router.config.hedging import read_hedge
from router.config.metering import read_pricing
from router.config.model import (
    Backend,
    Defaults,
    Ejection,
    HealthCheck,
    MidstreamPolicy,
    ModelRoute,
    NodeConfig,
    Pricing,
    RetryBudget,
    ServerConfig,
    Strategy,
    Timeouts,
    TokenLimits,
)
from router.config.retrying import read_fallbacks_on, read_retry_wait, read_same_node
from router.config.source import Path
from router.config.suggest import did_you_mean
from router.dialects.names import DEFAULT_NODE_DIALECT, DialectName, node_dialects

_NODE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

D = TypeVar("D", Timeouts, HealthCheck, Ejection, RetryBudget)
_Choice = TypeVar("_Choice", Strategy, MidstreamPolicy)


def _read_numbers(section: Section, base: D, *, integers: frozenset[str] = frozenset()) -> D:
    """Override the fields of a small all-number dataclass from a mapping, keeping `base`."""
    changes: dict[str, Any] = {}
    for f in fields(base):
        if f.name in ("enabled", "path_chosen") or not section.has(f.name):
            continue
        if f.name in integers:
            changes[f.name] = section.integer(f.name, getattr(base, f.name), minimum=1)
        elif f.name == "path":
            changes[f.name] = section.string(f.name, getattr(base, f.name))
        else:
            positive = f.name not in ("max_percent", "percent")
            changes[f.name] = section.number(f.name, getattr(base, f.name), positive=positive)
    section.close()
    return replace(base, **changes)


def _timeouts(section: Section, base: Timeouts) -> Timeouts:
    return _read_numbers(section, base)


def _health(parent: Section, key: str, base: HealthCheck) -> HealthCheck:
    raw = parent.raw_value(key)
    if raw is False:
        return replace(base, enabled=False)
    if raw is True or raw is None:
        return replace(base, enabled=True) if raw is True else base
    section = Section(parent.checker, parent.at(key), raw)
    ints = frozenset({"unhealthy_threshold", "healthy_threshold"})
    health = _read_numbers(section, base, integers=ints)
    if not health.path.startswith("/"):
        parent.checker.report((*parent.at(key), "path"), "must start with '/'")
    chosen = health.path_chosen or section.has("path")
    return replace(health, enabled=True, path_chosen=chosen)


def _ejection(parent: Section, key: str, base: Ejection) -> Ejection:
    ejection = _read_numbers(
        parent.section(key), base, integers=frozenset({"consecutive_failures"})
    )
    if ejection.max_percent > 100:
        parent.checker.report((*parent.at(key), "max_percent"), "must be at most 100")
    if ejection.max_seconds < ejection.base_seconds:
        parent.checker.report(
            (*parent.at(key), "max_seconds"), "must not be less than base_seconds"
        )
    return ejection


def read_server(section: Section) -> ServerConfig:
    base = ServerConfig()
    prefixes = section.strings("prefixes", base.prefixes)
    for i, prefix in enumerate(prefixes):
        if not prefix.startswith("/") or prefix.endswith("/"):
            section.checker.report(
                (*section.at("prefixes"), i), "must start with '/' and not end with '/'"
            )
    proxies = section.strings("trusted_proxies", ())
    for i, cidr in enumerate(proxies):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            section.checker.report((*section.at("trusted_proxies"), i), f"not a CIDR: {cidr!r}")
    port = section.integer("port", base.port, minimum=0)
    if port > 65535:
        section.checker.report(section.at("port"), f"must be at most 65535, got {port}")
    server = ServerConfig(
        host=section.string("host", base.host),
        port=port,
        max_body_mb=section.number("max_body_mb", base.max_body_mb, positive=True),
        prefixes=prefixes,
        keepalive_interval=section.number(
            "keepalive_interval", base.keepalive_interval, positive=True
        ),
        shutdown_delay=section.number("shutdown_delay", base.shutdown_delay),
        shutdown_grace=section.number("shutdown_grace", base.shutdown_grace),
        admin_token=section.string("admin_token", None) or None,
        trusted_proxies=proxies,
        ui=section.boolean("ui", base.ui),
        public_models=section.boolean("public_models", base.public_models),
        body_timeout=section.number("body_timeout", base.body_timeout, positive=True),
        header_timeout=section.number("header_timeout", base.header_timeout, positive=True),
        write_timeout=section.number("write_timeout", base.write_timeout, positive=True),
        node_headers=tuple(name.lower() for name in section.strings("node_headers", ())),
    )
    section.close()
    return server


def read_defaults(section: Section) -> Defaults:
    base = Defaults()
    defaults = Defaults(
        timeouts=_timeouts(section.section("timeouts"), base.timeouts),
        retries=section.integer("retries", base.retries, minimum=0),
        health=_health(section, "health", base.health),
        ejection=_ejection(section, "ejection", base.ejection),
        retry_budget=_read_numbers(
            section.section("retry_budget"),
            base.retry_budget,
            integers=frozenset({"min_concurrent"}),
        ),
        retry_same_node=read_same_node(section, "retry_same_node", base.retry_same_node),
        retry_wait=read_retry_wait(section, "retry_wait", base.retry_wait),
    )
    section.close()
    return defaults


def read_node(name: str, section: Section, defaults: Defaults) -> NodeConfig:
    if not _NODE_NAME.match(name):
        section.checker.report(section.path, "node names may use letters, digits, '_', '.', '-'")
    given = section.string("url", None)
    if given is None:
        section.report_missing("url")
    url, basic_auth = _split_userinfo(given or "")
    parts = urlsplit(url) if url else None
    if given is not None and (
        parts is None or parts.scheme not in ("http", "https") or not parts.hostname
    ):
        section.checker.report(section.at("url"), "must be an http:// or https:// URL with a host")
    api_key = section.string("api_key", None) or None
    if basic_auth is not None and api_key is not None:
        section.checker.report(
            section.at("url"),
            "has a user and password (Basic auth) and the node has an api_key (Bearer): "
            "both set the Authorization header, use one",
        )
    node = NodeConfig(
        name=name,
        url=url,
        api_key=api_key,
        basic_auth=basic_auth,
        max_inflight=section.integer("max_inflight", 512, minimum=1),
        timeouts=_timeouts(section.section("timeouts"), defaults.timeouts),
        retries=section.integer("retries", defaults.retries, minimum=0),
        health=_health(section, "health", defaults.health),
        ejection=_ejection(section, "ejection", defaults.ejection),
        retry_same_node=read_same_node(section, "retry_same_node", defaults.retry_same_node),
        retry_wait=read_retry_wait(section, "retry_wait", defaults.retry_wait),
        speaks=_speaks(section),
    )
    section.close()
    return node


def _speaks(section: Section) -> frozenset[DialectName]:
    """`dialect:` of a node: a dialect, a list of them, or `both` (the default)."""
    raw = section.raw_value("dialect")
    try:
        return node_dialects(DEFAULT_NODE_DIALECT if raw is None else raw)
    except ValueError as exc:
        section.checker.report(section.at("dialect"), str(exc))
        return node_dialects(DEFAULT_NODE_DIALECT)


def _split_userinfo(url: str) -> tuple[str, str | None]:
    """`http://user:pass@host/path` -> (`http://host/path`, "user:pass" percent-decoded);
    the credentials are sent as Basic auth and never kept in the URL, which is shown,
    logged and used to name the node."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    credentials = f"{unquote(user)}:{unquote(password)}"
    return urlunsplit(parts._replace(netloc=host)), credentials


def _backend(section: Section, nodes: Mapping[str, NodeConfig]) -> Backend:
    node = section.string("node", "")
    # With no node read at all (`nodes:` missing or misspelt) that is the one problem
    # named, not an "unknown node" for every backend.
    if node and nodes and node not in nodes:
        hint = did_you_mean(node, nodes)
        section.checker.report(section.at("node"), f"unknown node {node!r}{hint}")
    backend = Backend(
        node=node,
        weight=section.integer("weight", 1, minimum=1),
        priority=section.integer("priority", 0, minimum=0),
        upstream_model=section.string("model", None) or None,
    )
    section.close()
    return backend


def _limits(section: Section) -> TokenLimits:
    """`limits: {input_tokens, output_tokens}`: what the model endpoints report."""
    limits = TokenLimits(
        input_tokens=section.integer("input_tokens", None, minimum=1),
        output_tokens=section.integer("output_tokens", None, minimum=1),
    )
    section.close()
    return limits


def _choice(section: Section, key: str, kind: type[_Choice], default: _Choice) -> _Choice:
    """A string setting that must name one member of the enum `kind`."""
    name = section.string(key, default.value)
    try:
        return kind(name)
    except ValueError:
        choices = " | ".join(member.value for member in kind)
        hint = did_you_mean(name, (member.value for member in kind))
        section.checker.report(section.at(key), f"unknown {key} {name!r}{hint} (use {choices})")
        return default


def read_model(name: str, section: Section, nodes: Mapping[str, NodeConfig]) -> ModelRoute:
    strategy = _choice(section, "strategy", Strategy, Strategy.WEIGHTED)
    backends: list[Backend] = []
    raw_backends = section.raw_value("backends")
    if raw_backends is None:
        section.report_missing("backends", "must be a non-empty list of backends")
    elif not isinstance(raw_backends, list) or not raw_backends:
        section.checker.report(section.at("backends"), "must be a non-empty list of backends")
    else:
        for i, raw in enumerate(raw_backends):
            backends.append(
                _backend(Section(section.checker, (*section.at("backends"), i), raw), nodes)
            )
    seen: set[tuple[str, int]] = set()
    for i, backend in enumerate(backends):
        if (backend.node, backend.priority) in seen:
            section.checker.report(
                (*section.at("backends"), i, "node"),
                f"node {backend.node!r} is listed twice in priority tier {backend.priority}",
            )
        seen.add((backend.node, backend.priority))
    pricing: Pricing | None = None
    raw_pricing = section.raw_value("pricing")
    if raw_pricing is not None:
        pricing = read_pricing(section.checker, section.at("pricing"), raw_pricing)
    route = ModelRoute(
        name=name,
        backends=tuple(backends),
        aliases=section.strings("aliases"),
        strategy=strategy,
        fallbacks=section.strings("fallbacks"),
        inject_usage=section.boolean("inject_usage", True),
        pricing=pricing,
        limits=_limits(section.section("limits")),
        affinity=read_affinity(section.section("affinity")),
        hedge=read_hedge(section.section("hedge")),
        fallbacks_on=read_fallbacks_on(section.section("fallbacks_on")),
        on_midstream_failure=_choice(
            section, "on_midstream_failure", MidstreamPolicy, MidstreamPolicy.ERROR
        ),
        prefill=section.boolean("prefill", True),
    )
    section.close()
    return route


def cross_check(checker: Checker, models: Mapping[str, ModelRoute]) -> None:
    """Aliases unique and not shadowing model names; fallbacks name existing models."""
    owner: dict[str, str] = {}
    for name, route in models.items():
        for i, alias in enumerate(route.aliases):
            path: Path = ("models", name, "aliases", i)
            if alias in models and alias != name:
                checker.report(path, f"alias {alias!r} is also a model name")
            elif alias in owner and owner[alias] != name:
                checker.report(path, f"alias {alias!r} is already used by model {owner[alias]!r}")
            owner.setdefault(alias, name)
    for name, route in models.items():  # every alias is known: a fallback may name one
        for i, fallback in enumerate(route.fallbacks):
            if fallback == name:
                checker.report(
                    ("models", name, "fallbacks", i), "a model cannot fall back to itself"
                )
            elif fallback not in models and fallback not in owner:
                hint = did_you_mean(fallback, [*models, *owner])
                checker.report(
                    ("models", name, "fallbacks", i), f"unknown model {fallback!r}{hint}"
                )
        for code, targets in route.fallbacks_on:
            for i, target in enumerate(targets):
                path = ("models", name, "fallbacks_on", code, i)
                if target == name or target in route.aliases:
                    checker.report(path, "a model cannot fall back to itself")
                elif target not in models and target not in owner:
                    hint = did_you_mean(target, [*models, *owner])
                    checker.report(path, f"unknown model {target!r}{hint}")
