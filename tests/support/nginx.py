"""nginx in front of router replicas: deploy/nginx/router.conf rendered for loopback ports.

The wrapper nginx.conf (ours, not the deploy file) runs nginx in the foreground with every
path in the test's directory, and adds an `X-Upstream-Addr` response header so a client
can tell which replica answered.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.procs import REPO_ROOT, free_port, poll_ready

NGINX = "/usr/sbin/nginx"
NGINX_CONF = REPO_ROOT / "deploy" / "nginx" / "router.conf"


class Nginx:
    """nginx running deploy/nginx/router.conf, rendered for loopback ports, in the foreground."""

    def __init__(self, directory: Path, upstream_ports: Sequence[int]) -> None:
        self.directory = directory
        self.port = free_port()
        self.upstream_ports = list(upstream_ports)
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def render(self) -> str:
        """router.conf with one `server` line per replica and a loopback `listen`."""
        text = NGINX_CONF.read_text()
        servers = list(re.finditer(r"^( *)server router-\d+:8080(.*);\n", text, re.MULTILINE))
        assert servers, "no `server router-N:8080` line in router.conf"
        indent, params = servers[0][1], servers[0][2]
        lines = "".join(f"{indent}server 127.0.0.1:{p}{params};\n" for p in self.upstream_ports)
        for match in reversed(servers[1:]):
            text = text[: match.start()] + text[match.end() :]
        text = text[: servers[0].start()] + lines + text[servers[0].end() :]
        text, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{self.port};", text)
        assert listens == 1, "router.conf has no `listen 8080;`"
        return text

    def start(self) -> Nginx:
        d = self.directory
        (d / "router.conf").write_text(self.render())
        temp_paths = " ".join(
            f"{kind}_temp_path {d / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx would run its workers as `nobody`, who cannot enter pytest's tmp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (d / "nginx.conf").write_text(
            f"{user}pid {d / 'nginx.pid'};\n"
            f"error_log {d / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  log_format upstream '$msec $status $request_time $upstream_addr "
            "$upstream_status $request';\n"
            f"  access_log {d / 'access.log'} upstream;\n"
            f"  {temp_paths}\n"
            "  add_header X-Upstream-Addr $upstream_addr always;\n"
            "  include router.conf;\n"
            "}\n"
        )
        err = (d / "nginx.stderr.log").open("wb")
        with err:
            self.popen = subprocess.Popen(
                [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_ready(self, timeout: float = 15.0) -> Nginx:
        """Until a replica answers /healthz through nginx."""
        assert self.popen is not None
        poll_ready(
            self.popen,
            f"{self.url}/healthz",
            name="nginx",
            timeout=timeout,
            details=lambda: "\n" + self.errors(),
        )
        return self

    def errors(self) -> str:
        parts = []
        for name in ("nginx.stderr.log", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def access_lines(self) -> list[str]:
        path = self.directory / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
