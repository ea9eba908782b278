"""`router keys ...` and `router usage ...`: manage API keys and read the usage ledger.

    router keys create --name team-a --credits 10000 --rpm 600 --models 'gemini-*'
    router keys list | show NAME | credit NAME +5000 | disable NAME
    router usage --key team-a --since 1h

The commands talk to the configured state backend. On Redis every command works in place.
The memory backend lives inside one router process and takes its keys from routes.yaml:
`create` prints the key and the `keys:` entry to paste there, `list`/`show` give the
balances rebuilt from the ledger (as the router does at start), `credit`/`disable` are
refused (edit routes.yaml and reload).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import orjson

from router.billing.keys import new_key
from router.billing.state import StateStore, open_store
from router.billing.state.ledger import parse_since, summarize
from router.config.credits import credits_to_micro, format_credits, micro_to_credits
from router.config.keys import ALL_MODELS, KeyRecord, KeySpec, hash_key, static_entry
from router.config.model import StateConfig
from router.errors import KeyExists, KeyNotFound, StateError, StateUnavailable, UnlimitedCredits

_REDIS_ONLY = frozenset({"credit", "disable"})


def add_keys_arguments(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `keys` and `usage` commands to the top-level subparsers."""
    keys = subparsers.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = keys_sub.add_parser(name, help=help_text)
        parser.add_argument("--config", default="routes.yaml", help="path to routes.yaml")
        return parser

    create = action("create", "create a key and print it (the only time it is shown)")
    create.add_argument("--name", required=True)
    create.add_argument("--credits", help="initial balance in credits (default: unlimited)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--max-concurrent", type=int, help="requests in flight at once")
    create.add_argument(
        "--models", action="append", help="allowed model globs, comma-separated or repeated"
    )
    listing = action("list", "list keys")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    action("show", "show one key as JSON, with its current balance").add_argument("name")
    credit = action("credit", "add credits (+N) or take them away (-N)")
    credit.add_argument("name")
    credit.add_argument("amount", help="credits, signed: +5000, -250, 12.5")
    action("disable", "refuse a key from now on").add_argument("name")

    usage = subparsers.add_parser("usage", help="sum the usage ledger")
    usage.add_argument("--config", default="routes.yaml", help="path to routes.yaml")
    usage.add_argument("--key", help="only this key (default: every key)")
    usage.add_argument("--since", default="24h", help="look back this far: 30m, 1h, 7d")


def run_keys(
    args: argparse.Namespace,
    state_config: StateConfig,
    static_keys: Sequence[KeyRecord] = (),
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Run a parsed `keys` or `usage` command; returns the exit code."""
    # The streams of the moment (not of import time: a caller may have redirected them).
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    command = args.keys_command if args.command == "keys" else "usage"
    memory = state_config.backend != "redis"
    if command in _REDIS_ONLY and memory:
        err.write(
            f"router keys {command} needs `state: {{backend: redis}}`: on the memory backend "
            "routes.yaml's `keys:` hold the keys and their credits; edit it and reload "
            "the router\n"
        )
        return 2
    try:
        if command == "create" and memory:
            return _create_static(args, static_keys, out, err)
        return asyncio.run(_run(command, args, state_config, static_keys, out, err, clock))
    except (StateError, ValueError) as exc:
        err.write(f"router {args.command}: {_describe(exc)}\n")
        return 1


def _create_static(
    args: argparse.Namespace, static_keys: Sequence[KeyRecord], out: TextIO, err: TextIO
) -> int:
    """Memory backend: a new key, and the routes.yaml entry that makes it work."""
    spec = _spec(args)
    if any(record.name == spec.name for record in static_keys):
        raise KeyExists(spec.name)
    plain = new_key()
    out.write(plain + "\n")
    out.flush()  # the key first, as a terminal shows both streams
    err.write(
        "memory backend: routes.yaml lists the keys; paste this under `keys:` and reload "
        f"the router:\n  - {static_entry(spec, hash_key(plain))}\n"
    )
    return 0


async def _run(
    command: str,
    args: argparse.Namespace,
    config: StateConfig,
    static_keys: Sequence[KeyRecord],
    out: TextIO,
    err: TextIO,
    clock: Callable[[], float],
) -> int:
    store = await open_store(config, static_keys)
    try:
        if command == "create":
            plain = await store.create_key(_spec(args))
            out.write(plain + "\n")
            out.flush()
            err.write(f"created key {args.name!r}; store it now, it cannot be shown again\n")
        elif command == "list":
            records = await store.list_keys()
            if args.json:
                _json(out, [r.to_json() for r in records])
            else:
                out.write(_table(records))
        elif command == "show":
            _json(out, (await _get(store, args.name)).to_json())
        elif command == "credit":
            balance = await store.add_credits(args.name, credits_to_micro(args.amount))
            _json(out, {"name": args.name, "credits": micro_to_credits(balance)})
        elif command == "disable":
            await store.disable_key(args.name)
            err.write(f"disabled key {args.name!r}\n")
        else:
            since = clock() - parse_since(args.since)
            ledger = await store.usage_records(since=since, key=args.key)
            _json(out, {"key": args.key, "since": _iso(since), **summarize(ledger)})
        return 0
    finally:
        await store.close()


def _iso(epoch: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second: 2026-12-06T03:55:13Z."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec(args: argparse.Namespace) -> KeySpec:
    models = tuple(m.strip() for arg in args.models or () for m in arg.split(",") if m.strip())
    return KeySpec(
        name=args.name,
        models=models or ALL_MODELS,
        rpm=args.rpm,
        tpm=args.tpm,
        max_concurrent=args.max_concurrent,
        credits=None if args.credits is None else credits_to_micro(args.credits),
    )


async def _get(store: StateStore, name: str) -> KeyRecord:
    record = await store.get_key(name)
    if record is None:
        raise ValueError(f"no key named {name!r}")
    return record


def _json(out: TextIO, value: Any) -> None:
    out.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _table(records: Sequence[KeyRecord]) -> str:
    header = ("NAME", "BALANCE", "RPM", "TPM", "MAX_CONCURRENT", "MODELS", "STATE")
    rows = [header]
    for r in records:
        s = r.spec
        rows.append(
            (
                s.name,
                "unlimited" if s.credits is None else format_credits(s.credits),
                "-" if s.rpm is None else str(s.rpm),
                "-" if s.tpm is None else str(s.tpm),
                "-" if s.max_concurrent is None else str(s.max_concurrent),
                ",".join(s.models),
                ("disabled" if s.disabled else "active") + (" static" if r.is_static else ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in rows
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyNotFound):
        return f"no key named {exc}"
    if isinstance(exc, KeyExists):
        return f"a key named {exc} already exists"
    if isinstance(exc, UnlimitedCredits):
        return f"key {exc} has unlimited credits"
    if isinstance(exc, StateUnavailable):
        return f"cannot reach the state backend ({exc})"
    return str(exc)
