"""Good/bad labels of the simulated credit applications, for ``applications.csv``.

Definition (docs/risk-models.md, "Labels"): an approved application is labelled once
its **performance window** of :data:`PERFORMANCE_WINDOW_DAYS` days from the application date
has fully elapsed by the last day observed. It is **bad** when one of the applicant's credit
accounts reached :data:`~creditpay.sim.monitoring.BAD_DPD` days past due or was written off on
or before the window's last day, **good** otherwise. A bad that happened after the window is
not this application's bad (it would make the label depend on how long the run went on).

``label_status`` tells the rows apart: ``good`` / ``bad`` (matured, labelled), ``declined``
(no credit given, so no outcome; reject inference can impute one), ``unmatured`` (approved,
window not over yet: its outcome is unknown, not good). Only ``good`` and ``bad`` rows have a
``bad`` value.

Pure: dates in, labels out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

__all__ = ["LABEL_STATUSES", "PERFORMANCE_WINDOW_DAYS", "application_label"]

# 90 days: the line's first statement falls due about 30 days after a first draw, so an
# account that never pays reaches 30 days past due about 60 days after the application;
# 90 days leave a month's margin while a 120-day demo still has a month of matured
# applications. Longer windows would label nothing in a short run.
PERFORMANCE_WINDOW_DAYS = 90
LABEL_STATUSES = ("good", "bad", "declined", "unmatured")


def application_label(applied_on: dt.date, approved: bool, went_bad_on: Iterable[dt.date],
                      observed_until: dt.date | None,
                      window_days: int = PERFORMANCE_WINDOW_DAYS) -> tuple[str, int | None]:
    """``(label_status, bad)`` of one application.

    ``went_bad_on``: the days each of the applicant's accounts went bad (any account, any
    day); ``observed_until``: the last day the book was observed (None: never). ``bad`` is
    1/0 for matured approved applications, None otherwise.
    """
    if not approved:
        return "declined", None
    window_end = applied_on + dt.timedelta(days=window_days)
    if observed_until is None or window_end > observed_until:
        return "unmatured", None
    bad = any(applied_on <= day <= window_end for day in went_bad_on)
    return ("bad", 1) if bad else ("good", 0)
