"""routes.yaml -> `Config`, reporting every problem with its YAML path and line.

Validation never stops at the first problem: a `Checker` collects them all, then
`load_config` raises one `ConfigError`. Each section is read through a `Section`, which
knows its path, takes the keys it understands and reports the ones it does not (an
unknown key is an error, never silently ignored). `${VAR}` and `${VAR:-default}` in any
string come from the `environ` mapping passed in, so tests pass their own.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path as FsPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

from router.billing.keys import KeyRecord, parse_static_keys
from router.billing.pricing import Pricing, parse_pricing
from router.billing.state.base import StateConfig
from router.config.model import (
    Backend,
    Config,
    Defaults,
    Ejection,
    HealthCheck,
    ModelRoute,
    NodeConfig,
    RetryBudget,
    ServerConfig,
    Strategy,
    Timeouts,
)
from router.config.source import Located, Path, Problem, YamlSyntaxError, format_path, load_located
from router.errors import ConfigError

T = TypeVar("T")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NODE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_MISSING = object()


@dataclass
class Checker:
    """Collects problems while a document is read."""

    doc: Located
    environ: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: Path, message: str) -> None:
        self.problems.append(Problem(format_path(path), message, self.doc.line_of(path)))

    def adopt(self, error: ConfigError) -> None:
        """Take the problems of a section parsed elsewhere, adding their line numbers."""
        lines = {format_path(path): line for path, line in self.doc.lines.items()}
        for p in error.problems:
            path = p.path
            line = p.line
            while line is None and path:
                line = lines.get(path)
                path = path.rpartition(".")[0] if "[" not in path[-1:] else path[: path.rfind("[")]
            self.problems.append(Problem(p.path, p.message, line))

    def substitute(self, value: str, path: Path) -> str:
        """Replace `${VAR}` / `${VAR:-default}`; a missing variable is a problem naming it."""

        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = self.environ.get(name)
            if found is not None:
                return found
            if default is not None:
                return default
            self.report(path, f"environment variable {name} is not set")
            return ""

        return _ENV_REF.sub(one, value) if "${" in value else value


class Section:
    """One YAML mapping being read: typed getters plus an unknown-key check in `close`."""

    def __init__(self, checker: Checker, path: Path, raw: Any) -> None:
        self.checker = checker
        self.path = path
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            checker.report(path, f"must be a mapping, got {_kind(raw)}")
            raw = {}
        self.raw: dict[str, Any] = raw
        self.seen: set[str] = set()

    def at(self, key: str | int) -> Path:
        return (*self.path, key)

    def has(self, key: str) -> bool:
        return key in self.raw

    def raw_value(self, key: str) -> Any:
        self.seen.add(key)
        return self.raw.get(key)

    def section(self, key: str) -> Section:
        return Section(self.checker, self.at(key), self.raw_value(key))

    def string(self, key: str, default: Any = _MISSING) -> Any:
        value = self._take(key, default)
        if value is _MISSING or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return self._bad(key, "a string", value, default)
        return self.checker.substitute(str(value), self.at(key))

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        value = self._take(key, default)
        if value is _MISSING or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            return self._bad(key, "an integer", value, default)
        if minimum is not None and value < minimum:
            self.checker.report(self.at(key), f"must be at least {minimum}, got {value}")
            return default
        return value

    def number(self, key: str, default: Any = _MISSING, *, positive: bool = False) -> Any:
        value = self._take(key, default)
        if value is _MISSING or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._bad(key, "a number", value, default)
        if value < 0 or (positive and value == 0):
            word = "greater than 0" if positive else "at least 0"
            self.checker.report(self.at(key), f"must be {word}, got {value}")
            return default
        return float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self._take(key, default)
        if value is _MISSING or value is default:
            return value
        if not isinstance(value, bool):
            return self._bad(key, "true or false", value, default)
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._take(key, None)
        if value is None:
            return default
        if not isinstance(value, list):
            self._bad(key, "a list of strings", value, default)
            return default
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                out.append(self.checker.substitute(item, (*self.at(key), i)))
            else:
                self.checker.report(
                    (*self.at(key), i), f"must be a non-empty string, got {_kind(item)}"
                )
        return tuple(out)

    def close(self) -> None:
        """Report every key nobody asked for."""
        for key in self.raw:
            if key not in self.seen:
                self.checker.report(self.at(key), "unknown key")

    def _take(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.raw or self.raw[key] is None:
            if default is _MISSING:
                self.checker.report(self.at(key), "is required")
            return default
        return self.raw[key]

    def _bad(self, key: str, wanted: str, value: Any, default: Any) -> Any:
        self.checker.report(self.at(key), f"must be {wanted}, got {_kind(value)}")
        return default


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"


# --- sections -------------------------------------------------------------------------

D = TypeVar("D", Timeouts, HealthCheck, Ejection, RetryBudget)


def _read_numbers(section: Section, base: D, *, integers: frozenset[str] = frozenset()) -> D:
    """Override the fields of a small all-number dataclass from a mapping, keeping `base`."""
    changes: dict[str, Any] = {}
    for f in fields(base):
        if f.name == "enabled" or not section.has(f.name):
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
    return replace(health, enabled=True)


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


def _server(section: Section) -> ServerConfig:
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
    )
    section.close()
    return server


def _defaults(section: Section) -> Defaults:
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
    )
    section.close()
    return defaults


def _node(name: str, section: Section, defaults: Defaults) -> NodeConfig:
    if not _NODE_NAME.match(name):
        section.checker.report(section.path, "node names may use letters, digits, '_', '.', '-'")
    url = section.string("url", "")
    parts = urlsplit(url) if url else None
    if url and (parts is None or parts.scheme not in ("http", "https") or not parts.hostname):
        section.checker.report(section.at("url"), "must be an http:// or https:// URL with a host")
    node = NodeConfig(
        name=name,
        url=url,
        api_key=section.string("api_key", None) or None,
        max_inflight=section.integer("max_inflight", 512, minimum=1),
        timeouts=_timeouts(section.section("timeouts"), defaults.timeouts),
        retries=section.integer("retries", defaults.retries, minimum=0),
        health=_health(section, "health", defaults.health),
        ejection=_ejection(section, "ejection", defaults.ejection),
    )
    section.close()
    return node


def _backend(section: Section, nodes: Mapping[str, NodeConfig]) -> Backend:
    node = section.string("node", "")
    if node and node not in nodes:
        section.checker.report(section.at("node"), f"unknown node {node!r}")
    backend = Backend(
        node=node,
        weight=section.integer("weight", 1, minimum=1),
        priority=section.integer("priority", 0, minimum=0),
        upstream_model=section.string("model", None) or None,
    )
    section.close()
    return backend


def _model(name: str, section: Section, nodes: Mapping[str, NodeConfig]) -> ModelRoute:
    strategy_name = section.string("strategy", Strategy.WEIGHTED.value)
    try:
        strategy = Strategy(strategy_name)
    except ValueError:
        choices = " | ".join(s.value for s in Strategy)
        section.checker.report(
            section.at("strategy"), f"unknown strategy {strategy_name!r} (use {choices})"
        )
        strategy = Strategy.WEIGHTED
    backends: list[Backend] = []
    raw_backends = section.raw_value("backends")
    if not isinstance(raw_backends, list) or not raw_backends:
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
        try:
            pricing = parse_pricing(raw_pricing, section.at("pricing"))
        except ConfigError as exc:
            section.checker.adopt(exc)
    route = ModelRoute(
        name=name,
        backends=tuple(backends),
        aliases=section.strings("aliases"),
        strategy=strategy,
        fallbacks=section.strings("fallbacks"),
        inject_usage=section.boolean("inject_usage", True),
        pricing=pricing,
    )
    section.close()
    return route


def _cross_check(checker: Checker, models: Mapping[str, ModelRoute]) -> None:
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
        for i, fallback in enumerate(route.fallbacks):
            if fallback == name:
                checker.report(
                    ("models", name, "fallbacks", i), "a model cannot fall back to itself"
                )
            elif fallback not in models and fallback not in owner:
                checker.report(("models", name, "fallbacks", i), f"unknown model {fallback!r}")


# --- entry points -----------------------------------------------------------------------


def parse_config(
    text: str,
    *,
    source: str = "routes.yaml",
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate YAML text and build a `Config`; raises ConfigError listing every problem."""
    try:
        doc = load_located(text)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.problem], source) from exc
    checker = Checker(doc, os.environ if environ is None else environ)
    top = Section(checker, (), doc.data)
    version = top.integer("version", 1)
    if version != 1:
        checker.report(("version",), f"unsupported version {version} (this router reads version 1)")
    server = _server(top.section("server"))
    defaults = _defaults(top.section("defaults"))

    nodes: dict[str, NodeConfig] = {}
    node_section = top.section("nodes")
    for name in node_section.raw:
        node_section.seen.add(name)
        nodes[name] = _node(name, node_section.section(name), defaults)
    if not nodes and not checker.problems:
        checker.report(("nodes",), "at least one node is required")

    models: dict[str, ModelRoute] = {}
    model_section = top.section("models")
    for name in model_section.raw:
        model_section.seen.add(name)
        models[name] = _model(name, model_section.section(name), nodes)
    if not models and not checker.problems:
        checker.report(("models",), "at least one model is required")
    _cross_check(checker, models)
    state = StateConfig()
    try:
        raw_state = top.raw_value("state")
        if isinstance(raw_state, dict):
            raw_state = {
                k: checker.substitute(v, ("state", k)) if isinstance(v, str) else v
                for k, v in raw_state.items()
            }
        state = StateConfig.from_mapping(raw_state)
    except ConfigError as exc:
        checker.adopt(exc)
    if "reservation_ttl" not in (top.raw.get("state") or {}):
        # A reservation must outlive the longest request it covers.
        longest = max([n.timeouts.total for n in nodes.values()] or [defaults.timeouts.total])
        state = replace(state, reservation_ttl=longest + 60)
    if state.backend == "memory" and state.ledger_path is None:
        # The memory backend's ledger sits beside routes.yaml unless told otherwise.
        folder = FsPath(source).parent if source != "<memory>" else FsPath(".")
        state = replace(state, ledger_path=str(folder / "usage.jsonl"))
    keys: tuple[KeyRecord, ...] = ()
    try:
        keys = parse_static_keys(top.raw_value("keys"), environ=checker.environ)
    except ConfigError as exc:
        checker.adopt(exc)
    top.close()
    if checker.problems:
        raise ConfigError(checker.problems, source)
    return Config.build(
        version=version,
        server=server,
        defaults=defaults,
        nodes=nodes,
        models=models,
        source=source,
        state=state,
        keys=keys,
    )


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a routes.yaml file."""
    file = FsPath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {file}: {exc.strerror}")], str(file)) from exc
    return parse_config(text, source=str(file), environ=environ)
