"""`router serve --workers N`: N processes sharing one port through SO_REUSEPORT.

How this works: the supervisor forks N workers before any event loop exists; each runs
the ordinary server with `reuse_port`, so the kernel spreads connections across them.
The supervisor forwards SIGTERM/SIGINT (graceful shutdown) and SIGHUP (reload) to every
worker, restarts a worker that dies while the router is not stopping, and exits 0 once
all workers have stopped. Metrics add up across workers through prometheus-client's
multiprocess mode (the folder is set up by router.cli.main before prometheus-client loads).
State must be shared, so the memory backend is refused with more than one worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

from prometheus_client import multiprocess

from router.observability.logs import get_logger

MEMORY_REFUSED = (
    "--workers {n} needs shared state: keys, rate limits and credits would be counted per "
    "process with the memory backend. Set `state: {{backend: redis, redis_url: ...}}` in "
    "routes.yaml, or run one worker per host port."
)


def supervise(workers: int, run_worker: Callable[[], None], metrics_dir: str | None) -> int:
    """Run `run_worker` in `workers` forked processes until told to stop; a dead worker's
    live gauges are dropped from `metrics_dir` (prometheus-client's multiprocess folder)."""
    log = get_logger("router")
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            code = 0
            try:
                run_worker()
            except BaseException:
                log.exception("worker_crashed", worker=index)
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        children[pid] = index

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for index in range(workers):
        spawn(index)
    log.info("workers_started", workers=workers, pids=sorted(children))
    failed = False
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index = children.pop(pid)
        if metrics_dir is not None:
            multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failed = failed or code != 0
            continue
        log.error("worker_died", worker=index, pid=pid, exit_code=code, detail="restarting it")
        spawn(index)
    log.info("workers_stopped")
    return 1 if failed else 0
