"""routes.yaml's billing sections: `state:`, `keys:` and a model's `pricing:`.

Read with the same toolkit as the route table (router.config.checker), so each problem
names its YAML path and line. The wording of the messages is the one operators and the
tests know; this module only decides what is valid, billing decides what it means.
"""

from __future__ import annotations

import re
from typing import Any

from router.config.checker import Checker, Section
from router.config.credits import credits_to_micro
from router.config.keys import ALL_MODELS, KeyRecord, KeySpec, hash_key
from router.config.model import Pricing, StateConfig
from router.config.sentinel import RedisSentinel, read_sentinel
from router.config.source import Path
from router.config.suggest import did_you_mean

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_PRICE_FIELDS = ("pre_deduct", "prompt_per_1k", "completion_per_1k", "reasoning_per_1k")
AUTO = "auto"  # pricing.pre_deduct: reserve each request's worst case
_STATE_CHOICES = {"backend": ("memory", "redis"), "on_error": ("closed", "open")}


def read_pricing(checker: Checker, path: Path, raw: Any) -> Pricing:
    """One model's `pricing:` mapping (decimal credits) -> Pricing.

    `reasoning_per_1k` defaults to `completion_per_1k`: reasoning is output the model wrote.
    `pre_deduct` is a flat reservation, or `auto` (the default): each request's worst case.
    """
    if not isinstance(raw, dict):
        checker.report(path, "must be a mapping")
        return Pricing()
    section = Section(checker, path, raw)
    values: dict[str, int] = {}
    for name in _PRICE_FIELDS:
        if name == "pre_deduct" and section.raw_value(name) == AUTO:
            continue
        amount = _credits(section, name, or_auto=name == "pre_deduct")
        if amount is not None and amount < 0:
            checker.report(section.at(name), "must be at least 0")
        elif amount is not None:
            values[name] = amount
    section.close()
    values.setdefault("reasoning_per_1k", values.get("completion_per_1k", 0))
    return Pricing(**values)


def read_state(checker: Checker, path: Path, raw: Any) -> StateConfig:
    """routes.yaml `state:` -> StateConfig; strings take `${VAR}` substitution."""
    section = Section(checker, path, raw)

    def take(name: str) -> Any:
        value = section.raw_value(name)
        return checker.substitute(value, section.at(name)) if isinstance(value, str) else value

    values: dict[str, Any] = {}
    for name, allowed in _STATE_CHOICES.items():
        if section.has(name):
            value = take(name)
            if value in allowed:
                values[name] = value
            else:
                hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
                message = f"must be one of {', '.join(allowed)}, got {value!r}{hint}"
                checker.report(section.at(name), message)
    for name in ("redis_url", "ledger_path", "prefix"):
        value = take(name)
        if value is not None and (not isinstance(value, str) or not value):
            checker.report(section.at(name), "must be a non-empty string")
        elif value is not None:
            values[name] = value
    for name in ("reservation_ttl", "timeout"):
        if section.has(name):
            value = take(name)
            if _is_number(value) and value > 0:
                values[name] = float(value)
            else:
                message = f"must be a number of seconds greater than 0, got {value!r}"
                checker.report(section.at(name), message)
    if section.has("max_connections"):
        value = take("max_connections")
        if _is_number(value) and isinstance(value, int) and value >= 1:
            values["max_connections"] = value
        else:
            message = f"must be an integer of at least 1, got {value!r}"
            checker.report(section.at("max_connections"), message)
    if section.has("redis_sentinel"):
        values["redis_sentinel"] = _sentinel(section, values)
    section.close()
    return StateConfig(**values)


def _sentinel(section: Section, values: dict[str, Any]) -> RedisSentinel | None:
    """`redis_sentinel:`, which replaces `redis_url` and needs the Redis backend."""
    sentinel = read_sentinel(section.section("redis_sentinel"))
    if section.has("redis_url"):
        message = "give either redis_url or redis_sentinel, not both"
        section.checker.report(section.at("redis_sentinel"), message)
    elif values.get("backend") != "redis":
        section.checker.report(section.at("redis_sentinel"), "needs `backend: redis`")
    return sentinel


def read_keys(checker: Checker, path: Path, raw: Any) -> tuple[KeyRecord, ...]:
    """routes.yaml `keys:` (a list of mappings) -> static key records.

    Each entry has `name`, either `hash` (SHA-256 hex) or `key` (the plain key, usually
    `${VAR}`), and optional `models`, `rpm`, `tpm`, `max_concurrent`, `credits` (initial
    balance) and `disabled`.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        checker.report(path, "must be a list of keys")
        return ()
    out: list[KeyRecord] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for i, entry in enumerate(raw):
        at = (*path, i)
        record = _static_key(checker, at, entry)
        if record is None:
            continue
        if record.name in names:
            checker.report((*at, "name"), f"duplicate {record.name!r}")
        if record.key_hash in hashes:
            checker.report(at, "the same key is listed twice")
        names.add(record.name)
        hashes.add(record.key_hash)
        out.append(record)
    return tuple(out)


def _static_key(checker: Checker, at: Path, entry: Any) -> KeyRecord | None:
    if not isinstance(entry, dict):
        checker.report(at, "must be a mapping")
        return None
    section = Section(checker, at, entry)
    key_hash = _static_hash(section)
    fields: dict[str, Any] = {
        "name": _typed(section, "name", str) or "",
        "models": tuple(_typed(section, "models", list) or ALL_MODELS),
        "rpm": _typed(section, "rpm", int),
        "tpm": _typed(section, "tpm", int),
        "max_concurrent": _typed(section, "max_concurrent", int),
        "credits": _credits(section, "credits"),
        "disabled": bool(_typed(section, "disabled", bool)),
    }
    section.close()
    try:
        spec = KeySpec(**fields)
    except ValueError as exc:
        checker.report(at, str(exc))
        return None
    return None if key_hash is None else KeyRecord(spec, key_hash, is_static=True)


def _static_hash(section: Section) -> str | None:
    """The entry's key hash from `hash` or from the plain `key`; None after a problem."""
    has_hash, has_key = section.has("hash"), section.has("key")
    raw_hash, raw_key = section.raw_value("hash"), section.raw_value("key")
    if has_hash == has_key:
        section.checker.report(section.path, "needs exactly one of `hash` (sha256 hex) or `key`")
        return None
    if has_hash:
        value = str(raw_hash).strip().lower()
        if not _SHA256_HEX.match(value):
            section.checker.report(section.at("hash"), "must be 64 hex digits (sha256 of the key)")
            return None
        return value
    reported = len(section.checker.problems)
    plain = section.checker.substitute(str(raw_key), section.at("key"))
    if len(section.checker.problems) > reported:  # a variable it names is not set
        return None
    if not plain.strip():
        section.checker.report(section.at("key"), "is empty")
        return None
    return hash_key(plain.strip())


def _typed(section: Section, key: str, kind: type) -> Any:
    """The value if it is a `kind` (a list: of strings), else None after a problem."""
    value = section.raw_value(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        section.checker.report(
            section.at(key), f"must be {kind.__name__}, got {type(value).__name__}"
        )
        return None
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        section.checker.report(section.at(key), "must be a list of strings")
        return None
    return value


def _credits(section: Section, key: str, *, or_auto: bool = False) -> int | None:
    """Decimal credits -> micro-credits, or None (absent, or after a problem)."""
    value = section.raw_value(key)
    if value is None:
        return None
    try:
        return credits_to_micro(value)
    except ValueError as exc:
        message = str(exc)
        if or_auto:
            message = message.replace("must be a number", f"must be a number or {AUTO}")
        section.checker.report(section.at(key), message)
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
