"""nginx in a private prefix: a fixed chat.completion upstream, and a plain reverse proxy."""

from __future__ import annotations

import json
from pathlib import Path

from bench.system import find_program, pinned

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gemini-2.5-flash",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 9, "total_tokens": 10},
}

_MAIN = """\
worker_processes 1;
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 20000; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
{body}
}}
"""

_UPSTREAM = """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        location / {{ return 200 '{answer}'; }}
    }}"""

_PROXY = """\
    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 512; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}"""


def _write(prefix: Path, body: str) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(_MAIN.format(prefix=prefix, body=body))
    return conf


def upstream_conf(prefix: Path, port: int) -> Path:
    """nginx.conf answering every request with the fixed JSON chat.completion."""
    answer = json.dumps(COMPLETION, separators=(",", ":"))
    return _write(prefix, _UPSTREAM.format(port=port, answer=answer))


def proxy_conf(prefix: Path, port: int, upstream_port: int) -> Path:
    """nginx.conf proxying everything to 127.0.0.1:upstream_port with keep-alive, unbuffered."""
    return _write(prefix, _PROXY.format(port=port, upstream_port=upstream_port))


def command(conf: Path, core: int | None) -> list[str]:
    """The nginx command line for `conf`, in the foreground, in its own prefix."""
    nginx = find_program("nginx") or "nginx"
    prefix = str(conf.parent)
    return pinned([nginx, "-p", prefix, "-c", str(conf), "-g", "daemon off;"], core)
