"""API key records as routes.yaml declares them and the state stores keep them.

Pure. Keys are only ever kept as SHA-256 hex digests (`hash_key`); a `KeySpec` validates
itself on construction, so a store never holds a key that routes.yaml could not declare.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml

from router.config.credits import format_credits, micro_to_credits

ALL_MODELS: tuple[str, ...] = ("*",)
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What an operator asks for when creating a key (`credits` in micro-credits)."""

    name: str
    models: tuple[str, ...] = ALL_MODELS
    rpm: int | None = None
    tpm: int | None = None  # tokens per minute (settled usage + in-flight estimates)
    max_concurrent: int | None = None
    credits: int | None = None
    disabled: bool = False

    def __post_init__(self) -> None:
        problem = spec_problem(self)
        if problem is not None:
            raise ValueError(problem)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key: its spec, its hash and (in `spec.credits`) the current balance."""

    spec: KeySpec
    key_hash: str
    is_static: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self) -> dict[str, Any]:
        """The shape `router keys show` prints (credits as a number, None = unlimited)."""
        s = self.spec
        return {
            "name": s.name,
            "models": list(s.models),
            "rpm": s.rpm,
            "tpm": s.tpm,
            "max_concurrent": s.max_concurrent,
            "credits": None if s.credits is None else micro_to_credits(s.credits),
            "disabled": s.disabled,
            "static": self.is_static,
        }


def spec_problem(spec: KeySpec) -> str | None:
    """What is wrong with a spec, or None."""
    if not _NAME.match(spec.name):
        return f"name {spec.name!r} must be 1-64 of A-Z a-z 0-9 _ . @ -"
    if not spec.models or any(not g for g in spec.models):
        return "models must be a non-empty list of non-empty globs"
    if spec.rpm is not None and spec.rpm < 1:
        return f"rpm must be at least 1, got {spec.rpm}"
    if spec.tpm is not None and spec.tpm < 1:
        return f"tpm must be at least 1, got {spec.tpm}"
    if spec.max_concurrent is not None and spec.max_concurrent < 1:
        return f"max_concurrent must be at least 1, got {spec.max_concurrent}"
    return None


def static_entry(spec: KeySpec, key_hash: str) -> str:
    """One `keys:` entry of routes.yaml, on one line (the key's digest, never the key)."""
    entry: dict[str, Any] = {"name": spec.name, "hash": key_hash}
    if spec.models != ALL_MODELS:
        entry["models"] = list(spec.models)
    for field in ("rpm", "tpm", "max_concurrent"):
        if getattr(spec, field) is not None:
            entry[field] = getattr(spec, field)
    if spec.credits is not None:
        text = format_credits(spec.credits)
        entry["credits"] = float(text) if "." in text else int(text)
    if spec.disabled:
        entry["disabled"] = True
    dumped: str = yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=10**6)
    return dumped.strip()
