"""A real Prometheus (Debian's `prometheus` package) scraping a test router on loopback.

`render_config` turns the shipped deploy/prometheus/prometheus.yml into one that scrapes
the test's router every second, and `render_alerts` copies deploy/prometheus/alerts.yml,
shortening only the `for:` of the alerts a test names (the test says why). `Prometheus`
runs the server with its TSDB in a temporary directory and answers queries through the
HTTP API (`/api/v1/query`, `/api/v1/alerts`). Only the standard library talks to it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support import ProcessError, free_port, http_request, poll_ready
from tests.support.procs import REPO_ROOT

PROMETHEUS_YML = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS_YML = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
READY_TIMEOUT = 20.0


def find_program(name: str) -> str | None:
    """`name` on PATH, or in /usr/bin or /usr/sbin (Debian's prometheus package)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/bin", "/usr/sbin"):
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return None


def render_config(
    source: Path,
    *,
    target: str,
    rule_files: list[Path],
    interval: str = "1s",
) -> str:
    """prometheus.yml with its one scrape target replaced and every interval set to `interval`.

    The shipped file must have exactly one scrape job with one static target (it says so);
    anything else fails here rather than scraping the wrong thing.
    """
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    jobs = doc.get("scrape_configs") or []
    targets = [
        (job, static)
        for job in jobs
        for static in job.get("static_configs") or []
        for _ in static.get("targets") or []
    ]
    if len(jobs) != 1 or len(targets) != 1:
        raise AssertionError(
            f"{source}: expected one scrape job with one static target, got {len(jobs)} jobs"
            f" and {len(targets)} targets"
        )
    job, static = targets[0]
    static["targets"] = [target]
    doc.setdefault("global", {})
    doc["global"].update(
        {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval}
    )
    # The job sets its own (longer) interval: a per-job value wins over the global one.
    job["scrape_interval"] = interval
    job.pop("scrape_timeout", None)
    doc["rule_files"] = [str(path) for path in rule_files]
    return yaml.safe_dump(doc, sort_keys=False)


def render_alerts(source: Path, *, shorten: Mapping[str, str], note: str) -> str:
    """alerts.yml with the `for:` of each alert named in `shorten` replaced; `note` heads it.

    Every other rule is copied unchanged. An alert named in `shorten` that does not exist
    (or has no `for:`) fails here, so a renamed alert cannot silently stop being tested.
    """
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    missing = dict(shorten)
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert")
            if name in missing and "for" in rule:
                rule["for"] = missing.pop(name)
    if missing:
        raise AssertionError(f"{source}: no alert with a `for:` named {sorted(missing)}")
    comment = "".join(f"# {line}\n" for line in note.splitlines())
    return comment + yaml.safe_dump(doc, sort_keys=False)


class Prometheus:
    """One `prometheus` process on 127.0.0.1 with its data and logs under `directory`."""

    def __init__(self, config_path: Path, directory: Path) -> None:
        binary = find_program("prometheus")
        if binary is None:
            raise AssertionError(
                "prometheus is missing: install Debian's `prometheus` package (`make sysdeps`)"
            )
        self.binary = binary
        self.config_path = config_path
        self.directory = directory
        self.port = 0
        self.log_path = directory / "prometheus.log"
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- prometheus log ---\n{text[-8000:]}"

    def start(self) -> Prometheus:
        """Start it and wait for /-/ready; a few ports are tried if one is taken meanwhile."""
        for attempt in range(3):
            self.port = free_port()
            data = self.directory / f"tsdb-{attempt}"
            args = [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=info",
            ]
            with self.log_path.open("ab") as log:
                self._popen = subprocess.Popen(
                    args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.directory
                )
            try:
                return self._wait_ready()
            except ProcessError as exc:
                self.stop()
                if attempt == 2 or "address already in use" not in str(exc).lower():
                    raise
        raise AssertionError("unreachable")

    def _wait_ready(self) -> Prometheus:
        assert self._popen is not None
        poll_ready(
            self._popen,
            f"{self.base_url}/-/ready",
            name="prometheus",
            timeout=READY_TIMEOUT,
            details=lambda: "\n" + self.output(),
        )
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; safe to call twice."""
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.terminate()
        try:
            self._popen.wait(10)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait(5)

    # -- HTTP API ---------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a `success` answer, else AssertionError."""
        url = f"{self.base_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, _, raw = http_request("GET", url, timeout=10.0)
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict) or answer.get("status") != "success":
            raise AssertionError(f"GET {url} -> {status}: {raw[:500]!r}")
        return answer["data"]

    def query(self, expr: str) -> tuple[str, list[dict[str, Any]]]:
        """An instant query now: (resultType, result as a list of samples).

        A scalar or string result becomes one sample with empty labels, so callers can
        treat every answer as a list of `{"metric": {...}, "value": [t, "v"]}`.
        """
        data = self.api("query", query=expr)
        kind, result = data["resultType"], data["result"]
        if kind in ("scalar", "string"):
            return kind, [{"metric": {}, "value": result}]
        return kind, list(result)

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts."""
        return list(self.api("alerts")["alerts"])

    def targets_up(self) -> list[dict[str, Any]]:
        """Active scrape targets with their health."""
        return list(self.api("targets", state="active")["activeTargets"])
