"""The `router` command line: serve, check, keys, usage, mock-node."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import MutableMapping, Sequence

from router.config.ports import port_argument

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their flags (the CLI contract)."""
    parser = argparse.ArgumentParser(prog="router", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the router")
    serve.add_argument("--config", default="routes.yaml", help="path to routes.yaml")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument(
        "--port", type=port_argument, help="listen port, 1-65535 (overrides server.port)"
    )
    serve.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error", "critical"]
    )
    serve.add_argument(
        "--log-format",
        default="auto",
        choices=["auto", "json", "console"],
        help="json lines (default when stdout is not a terminal) or readable console output",
    )
    serve.add_argument("--no-metrics", action="store_true", help="do not record or serve /metrics")
    serve.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port (SO_REUSEPORT); more than 1 needs state.backend redis",
    )

    check = sub.add_parser("check", help="validate a routes.yaml and print a summary")
    check.add_argument("config", help="path to routes.yaml")

    from router.cli import keys as keys_cli
    from router.mock import cli as mock_node

    keys_cli.add_keys_arguments(sub)
    mock = sub.add_parser("mock-node", help="run a mock worker node (tests, demo, benchmarks)")
    mock_node.add_arguments(mock)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code. A closed output pipe (`router check
    routes.yaml | head -2`) ends the command quietly, as `cat` would, not with a traceback."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # inside the try: a pipe closed early fails here, not at exit
        return code
    except BrokenPipeError:
        # Python would flush stdout again at exit and print the error: point it at devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for SIGPIPE (128 + 13)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "mock-node":
        from router.mock import cli as mock_node

        return mock_node.run(args)
    if args.command in ("keys", "usage"):
        return _keys(args)
    if args.command == "check":
        from router.cli.check import check_command

        return check_command(args.config, out=sys.stdout, err=sys.stderr)
    if args.command == "serve":
        if args.workers < 1:
            print("router serve: --workers must be at least 1", file=sys.stderr)
            return 2
        metrics_dir = multiprocess_metrics_dir(os.environ) if args.workers > 1 else None
        from router.server.serve import serve_command

        return serve_command(
            args.config,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            log_format=args.log_format,
            metrics=not args.no_metrics,
            access_log=not args.no_access_log,
            workers=args.workers,
            metrics_dir=metrics_dir,
        )
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees this


def multiprocess_metrics_dir(environ: MutableMapping[str, str]) -> str:
    """The folder in which workers add up their metrics (prometheus-client's multiprocess
    mode): the operator's PROMETHEUS_MULTIPROC_DIR, else a new temporary one.

    The one place the variable is read. It is also written back to `environ` (the
    process's), since prometheus-client reads it once, when first imported, to choose
    where its values live; the router itself takes the folder from the run options.
    """
    folder = environ.get(MULTIPROCESS_ENV) or tempfile.mkdtemp(prefix="router-metrics-")
    environ[MULTIPROCESS_ENV] = folder
    return folder


def _keys(args: argparse.Namespace) -> int:
    """`router keys ...` and `router usage ...` against routes.yaml's state backend."""
    from router.cli.keys import run_keys
    from router.config.loader import load_sections
    from router.errors import ConfigError

    try:
        config = load_sections(args.config, ("state", "keys"))
    except ConfigError as exc:
        print(exc.headline(), file=sys.stderr)
        print(exc.render(), file=sys.stderr)
        return 1
    return run_keys(args, config.state, config.keys)
