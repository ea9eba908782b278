"""`router keys` against a real redis-server: the whole key lifecycle."""

from __future__ import annotations

import orjson
import pytest

from router.config.model import StateConfig
from tests.support.keys_cli import run

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_config(redis_server):
    return StateConfig(backend="redis", redis_url=redis_server.url, prefix="cli:")


def test_keys_lifecycle_against_redis(redis_config):
    code, out, err = run(
        [
            "keys",
            "create",
            "--name",
            "team-a",
            "--credits",
            "10000",
            "--rpm",
            "600",
            "--models",
            "gemini-*",
            "--models",
            "gpt-4o,o3",
            "--max-concurrent",
            "4",
        ],
        redis_config,
    )
    assert code == 0 and out.startswith("sk-") and "cannot be shown again" in err
    plain = out.strip()

    code, out, _ = run(["keys", "show", "team-a"], redis_config)
    shown = orjson.loads(out)
    assert shown["credits"] == 10000 and shown["models"] == ["gemini-*", "gpt-4o", "o3"]
    assert shown["rpm"] == 600 and shown["max_concurrent"] == 4 and "hash" not in shown
    assert plain not in out

    assert orjson.loads(run(["keys", "credit", "team-a", "+5000"], redis_config)[1]) == {
        "name": "team-a",
        "credits": 15000,
    }
    assert (
        orjson.loads(run(["keys", "credit", "team-a", "-0.5"], redis_config)[1])["credits"]
        == 14999.5
    )
    assert run(["keys", "disable", "team-a"], redis_config)[0] == 0
    code, out, _ = run(["keys", "list"], redis_config)
    assert code == 0 and "team-a" in out and "14999.5" in out and "disabled" in out

    code, _, err = run(["keys", "create", "--name", "team-a"], redis_config)
    assert code == 1 and "already exists" in err
    code, _, err = run(["keys", "show", "nobody"], redis_config)
    assert code == 1 and "no key named 'nobody'" in err
    code, _, err = run(["keys", "credit", "nobody", "+1"], redis_config)
    assert code == 1 and "no key named" in err
