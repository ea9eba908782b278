from __future__ import annotations

import orjson

from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.loader import load_config
from router.config.model import StateConfig
from tests.support.keys_cli import run


def test_usage_summary_from_the_memory_ledger(tmp_path):
    import asyncio

    from router.billing.state import Outcome, open_store
    from router.config.model import Pricing
    from router.dialects.usage import Usage

    config = StateConfig(ledger_path=str(tmp_path / "usage.jsonl"))
    static = [KeyRecord(KeySpec(name="a", credits=100_000_000), hash_key("k"), True)]

    async def traffic():
        store = await open_store(config, static)
        for n, now in enumerate((2e9 - 7200, 2e9 - 60, 2e9 - 30)):
            admission = await store.admit("k", "m", f"r{n}", Pricing(prompt_per_1k=1_000_000), now)
            await store.settle(
                admission, Usage(prompt=1500), Outcome.SUCCESS, node="n", status=200, now=now
            )
        await store.close()

    asyncio.run(traffic())
    code, out, _ = run(["usage", "--key", "a", "--since", "1h"], config, static)
    summary = orjson.loads(out)
    assert code == 0
    assert (summary["requests"], summary["credits"], summary["charged_micro"]) == (
        2,
        3.0,
        3_000_000,
    )
    assert summary["tokens"] == {"prompt": 3000, "completion": 0, "reasoning": 0}
    assert summary["settled_by"] == {"usage": 2}


def test_keys_show_and_list_on_the_memory_backend_give_the_live_balance(tmp_path):
    """The memory backend's balance is `credits` minus the ledger's charges: `keys show`
    and `keys list` read it from the ledger the router writes (issue 17 item 4)."""
    import asyncio

    from router.billing.state import Outcome, open_store
    from router.config.model import Pricing
    from router.dialects.usage import Usage

    config = StateConfig(ledger_path=str(tmp_path / "usage.jsonl"))
    static = [KeyRecord(KeySpec(name="a", credits=100_000_000), hash_key("k"), True)]

    async def traffic():
        store = await open_store(config, static)
        for n in range(3):
            admission = await store.admit("k", "m", f"r{n}", Pricing(prompt_per_1k=1_000_000), 2e9)
            await store.settle(
                admission, Usage(prompt=1500), Outcome.SUCCESS, node="n", status=200, now=2e9
            )
        await store.close()

    asyncio.run(traffic())
    code, out, _ = run(["keys", "show", "a"], config, static)
    assert code == 0 and orjson.loads(out)["credits"] == 95.5
    code, out, _ = run(["keys", "list"], config, static)
    assert code == 0 and "95.5" in out


def test_memory_create_prints_the_key_and_the_entry_to_paste(tmp_path):
    argv = ["keys", "create", "--name", "team-a", "--credits", "12.5", "--rpm", "600"]
    code, out, err = run([*argv, "--models", "gemini-*", "--tpm", "9000"], StateConfig())
    assert code == 0, err
    plain = out.strip()
    assert plain.startswith("sk-") and "\n" not in plain
    assert "routes.yaml" in err and "reload" in err
    entry = err.strip().splitlines()[-1]
    assert plain not in err  # only the digest is written where routes.yaml's readers see it
    routes = tmp_path / "routes.yaml"
    nodes = "nodes: {n: {url: 'http://127.0.0.1:9'}}\nmodels: {m: {backends: [{node: n}]}}\n"
    routes.write_text(f"version: 1\n{nodes}keys:\n{entry}\n", encoding="utf-8")
    [record] = load_config(str(routes), environ={}).keys
    assert record.key_hash == hash_key(plain)
    assert record.spec == KeySpec(
        name="team-a", models=("gemini-*",), rpm=600, tpm=9000, credits=12_500_000
    )


def test_memory_create_refuses_a_name_routes_yaml_has():
    static = [KeyRecord(KeySpec(name="team-a"), hash_key("s"), True)]
    code, out, err = run(["keys", "create", "--name", "team-a"], StateConfig(), static)
    assert code == 1 and out == "" and "already exists" in err


def test_memory_writes_other_than_create_need_redis():
    for argv in (["keys", "credit", "x", "+1"], ["keys", "disable", "x"]):
        code, _, err = run(argv, StateConfig())
        assert code == 2 and "backend: redis" in err and "routes.yaml" in err
    code, out, _ = run(
        ["keys", "list", "--json"],
        StateConfig(),
        [KeyRecord(KeySpec(name="s"), hash_key("s"), True)],
    )
    assert code == 0 and orjson.loads(out)[0]["name"] == "s"
