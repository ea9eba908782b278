"""The demo listens on loopback (issue 17 item 11): the shipped routes.yaml, the embedded
default and the demo's banner."""

from __future__ import annotations

from router.config.loader import load_config
from router.config.model import ServerConfig
from tests.support import REPO_ROOT


def test_the_shipped_routes_yaml_and_the_embedded_default_listen_on_loopback() -> None:
    config = load_config(str(REPO_ROOT / "routes.yaml"), environ={})
    assert config.server.host == "127.0.0.1"
    assert ServerConfig().host == "127.0.0.1"  # routes.yaml without a host
    banner = (REPO_ROOT / ".ci" / "demo.sh").read_text()
    assert "http://127.0.0.1:8080" in banner
