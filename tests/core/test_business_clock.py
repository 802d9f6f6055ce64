"""Serving a database at its own business date (``--business-date`` /
CREDITPAY_BUSINESS_DATE): the clock starts at 09:00 UTC of that date and runs with the wall
clock; ``db`` means the day after the last close of business; bad values are named."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from typer.testing import CliRunner

from creditpay.bootstrap import serving_clock
from creditpay.cli import app
from creditpay.clock import ShiftedClock, SystemClock
from creditpay.config import Settings
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.errors import ValidationError


def test_a_shifted_clock_starts_where_it_is_told_and_runs_with_the_wall_clock():
    start = dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC)
    clock = ShiftedClock(start)
    first = clock.now()
    assert dt.timedelta(0) <= first - start < dt.timedelta(seconds=5)
    time.sleep(0.01)
    assert clock.now() > first and clock.today() == dt.date(2025, 6, 1)
    with pytest.raises(ValueError):
        ShiftedClock(dt.datetime(2025, 6, 1, 9))


def test_serving_clock_by_date_by_database_and_by_default(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.db'}"
    engine = make_engine(url)
    migrate(engine)
    assert isinstance(serving_clock(Settings.of(database_url=url)), SystemClock)
    dated = serving_clock(Settings.of(database_url=url, business_date="2025-02-28"))
    assert dated.today() == dt.date(2025, 2, 28) and dated.now().hour == 9
    with pytest.raises(ValidationError) as refused:  # no close of business yet
        serving_clock(Settings.of(database_url=url, business_date="db"))
    assert refused.value.field == "CREDITPAY_BUSINESS_DATE"
    engine.dispose()
    from creditpay.platform.keys import encode_key, generate_key_bytes

    closed = CliRunner().invoke(app, ["cob", "run", "--date", "2025-03-31", "--db", url,
                                      "--json"],
                                env={"CREDITPAY_MASTER_KEY": encode_key(generate_key_bytes())})
    assert closed.exit_code == 0, closed.output
    served = serving_clock(Settings.of(database_url=url, business_date="db"))
    assert served.today() == dt.date(2025, 4, 1)


@pytest.mark.parametrize("value", ["2025-13-01", "yesterday", "2025/01/01", ""])
def test_a_bad_business_date_is_named(value):
    with pytest.raises(ValidationError) as refused:
        Settings.of(business_date=value)
    assert refused.value.field == "CREDITPAY_BUSINESS_DATE"
    result = CliRunner().invoke(app, ["serve", "--business-date", value])
    assert result.exit_code == 2 and "--business-date" in result.output


def test_every_command_runs_at_the_business_date_setting(store, monkeypatch):
    """CREDITPAY_BUSINESS_DATE is the business clock of every command's services too, not
    only of ``creditpay serve``: a staff command on a demo database acts on its day."""
    from creditpay.cli.common import open_services

    monkeypatch.setenv("CREDITPAY_BUSINESS_DATE", "2025-01-15")
    with open_services(store.url, read_only=True) as built:
        now = built.clock.now()
    assert now.date() == dt.date(2025, 1, 15) and now.hour == 9
    monkeypatch.delenv("CREDITPAY_BUSINESS_DATE")
    with open_services(store.url, read_only=True) as built:
        assert isinstance(built.clock, SystemClock)  # the wall clock
