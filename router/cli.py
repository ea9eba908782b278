"""The `router` command line: serve, check, mock-node."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their flags (the CLI contract)."""
    parser = argparse.ArgumentParser(prog="router", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the router")
    serve.add_argument("--config", default="routes.yaml", help="path to routes.yaml")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port (overrides server.port)")

    check = sub.add_parser("check", help="validate a routes.yaml and print a summary")
    check.add_argument("config", help="path to routes.yaml")

    from router import mock_node

    mock = sub.add_parser("mock-node", help="run a mock worker node (tests, demo, benchmarks)")
    mock_node.add_arguments(mock)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "mock-node":
        from router import mock_node

        return mock_node.run(args)
    if args.command == "check":
        from router.commands import check_command

        return check_command(args.config, out=sys.stdout, err=sys.stderr)
    if args.command == "serve":
        from router.server import serve_command

        return serve_command(args.config, host=args.host, port=args.port)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees this
