"""The early-warning job's nightly read of its stored window (job._history_rows, a prepared
statement run on the driver) returns what the Core select of those columns returned, values
and types, on both stores."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from creditpay.risk.early_warning import job
from creditpay.risk.early_warning.tables import ew_metric_values


def key(row):
    return row[0], row[1], row[2]


def test_history_rows_equal_the_core_read(uow):
    start = dt.date(2025, 1, 1)
    rows = []
    for day in range(40):
        for metric, segment in (("approval_rate", "all"), ("fpd_rate", "product:huabei"),
                                ("feature_psi:age_years", "grade:A")):
            value = None if day % 7 == 3 else (day * 0.1 + 1 / 3 if day % 2 else day)
            rows.append({"day": start + dt.timedelta(days=day), "metric": metric,
                         "segment": segment, "value": value,
                         "numerator": None if value is None else 3.0,
                         "denominator": None if day % 5 == 1 else float(day * 11) + 0.25,
                         "computed_at": dt.datetime(2025, 2, 1, tzinfo=dt.UTC)})
    with uow.begin() as tx:
        tx.conn.execute(ew_metric_values.insert(), rows)
    m = ew_metric_values.c
    with uow.connect() as conn:
        for low, high in ((start, start + dt.timedelta(days=39)),
                          (start + dt.timedelta(days=5), start + dt.timedelta(days=12)),
                          (start - dt.timedelta(days=9), start),
                          (start + dt.timedelta(days=50), start + dt.timedelta(days=60))):
            core = [tuple(r) for r in conn.execute(
                select(m.metric, m.segment, m.day, m.value, m.denominator).where(
                    m.day >= low, m.day <= high))]
            driver = job._history_rows(conn, low, high)
            assert sorted(driver, key=key) == sorted(core, key=key)
            assert [tuple(map(type, r)) for r in sorted(driver, key=key)] == \
                [tuple(map(type, r)) for r in sorted(core, key=key)]
        assert len(job._history_rows(conn, start, start + dt.timedelta(days=39))) == 120
