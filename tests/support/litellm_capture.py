"""Run as a process: LiteLLM's Gemini provider turns each OpenAI request read from stdin
(a JSON list of request bodies) into the body it would POST to Gemini; a stdlib HTTP
server on loopback stands in for Gemini and captures it. Prints the captured bodies as a
JSON list, one per request (null where LiteLLM refused the request)."""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
from typing import Any

PNG = bytes.fromhex("89504e470d0a1a0a")  # what the loopback image URL serves

ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
}


def main() -> None:
    captured: list[Any] = []

    class Gemini(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            captured.append(json.loads(self.rfile.read(length)))
            self._reply(json.dumps(ANSWER).encode(), "application/json")

        def do_GET(self) -> None:
            self._reply(PNG, "image/png")

        def _reply(self, data: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gemini)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no fetch of the price list
    import litellm

    litellm.user_url_allowed_hosts = ["127.0.0.1"]  # the image URL is the capture server

    out: list[Any] = []
    for body in json.loads(sys.stdin.read().replace("{BASE}", base)):
        body = dict(body)
        model = body.pop("model")
        before = len(captured)
        try:
            litellm.completion(model=f"gemini/{model}", api_base=base, api_key="k", **body)
        except Exception as exc:  # LiteLLM refused it: recorded as null
            print(f"litellm refused: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
        out.append(captured[before] if len(captured) > before else None)
    server.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
