"""GET /admin/config's document (router.web.admin.config_document): plain JSON, no secret."""

from __future__ import annotations

import orjson

from router.config.loader import parse_config
from router.web.admin import config_document

CONFIG = """\
version: 1
nodes:
  google: {url: "http://127.0.0.1:9001", api_key: sk-secret, dialect: gemini}
  both: {url: "http://127.0.0.1:9002"}
models:
  m: {backends: [{node: google}, {node: both}]}
"""


def test_the_active_config_is_plain_json_with_each_nodes_dialects_and_no_key() -> None:
    document = orjson.loads(orjson.dumps(config_document(parse_config(CONFIG, environ={}))))
    nodes = document["nodes"]
    assert nodes["google"]["speaks"] == ["gemini"]
    assert nodes["both"]["speaks"] == ["gemini", "openai"]
    assert nodes["google"]["api_key"] == "***"
    assert "sk-secret" not in orjson.dumps(document).decode()
