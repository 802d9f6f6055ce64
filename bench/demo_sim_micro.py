"""CPU per call of the statements the third pass on the demo (issue #14, branch h14-sim) made
constant, old form (a statement built per call, as on main before) against the new one (built
once with bound parameters), on the same connection to a demo database:

    PYTHONPATH=src .venv/bin/python bench/demo_sim_micro.py var/demo.db

* ``credit.hardship.under_arrangement``: read by the collections run for every account it
  works each day;
* ``Wallet.history`` (one row): read after every top-up by the simulator, and by the app's
  wallet page;
* the limit review's read of one pending action (``apply_limit_actions``: once per line at
  each monthly review).

Read only (the database is opened read-only). CPU time (``time.process_time``), so that
other work on the machine counts as little as it can.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, create_engine, func, or_, select

from creditpay.credit.hardship import _line_plans, under_arrangement
from creditpay.credit.hardship_tables import credit_hardship_arrangements
from creditpay.payments.tables import wallet_operations
from creditpay.risk.decisions import limit_review
from creditpay.risk.decisions.tables import limit_review_actions

ROUNDS = 3


def _old_under_arrangement(conn: Any, account_id: str) -> bool:
    a = credit_hardship_arrangements.c
    return bool(conn.execute(select(func.count()).select_from(credit_hardship_arrangements)
                             .where(or_(a.account_id == account_id,
                                        a.account_id.in_(_line_plans(account_id))),
                                    a.status == "active")).scalar_one() > 0)


def _old_history(conn: Any, customer_id: str) -> list[Any]:
    w = wallet_operations.c
    return list(conn.execute(select(wallet_operations).where(
        or_(w.customer_id == customer_id, and_(w.counterparty_customer_id == customer_id,
                                               w.kind == "p2p")))
        .order_by(w.seq.desc()).limit(2)).all())


def _new_history(conn: Any, customer_id: str) -> list[Any]:
    from creditpay.payments.wallet import _HISTORY

    return list(conn.execute(_HISTORY, {"customer_id": customer_id, "rows": 2}).all())


def _old_action(conn: Any, action_id: int) -> Any:
    return conn.execute(select(limit_review_actions).where(
        limit_review_actions.c.id == action_id,
        limit_review_actions.c.applied_at.is_(None))).first()


def _new_action(conn: Any, action_id: int) -> Any:
    return conn.execute(limit_review._PENDING_ACTION, {"action_id": action_id}).first()


def _us(conn: Any, fn: Callable[[Any, Any], Any], keys: list[Any]) -> float:
    for key in keys[:20]:  # warm the compiled cache
        fn(conn, key)
    started = time.process_time()
    for _ in range(ROUNDS):
        for key in keys:
            fn(conn, key)
    return 1e6 * (time.process_time() - started) / (ROUNDS * len(keys))


def main(path: str) -> None:
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with engine.connect() as conn:
        accounts = [r[0] for r in conn.exec_driver_sql(
            "SELECT account_id FROM credit_accounts ORDER BY seq LIMIT 500")]
        customers = [r[0] for r in conn.exec_driver_sql(
            "SELECT DISTINCT customer_id FROM wallet_operations LIMIT 500")]
        actions = [r[0] for r in conn.exec_driver_sql(
            "SELECT id FROM limit_review_actions ORDER BY id LIMIT 500")]
        for account in accounts:  # the same answers
            assert _old_under_arrangement(conn, account) == under_arrangement(conn, account)
        for customer in customers[:50]:
            assert _old_history(conn, customer) == _new_history(conn, customer)
        pairs = [("under_arrangement", _old_under_arrangement, under_arrangement, accounts),
                 ("wallet history (1 row)", _old_history, _new_history, customers),
                 ("limit review pending action", _old_action, _new_action, actions)]
        for name, old, new, keys in pairs:
            if not keys:
                print(f"{name}: nothing to read in this database")
                continue
            print(f"{name}: {_us(conn, old, keys):.1f} -> {_us(conn, new, keys):.1f} µs "
                  f"of CPU per call ({len(keys)} keys x {ROUNDS})")


if __name__ == "__main__":
    main(sys.argv[1])
