"""Single-dialect nodes behind a real router (issue 28 item 2), driven by the official SDKs:
a `mock-node --dialect gemini` that takes its key only as x-goog-api-key serves the
google-genai client as it is, and an openai client of the same model by translation (the
node is sent Gemini's path and body; tests/integration/translation/ has the rest); an
openai client's legacy completion, which Gemini has no call for, gets a 400 it reads as
BadRequestError, in its own error shape, and the Gemini-only node is never asked."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import openai
import pytest
from google import genai
from google.genai import types as genai_types

from tests.support import Proc, Routers, node_entry, routes_yaml
from tests.support.nodes import MockNode

pytestmark = pytest.mark.integration

NODE_KEY = f"sk-google-{secrets.token_hex(6)}"
NO_RETRY = genai_types.HttpRetryOptions(attempts=1)


def test_a_gemini_only_node_serves_gemini_clients_and_openai_ones_by_translation(
    mock_node_factory: Callable[..., Proc], routers: Routers
) -> None:
    google = mock_node_factory("google", "--dialect", "gemini", "--api-key", NODE_KEY)
    nodes = {"google": node_entry(google.base_url, api_key=NODE_KEY, dialect="gemini")}
    router = routers.get(routes_yaml(nodes, {"flash": {"backends": [{"node": "google"}]}}))
    options = genai_types.HttpOptions(
        base_url=router.base_url, api_version="v1beta", timeout=30_000, retry_options=NO_RETRY
    )
    with genai.Client(api_key="client-key", http_options=options) as gemini_client:
        answer = gemini_client.models.generate_content(model="flash", contents="hello")
    assert answer.text and "google" in answer.text
    node = MockNode(google, "google")
    seen = node.last_request()
    assert seen is not None
    assert seen["headers"].get("x-goog-api-key") == NODE_KEY  # the node's key, its way
    assert "Authorization" not in seen["headers"]
    client = openai.OpenAI(base_url=f"{router.base_url}/v1", api_key="k", max_retries=0)
    with client:
        translated = client.chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "hello"}]
        )
        assert translated.choices[0].message.content == answer.text
        seen = node.last_request()
        assert seen is not None and seen["path"] == "/v1beta/models/flash:generateContent"
        asked = node.requests()
        with pytest.raises(openai.BadRequestError) as refused:
            client.completions.create(model="flash", prompt="hello")
    assert refused.value.status_code == 400
    assert "dialect_not_served" in str(refused.value.body)
    assert node.requests() == asked  # never asked
