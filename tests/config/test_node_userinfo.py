"""A node URL with userinfo (issue 17 item 10), read from routes.yaml: Basic auth
credentials, never shown in the URL, a repr or a redacted message.
"""

from __future__ import annotations

import pytest

from router.config.loader import parse_config
from router.errors import ConfigError
from router.upstream.reasons import Redactor
from tests.support.routes import one_node_routes

USER, PASSWORD = "ops", "p@ss:w0rd"
QUOTED = "p%40ss%3Aw0rd"


def test_userinfo_becomes_basic_auth_and_leaves_the_url() -> None:
    url = f"http://{USER}:{QUOTED}@127.0.0.1:9001/base"
    node = parse_config(one_node_routes(url=url), environ={}).nodes["a"]
    assert node.url == "http://127.0.0.1:9001/base"
    assert node.basic_auth == f"{USER}:{PASSWORD}"  # percent-decoded
    assert PASSWORD not in repr(node) and QUOTED not in repr(node)
    message = f"upstream said: bad credentials {PASSWORD} for {USER}"
    assert PASSWORD not in Redactor([node]).clean(message)


def test_userinfo_and_api_key_together_are_refused() -> None:
    url = f"http://{USER}:{QUOTED}@127.0.0.1:9001"
    with pytest.raises(ConfigError) as info:
        parse_config(one_node_routes(', api_key: "k"', url=url), environ={})
    assert [p.path for p in info.value.problems] == ["nodes.a.url"]
    assert "api_key" in info.value.problems[0].message
    assert QUOTED not in str(info.value) and PASSWORD not in str(info.value)
