import datetime as dt

import pytest

from creditpay.clock import SimulatedClock, SystemClock


def test_simulated_clock_moves_only_forward():
    clock = SimulatedClock("2024-01-31")
    assert clock.today() == dt.date(2024, 1, 31)
    clock.advance(days=1)
    assert clock.today() == dt.date(2024, 2, 1)
    clock.advance(hours=23, minutes=59)
    assert clock.today() == dt.date(2024, 2, 1)
    with pytest.raises(ValueError):
        clock.advance(days=-1)
    with pytest.raises(ValueError):
        clock.set("2024-01-01")
    clock.set("2024-03-01T00:00:00+00:00")
    assert clock.now().tzinfo is not None


def test_system_clock_is_aware():
    assert SystemClock().now().tzinfo is not None
