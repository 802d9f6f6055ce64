"""The credit-account repository, on SQLite and PostgreSQL: the close of business's chunk
arrays and the single-account rows are the same accounts (one (de)serialisation), and the
installments a service saves are the ones it loads back."""

from __future__ import annotations

import datetime as dt

import numpy as np

from creditpay.credit import accounts_repo as repo
from creditpay.credit import service as S
from creditpay.credit.cob_vectorised import NO_DATE, day_number
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, buy, close_until, new_customer


def _book(uow, clock) -> list[str]:
    """A line, an installment plan on it and a cash loan, some days into their life (due
    dates, a statement and a past-due item set), and an auto-debit switched on."""
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 30_000)
    buy(uow, who, "p2", 120_000, funding="plan", product_code="baitiao", periods=3)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-r", customer_id="c1", currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=3,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    close_until(uow, clock, dt.date(2025, 4, 15))
    with uow.connect() as conn:
        return repo.account_ids(conn, "c1")


def test_chunk_arrays_are_the_single_account_rows(uow, clock):
    ids = _book(uow, clock)
    assert len(ids) == 3
    day = day_number(clock.today())
    with uow.connect() as conn:
        chunk = repo.load_chunk(conn, day, 1, 1_000_000)
        rows = {a["seq"]: a for a in (repo.load_account(conn, i) for i in ids)}
    assert sorted(chunk["seq"].tolist()) == sorted(rows)
    assert any(r["next_due_date"] is not None for r in rows.values())
    for k, seq in enumerate(chunk["seq"].tolist()):
        row = rows[seq]
        for name in repo.ACCOUNT_COLUMNS:
            value = chunk[name][k]
            stored = row[name]
            if isinstance(stored, dt.date):
                assert value == day_number(stored), name
            elif name.endswith("_date") and stored is None:
                assert value == NO_DATE, name
            elif stored is None:
                assert value in (0, None), name
            elif isinstance(stored, bool):
                assert value == int(stored), name
            else:
                assert value == stored, name
            if name not in ("account_id", "kind", "customer_id", "currency", "line_id",
                            "product_code", "style", "bucket"):
                assert isinstance(value, np.integer), name


def test_items_saved_are_the_items_loaded(uow, clock):
    _book(uow, clock)
    with uow.begin() as tx:
        plan = repo.customer_accounts(tx.conn, "c1", CNY, ("active",), lock=True)
        plan = next(a for a in plan if a["kind"] == "plan")
        items = repo.load_items(tx.conn, plan["seq"], open_only=False)
        assert items and repo.next_number(tx.conn, plan["seq"]) == items[-1].number + 1
        items[-1].minimum_minor += 1
        items[-1].dirty = True
        extra = repo.Item(None, items[-1].number + 1, dt.date(2025, 9, 10), "scheduled",
                          500, 7, 3, minimum_minor=510)
        repo.save_items(tx.conn, plan["seq"], [*items, extra])
    with uow.connect() as conn:
        again = repo.load_items(conn, plan["seq"], open_only=False)
    assert [(i.number, i.status, i.minimum_minor, i.total_due) for i in again] == \
        [(i.number, i.status, i.minimum_minor, i.total_due) for i in [*items, extra]]
    assert again[-1].id is not None and not any(i.dirty for i in again)


def test_idle_accounts_are_left_out_and_counted_on_both_stores(uow, clock):
    """The idle condition's SQL on each store: the chunk read with ``skip_idle`` plus the idle
    count is the whole chunk; a fee-priced plan between its due dates is left out, the same
    plan with an item due by tomorrow is read, and so is a line on its statement day."""
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 30_000)
    buy(uow, who, "p2", 120_000, funding="plan", product_code="baitiao", periods=3)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-r", customer_id="c1", currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=3,
                             method="equal_installment", wallet_account_id=who.wallet_id,
                             catalogue=CATALOGUE)
    close_until(uow, clock, dt.date(2025, 3, 12))
    day = day_number(clock.today())
    with uow.connect() as conn:
        everything = repo.load_chunk(conn, day, 1, 1_000_000)
        kinds = dict(zip(everything["seq"].tolist(), everything["kind"].tolist(), strict=True))
        assert sorted(kinds.values()) == ["line", "loan", "plan"]
        line, plan, loan = (next(s for s, k in kinds.items() if k == kind)
                            for kind in ("line", "plan", "loan"))
        statement_day = int(everything["statement_day"][everything["seq"] == line][0])
        other_day = statement_day % 28 + 1

        def read(statement_day: int, busy: tuple[int, ...]) -> tuple[set[int], int]:
            idle = repo.IdleFilter(statement_day, busy)
            chunk = repo.load_chunk(conn, day, 1, 1_000_000, skip_idle=idle)
            return set(chunk["seq"].tolist()), repo.count_idle(conn, day, 1, 1_000_000, idle)

        loaded, idle = read(other_day, ())
        assert plan not in loaded and loan in loaded  # the loan accrues interest daily
        assert len(loaded) + idle == 3
        loaded, idle = read(other_day, (plan,))
        assert plan in loaded and len(loaded) + idle == 3
        loaded, idle = read(statement_day, ())
        assert line in loaded and len(loaded) + idle == 3
