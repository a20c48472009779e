"""Progress events (``cryoplan.progress``): the time left from the fraction done, its clock,
and the text of a phase."""

import pytest

from cryoplan.progress import Progress, clock, eta


def test_time_left_is_unknown_before_any_fraction_and_zero_at_the_end():
    assert eta(Progress("setting up", 0, 0, "", 0.0), elapsed_s=5.0) is None
    assert eta(Progress("simulating", 270, 270, "s simulated", 1.0), elapsed_s=50.0) == 0.0
    assert eta(Progress("simulating", 90, 270, "s simulated", 0.25), elapsed_s=10.0) == pytest.approx(30.0)


def test_a_phase_without_a_total_is_its_label_and_events_are_plain_data():
    assert Progress("setting up", 0, 0, "", 0.0).text() == "setting up"
    p = Progress("protocol 1 of 2", 3, 16, "runs", 0.1, at_most=True)
    assert p.text() == "protocol 1 of 2: 3 of 16 runs"
    assert Progress(**p.as_json()) == p


def test_the_clock_rounds_to_the_second_and_shows_hours_only_when_needed():
    assert clock(59.6) == "1:00"
    assert clock(3599.4) == "59:59"
    assert clock(3599.6) == "1:00:00"
    assert clock(0) == "0:00"
