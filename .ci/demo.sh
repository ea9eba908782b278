#!/usr/bin/env bash
# `make run`: two local mock nodes and the router in front of them, stopped together on Ctrl-C.
set -euo pipefail
PY="${1:-.venv/bin/python}"
# The status page needs the admin API: a demo token unless one is set already.
export ROUTER_ADMIN_TOKEN="${ROUTER_ADMIN_TOKEN:-demo-admin-token}"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
"$PY" -m router mock-node --port 9001 --name node62 --chunk-delay 0.1 >/dev/null 2>&1 & pids+=($!)
"$PY" -m router mock-node --port 9002 --name node63 --chunk-delay 0.1 >/dev/null 2>&1 & pids+=($!)
cat <<TXT

  router on http://127.0.0.1:8080 (mock nodes node62 on :9001, node63 on :9002).

  Playground:  http://127.0.0.1:8080/
  Status:      http://127.0.0.1:8080/status   (admin token: $ROUTER_ADMIN_TOKEN)
  Console:     http://127.0.0.1:8080/console  (keys and usage; the same admin token)
  Account:     http://127.0.0.1:8080/account  (needs keys: routes.yaml has none, so auth is off)

  Or try:

    curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
      -d '{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello"}], "stream": false}'

  Ctrl-C stops all three.

TXT
"$PY" -m router serve --config routes.yaml --port 8080 & pids+=($!)
wait "${pids[2]}"
