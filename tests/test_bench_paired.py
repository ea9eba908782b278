"""The paired-run arithmetic of the benchmark (bench/paired.py): pure, no processes."""

from __future__ import annotations

import pytest

from bench.paired import Paired, Sample, first_in_pair, median_sample


def samples(*rps: float, cpu_us: float = 100.0) -> tuple[Sample, ...]:
    return tuple(Sample(rps=r, cpu_us=cpu_us) for r in rps)


def test_ratio_is_the_median_of_per_pair_ratios_not_a_ratio_of_medians() -> None:
    # The third pair ran through a slow stretch: both sides slow, its ratio still 0.95.
    found = Paired(top=samples(950, 900, 380), bottom=samples(1000, 1000, 400))
    assert found.ratios == pytest.approx([0.95, 0.90, 0.95])
    assert found.ratio == pytest.approx(0.95)


def test_one_bad_pair_does_not_move_the_median() -> None:
    found = Paired(
        top=samples(900, 910, 300, 905, 920), bottom=samples(1000, 1000, 1000, 1000, 990)
    )
    assert found.ratio == pytest.approx(0.905)


def test_cpu_ratio_is_bottom_over_top_cpu_per_request() -> None:
    found = Paired(top=samples(1, 1, 1, cpu_us=220.0), bottom=samples(1, 1, 1, cpu_us=200.0))
    assert found.cpu_ratio == pytest.approx(200 / 220)


def test_the_first_run_of_a_pair_alternates() -> None:
    assert [first_in_pair(n) for n in range(4)] == [0, 1, 0, 1]


def test_problems_name_the_first_unclean_run() -> None:
    clean = Sample(rps=10, cpu_us=1)
    found = Paired(
        top=(clean, Sample(rps=5, cpu_us=1, problems="router: status 3")), bottom=(clean, clean)
    )
    assert found.problems == "router: status 3"
    assert Paired(top=(clean,), bottom=(clean,)).problems == ""


def test_median_sample_takes_each_field_median_on_its_own() -> None:
    middle = median_sample((Sample(1, 30), Sample(3, 10), Sample(2, 20)))
    assert (middle.rps, middle.cpu_us) == (2, 20)
