"""Section translation: a translated stream beside a relayed one (issue 28).

The same router build twice, in front of the same stamping upstream (bench.sse_upstream):
once with its nodes declared `dialect: openai`, so an OpenAI client's stream is relayed
as it comes, and once declared `dialect: gemini`, so each request is translated into
`streamGenerateContent` and each Gemini event back into a chat.completion.chunk. Both
run side by side and are measured in alternating rounds, so a busy machine weighs on
both alike. Figures: chunk delay (receive time minus the upstream's stamp, which rides in
the translated chunk's content) at 1 stream and at the top stream level, and throughput,
chunks per second through that many concurrent streams of an upstream that sends as
fast as it can (the best round of each counts).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from bench.clients import Load, StreamResult, run_streams
from bench.procs import Server
from bench.report import MET, MISSED, REFUSED, Row
from bench.runner import Run
from bench.stats import percentile
from bench.targets import ROUTER, router_target

RELAYED = router_target("router-relayed", variant=True, dialect="openai")
TRANSLATED = router_target("router-translated", variant=True, dialect="gemini")
TARGET_DELAY_RATIO = 1.2  # translated chunk delay p99 at most this times the relayed one
TARGET_THROUGHPUT_RATIO = 0.8  # translated chunks/s at least this times the relayed
SECTION = "translation"


def run_section(run: Run) -> None:
    """Measure relayed and translated streams; add the delay and throughput rows."""
    s = run.settings
    delays: dict[str, dict[int, StreamResult]] = {}
    rates: dict[str, float] = {}
    with (
        run.sse_upstream(s.stream_chunks, s.stream_interval) as upstream,
        _both(run, upstream) as servers,
    ):
        for level in s.stream_levels if servers else ():
            rounds = s.single_rounds if level == 1 else s.multi_rounds
            for _ in range(rounds):
                for name, server in servers.items():
                    print(f"bench: translation, {name} @{level} streams", flush=True)
                    got = _streams(run, server, level, delays=True)
                    _merge(delays.setdefault(name, {}).setdefault(level, StreamResult()), got)
    with run.sse_upstream(s.stream_chunks, 0.0) as upstream, _both(run, upstream) as servers:
        for _ in range(max(s.multi_rounds, 2)) if servers else ():
            for name, server in servers.items():
                got = _streams(run, server, s.stream_levels[-1], delays=False)
                rate = _chunks_per_second(got, s.stream_chunks)
                rates[name] = max(rates.get(name, 0.0), rate)
    _report(run, delays, rates)


@contextlib.contextmanager
def _both(run: Run, upstream: Server) -> Iterator[dict[str, Server]]:
    """Both routers started in front of `upstream` (none when either could not start)."""
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {}
        for target in (RELAYED, TRANSLATED):
            server = stack.enter_context(run.started(target, upstream))
            if server is None:
                run.report.note(f"translation: {target.name} did not start")
                servers = {}
                break
            servers[target.name] = server
        yield servers


def _streams(run: Run, server: Server, level: int, *, delays: bool) -> StreamResult:
    chunks = run.settings.stream_chunks
    interval = run.settings.stream_interval if delays else 0.0
    load = Load(
        streams=level,
        chunks=chunks,
        ramp=0.0 if level == 1 else interval,
        deadline=min(60.0, chunks * interval + 20),
        delays=delays,
    )
    return run_streams(
        server.url, load, workdir=run.env.workdir, core=run.load_core, repo=run.env.repo
    )


def _merge(into: StreamResult, got: StreamResult) -> None:
    into.ok += got.ok
    into.errors.update(got.errors)
    into.delays_ms += got.delays_ms
    into.ttfb_ms += got.ttfb_ms
    into.intervals += got.intervals


def _chunks_per_second(got: StreamResult, chunks: int) -> float:
    if not got.intervals or got.error_count:
        return 0.0
    wall = max(end for _, end in got.intervals) - min(start for start, _ in got.intervals)
    return got.ok * chunks / wall if wall > 0 else 0.0


def _report(run: Run, delays: dict[str, dict[int, StreamResult]], rates: dict[str, float]) -> None:
    relayed, translated = RELAYED.name, TRANSLATED.name
    top = run.settings.stream_levels[-1]
    run.report.raw[SECTION] = {
        name: {
            str(level): {
                "ok": r.ok,
                "errors": dict(r.errors),
                "delay_p50_ms": percentile(r.delays_ms, 50),
                "delay_p99_ms": percentile(r.delays_ms, 99),
            }
            for level, r in per.items()
        }
        for name, per in delays.items()
    } | {"chunks_per_second": rates}
    for level in run.settings.stream_levels:
        for pct in (50, 99):
            row = run.report.add(
                Row(SECTION, f"chunk delay p{pct} @{level} streams, ms: translated (relayed)")
            )
            mine, base = (
                delays.get(name, {}).get(level, StreamResult()) for name in (translated, relayed)
            )
            if mine.error_count or base.error_count or not mine.ok or not base.ok:
                row.cells[ROUTER] = f"{REFUSED}: {mine.problems() or base.problems() or 'no run'}"
                if pct == 99 and level == top:
                    row.target, row.status, row.why = "translated", REFUSED, row.cells[ROUTER]
                continue
            value, reference = percentile(mine.delays_ms, pct), percentile(base.delays_ms, pct)
            row.values = {translated: value, relayed: reference}
            ratio = value / reference if reference else math.inf
            row.cells[ROUTER] = f"{value:.3f} ({reference:.3f}), {ratio:.2f}x"
            if pct == 99 and level == top:
                row.target = f"<= {TARGET_DELAY_RATIO} x relayed"
                row.status = MET if ratio <= TARGET_DELAY_RATIO else MISSED
                row.why = f"{ratio:.2f}x"
    row = run.report.add(Row(SECTION, f"chunks/s @{top} streams: translated (relayed)"))
    mine_rate, base_rate = rates.get(translated, 0.0), rates.get(relayed, 0.0)
    row.values = {translated: mine_rate, relayed: base_rate}
    row.target = f">= {TARGET_THROUGHPUT_RATIO} x relayed"
    if not mine_rate or not base_rate:
        row.cells[ROUTER] = row.why = "no clean run"
        row.status = REFUSED
        return
    ratio = mine_rate / base_rate
    row.cells[ROUTER] = f"{mine_rate:,.0f} ({base_rate:,.0f}), {ratio:.2f}x"
    row.status = MET if ratio >= TARGET_THROUGHPUT_RATIO else MISSED
    row.why = f"{ratio:.2f}x"
