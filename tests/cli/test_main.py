"""router.cli.main: what the command line decides before anything else is imported."""

from __future__ import annotations

from pathlib import Path

from router.cli.main import MULTIPROCESS_ENV, multiprocess_metrics_dir


def test_the_operators_multiprocess_folder_is_kept(tmp_path: Path) -> None:
    environ = {MULTIPROCESS_ENV: str(tmp_path)}
    assert multiprocess_metrics_dir(environ) == str(tmp_path)
    assert environ == {MULTIPROCESS_ENV: str(tmp_path)}


def test_without_one_a_new_folder_is_made_and_given_to_prometheus_client() -> None:
    environ: dict[str, str] = {}
    folder = multiprocess_metrics_dir(environ)
    try:
        assert Path(folder).is_dir() and not any(Path(folder).iterdir())
        assert environ == {MULTIPROCESS_ENV: folder}  # read by prometheus-client at import
    finally:
        Path(folder).rmdir()
