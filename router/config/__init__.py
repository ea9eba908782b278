"""The route table's typed model, built once from routes.yaml.

Holds: `model` (frozen, slotted dataclasses for every section: server, defaults, nodes,
models, state, keys, pricing), `source` (YAML that remembers lines), `loader` (validation
with YAML path and line, `${VAR}` substitution).

May import: router.errors only. Pure: no file is read except by `load_config`.
"""
