"""TCP port numbers as the command line and routes.yaml take them: 1 to 65535."""

from __future__ import annotations

import argparse
import errno

LOWEST, HIGHEST = 1, 65535


def port_argument(text: str) -> int:
    """An argparse `type=` for `--port`: a number from 1 to 65535, else a usage error
    (argparse prints it with the flag's name and exits 2)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not LOWEST <= port <= HIGHEST:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text!r}")
    return port


def listen_problem(exc: OSError, host: str, port: int) -> str:
    """One line for a listening socket that could not be opened."""
    shown = f"[{host}]" if ":" in host else host
    if exc.errno == errno.EADDRINUSE:
        why = "the port is already in use (another router or program listens there)"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "this machine has no such address"
    else:
        why = exc.strerror or type(exc).__name__
    return f"cannot listen on {shown}:{port}: {why}"
