"""`router keys` run in process: the parsed command line, its output and its exit code."""

from __future__ import annotations

import argparse
import io

from router.cli.keys import add_keys_arguments, run_keys


def parse(argv):
    """The `router keys ...` arguments, parsed as the CLI does."""
    parser = argparse.ArgumentParser(prog="router")
    add_keys_arguments(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def run(argv, config, static_keys=()):
    """(exit code, stdout, stderr) of `router keys` with `argv`, at a fixed clock."""
    out, err = io.StringIO(), io.StringIO()
    code = run_keys(parse(argv), config, static_keys, out=out, err=err, clock=lambda: 2e9)
    return code, out.getvalue(), err.getvalue()
