"""routes.yaml -> `Config`, reporting every problem with its YAML path and line.

Validation never stops at the first problem: one `Checker` (router.config.checker)
collects them all while the route table (router.config.routes) and the billing sections
(router.config.metering) are read, then `parse_config` raises one `ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path as FsPath

from router.config.checker import Checker, Section, unset_variable
from router.config.metering import read_keys, read_state
from router.config.model import (
    Config,
    Defaults,
    MidstreamPolicy,
    ModelRoute,
    NodeConfig,
    StateConfig,
)
from router.config.observability import read_observability
from router.config.routes import cross_check, read_defaults, read_model, read_node, read_server
from router.config.source import YamlSyntaxError, load_located
from router.errors import ConfigError, Problem

# Every top-level key routes.yaml may hold, checked before the sections are read (so a
# misspelt section is the first problem named): a new section is added here too.
TOP_LEVEL_KEYS = (
    "version",
    "server",
    "defaults",
    "nodes",
    "models",
    "state",
    "keys",
    "observability",
)


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
    top.reject_unknown(TOP_LEVEL_KEYS)
    version = top.integer("version", 1)
    if version != 1:
        checker.report(("version",), f"unsupported version {version} (this router reads version 1)")
    server = read_server(top.section("server"))
    defaults = read_defaults(top.section("defaults"))
    nodes = _nodes(top.section("nodes"), defaults)
    models = _models(top.section("models"), nodes)
    cross_check(checker, models)
    state = _state(top, nodes, models, defaults, source)
    keys = read_keys(checker, top.at("keys"), top.raw_value("keys"))
    observability = read_observability(top.section("observability"))
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
        observability=observability,
    )


def _nodes(section: Section, defaults: Defaults) -> dict[str, NodeConfig]:
    nodes: dict[str, NodeConfig] = {}
    for name in section.raw:
        section.seen.add(name)
        nodes[name] = read_node(name, section.section(name), defaults)
    if not nodes and not section.checker.problems:
        section.checker.report(section.path, "at least one node is required")
    return nodes


def _models(section: Section, nodes: Mapping[str, NodeConfig]) -> dict[str, ModelRoute]:
    models: dict[str, ModelRoute] = {}
    for name in section.raw:
        section.seen.add(name)
        models[name] = read_model(name, section.section(name), nodes)
    if not models and not section.checker.problems:
        section.checker.report(section.path, "at least one model is required")
    return models


def _state(
    top: Section,
    nodes: Mapping[str, NodeConfig],
    models: Mapping[str, ModelRoute],
    defaults: Defaults,
    source: str,
) -> StateConfig:
    """`state:`, with the defaults that depend on the rest of the file filled in."""
    raw = top.raw_value("state")
    state = read_state(top.checker, top.at("state"), raw)
    if not isinstance(raw, dict) or "reservation_ttl" not in raw:
        # A reservation must outlive the longest request it covers: one node's `total`,
        # or, for a stream continued node after node, one `total` per node it may reach.
        longest = max([n.timeouts.total for n in nodes.values()] or [defaults.timeouts.total])
        if any(m.on_midstream_failure is MidstreamPolicy.CONTINUE for m in models.values()):
            most = max([n.retries for n in nodes.values()] or [defaults.retries])
            longest *= 1 + most
        state = replace(state, reservation_ttl=longest + 60)
    if state.backend == "memory" and state.ledger_path is None:
        # The memory backend's ledger sits beside routes.yaml unless told otherwise.
        folder = FsPath(source).parent if source != "<memory>" else FsPath(".")
        state = replace(state, ledger_path=str(folder / "usage.jsonl"))
    return state


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a routes.yaml file."""
    file = FsPath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {file}: {exc.strerror}")], str(file)) from exc
    return parse_config(text, source=str(file), environ=environ)


def load_sections(
    path: str | os.PathLike[str],
    sections: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read routes.yaml for a command that uses only `sections` (`router keys`: state and
    keys): a `${VAR}` left unset anywhere else is not its problem, so it reads as empty.
    Every other problem, and an unset variable inside `sections`, still fails."""
    env = os.environ if environ is None else environ
    try:
        return load_config(path, env)
    except ConfigError as exc:
        unused: dict[str, str] = {}
        kept = []
        for problem in exc.problems:
            name = unset_variable(problem)
            inside = problem.path.split(".", 1)[0].split("[", 1)[0] in sections
            if name is None or inside:
                kept.append(problem)
            else:
                unused[name] = ""
        if kept:  # only what matters to the command: not the variables it does not use
            raise ConfigError(kept, exc.source) from None
        return load_config(path, {**env, **unused})
