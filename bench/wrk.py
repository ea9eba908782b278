"""Run wrk with a Lua script that POSTs a chat request and reports its summary as JSON."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.system import find_program, pinned

PATH = "/v1/chat/completions"
BENCH_KEY = "sk-bench-0123456789abcdef"  # the metered router variant's key
BODY = {
    "model": "gemini-2.5-flash",
    "messages": [{"role": "user", "content": "hi"}],
    "stream": False,
}

_SCRIPT = """\
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%f,"p90_us":%%f,"p99_us":%%f,"mean_us":%%f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run: request rate, latency percentiles (ms) and every kind of error."""

    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def is_clean(self) -> bool:
        """Every request answered 2xx/3xx, with no socket errors or timeouts."""
        return self.requests > 0 and not any(self.errors.values())

    def problems(self) -> str:
        bad = ", ".join(f"{k} {v}" for k, v in self.errors.items() if v)
        return bad or ("no requests completed" if not self.requests else "")


def write_script(folder: Path) -> Path:
    """The Lua script, written once per run."""
    script = folder / "chat.lua"
    body = json.dumps(BODY, separators=(",", ":"))
    script.write_text(_SCRIPT % {"body": body, "key": BENCH_KEY})
    return script


def run(url: str, script: Path, *, connections: int, seconds: int, core: int | None) -> WrkResult:
    """One bounded wrk run against `url` + the chat path."""
    wrk = find_program("wrk") or "wrk"
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url.rstrip("/") + PATH,
    ]
    done = subprocess.run(
        pinned(cmd, core), capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout)[-300:]}")
    return WrkResult(
        connections=connections,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000.0,
        p90_ms=data["p90_us"] / 1000.0,
        p99_ms=data["p99_us"] / 1000.0,
        mean_ms=data["mean_us"] / 1000.0,
        errors={k: data[k] for k in ("connect", "read", "write", "status", "timeout")},
    )
