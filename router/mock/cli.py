"""`router mock-node`: its flags, the faults they set at startup, and running the node."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from aiohttp import web

from router.config.ports import listen_problem, port_argument
from router.errors import StartupError
from router.mock.answers import MockSettings
from router.mock.app import DIALECTS, create_app
from router.mock.faults import FaultError, Faults


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `router mock-node` flags."""
    parser.add_argument("--port", type=port_argument, required=True, help="1-65535")
    parser.add_argument("--name", default="node", help="node name, in answers and X-Mock-Node")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--api-key", help="require this key (Bearer, x-goog-api-key: as --dialect takes it)"
    )
    parser.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="both",
        help="the APIs served (the other's paths answer 404)",
    )
    parser.add_argument("--chunks", type=_positive_int, default=5, help="content deltas")
    parser.add_argument("--usage", choices=("requested", "always"), default="requested")
    parser.add_argument("--seed", type=int, help="seed for the error-rate draws")
    parser.add_argument("--answer", help="answer this text (in --chunks pieces) instead")
    faults = parser.add_argument_group("faults (also settable at runtime: POST /_mock/faults)")
    faults.add_argument("--status", type=int, help="answer this status instead")
    faults.add_argument("--error-rate", type=float, help="fraction of requests failing (0..1)")
    faults.add_argument("--first-byte-delay", type=float, default=0.0, metavar="S")
    faults.add_argument("--chunk-delay", type=float, default=0.0, metavar="S")
    faults.add_argument("--cut-after", type=int, metavar="N", help="abort after N events")
    faults.add_argument("--hang", action="store_true", help="never answer")
    faults.add_argument("--health-status", type=int, metavar="CODE")
    faults.add_argument(
        "--inband-error-after", type=int, metavar="N", help="an in-band error event after N"
    )
    faults.add_argument("--usage-chunk-style", choices=("empty", "litellm"), default="empty")
    faults.add_argument("--error-message", default="injected fault", help="--status body text")
    faults.add_argument("--retry-after", help="Retry-After of --status answers")
    faults.add_argument("--ttft-delay", type=float, default=0.0, metavar="S", help="first token")
    faults.add_argument("--ttft-rate", type=float, default=1.0, help="share with --ttft-delay")
    faults.add_argument("--stall-after-role", action="store_true", help="role chunk, then hang")
    faults.add_argument("--stall-after", type=int, metavar="N", help="N events, then hang")
    faults.add_argument("--reject-prefill", action="store_true", help="400 to an assistant turn")
    faults.add_argument("--compress", choices=("off", "accepted", "always"), default="off")


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The startup faults; --error-rate without --status fails with 500."""
    update: dict[str, Any] = {
        "status": args.status,
        "first_byte_delay": args.first_byte_delay,
        "chunk_delay": args.chunk_delay,
        "cut_after": args.cut_after,
        "hang": args.hang,
        "health_status": args.health_status,
        "inband_error_after": args.inband_error_after,
        "usage_chunk_style": args.usage_chunk_style,
        "error_message": args.error_message,
        "retry_after": args.retry_after,
        "ttft_delay": args.ttft_delay,
        "ttft_rate": args.ttft_rate,
        "stall_after_role": args.stall_after_role,
        "stall_after": args.stall_after,
        "reject_prefill": args.reject_prefill,
        "compress": args.compress,
    }
    if args.error_rate is not None:
        update["error_rate"] = args.error_rate
        if args.status is None:
            update["status"] = 500
    faults = Faults()
    faults.update(update)
    return faults


async def _serve_forever(args: argparse.Namespace, faults: Faults) -> None:
    settings = MockSettings(
        name=args.name,
        chunks=args.chunks,
        usage_always=args.usage == "always",
        api_key=args.api_key,
        dialect=args.dialect,
        answer=args.answer,
    )
    app = create_app(settings, faults, seed=args.seed)
    # handler_cancellation: a client that goes away cancels its handler (counted in stats);
    # a short shutdown_timeout: hanging requests must not hold up SIGTERM for a minute.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await web.TCPSite(runner, args.host, args.port).start()
        except OSError as exc:
            raise StartupError(listen_problem(exc, args.host, args.port)) from None
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"mock node {settings.name} listening on http://{host}:{args.port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    """Run the mock node until SIGTERM or SIGINT; returns the exit code."""
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    try:
        faults = faults_from_args(args)
    except FaultError as exc:
        print(f"router mock-node: {exc}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve_forever(args, faults))
    except StartupError as exc:
        print(f"router mock-node: {exc}", file=sys.stderr)
        return 1
    return 0
