"""bench/compare.py's pure parts: argument checks, the printed lines, the configs it offers."""

from __future__ import annotations

import pytest

from bench.compare import FALLBACK_CONFIG, check_rounds, parse_args, summary
from bench.paired import Paired, Sample
from bench.targets import ROUTER_CONFIG
from router.config.loader import parse_config


@pytest.mark.parametrize(
    ("rounds", "seconds", "complaint"),
    [
        (6, 4, None),
        (2, 1, None),
        (5, 4, "--rounds must be even"),
        (0, 4, "--rounds must be even"),
        (-2, 4, "--rounds must be even"),
        (6, 0, "--seconds must be at least 1"),
    ],
)
def test_rounds_must_be_even_and_seconds_positive(
    rounds: int, seconds: int, complaint: str | None
) -> None:
    found = check_rounds(rounds, seconds)
    if complaint is None:
        assert found is None
    else:
        assert found is not None and found.startswith(complaint)


def test_head_defaults_to_HEAD_and_bad_counts_exit_with_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse_args(["ab89144"])
    assert (args.base, args.head, args.rounds, args.seconds) == ("ab89144", "HEAD", 6, 4)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["ab89144", "main", "--rounds", "3"])
    assert exit_info.value.code == 2
    assert "--rounds must be even and at least 2 (got 3)" in capsys.readouterr().err


def test_summary_reads_head_over_base_with_each_builds_median() -> None:
    base = (Sample(2000, 200), Sample(1000, 220), Sample(2100, 190), Sample(1900, 210))
    head = (Sample(1800, 230), Sample(800, 280), Sample(1890, 221), Sample(1805, 232))
    lines = summary("BASE ab89144", "HEAD 7fa4b66", Paired(top=head, bottom=base))
    # ratios 0.90, 0.80, 0.90, 0.95: the median is 0.90, the range 0.80-0.95
    assert lines == [
        "HEAD 7fa4b66 / BASE ab89144: 0.90x (4 rounds, 0.80-0.95)",
        "  BASE ab89144: 1,950 req/s taking turns, 205 us CPU/req",
        "  HEAD 7fa4b66: 1,802 req/s taking turns, 231 us CPU/req",
    ]


def test_summary_names_wrk_errors() -> None:
    clean = Sample(1000, 200)
    failing = Sample(900, 200, problems="HEAD-7fa4b66: status 12")
    lines = summary("BASE a", "HEAD b", Paired(top=(failing, clean), bottom=(clean, clean)))
    assert lines[-1] == "  errors: HEAD-7fa4b66: status 12"


@pytest.mark.parametrize("template", [ROUTER_CONFIG, FALLBACK_CONFIG], ids=["bench", "fallback"])
def test_both_configs_are_valid_for_this_router(template: str) -> None:
    text = template.format(port=8080, upstream="http://127.0.0.1:9", node_extra="")
    config = parse_config(text, source="<memory>")
    assert sorted(config.nodes) == ["node62", "node63"]
    assert config.server.port == 8080
