"""Per-call CPU of the demo branch's statement and check changes, old form against new, on a
demo's SQLite database (issue #14):
``PYTHONPATH=src .venv/bin/python bench/demo_statements_micro.py var/demo.db``.
Read-only for the database (the updates run in a transaction that is rolled back)."""

import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select, update

from creditpay.credit.accounts_repo import load_account
from creditpay.credit.tables import credit_accounts
from creditpay.db.engine import make_engine
from creditpay.payments import checkout as C
from creditpay.payments.tables import payment_intents
from creditpay.platform import audit
from creditpay.risk.fraud.features import FeatureConfig

PAYLOAD = {"amount_minor": 12345, "currency": "CNY", "funding": "installment_plan",
           "risk": "approve",
           "offer": {"offer_id": "off_0123456789abcdef", "periods": 6,
                     "per_period_amount_minor": 2100, "total_repayable_minor": 12600,
                     "total_fee_minor": 255, "total_interest_minor": 0,
                     "apr_percent": "9.1200", "all_in_annual_cost_percent": "9.5000",
                     "key_facts_sha256": "ab" * 32,
                     "disclosure_acceptance_id": "dac_0123456789abcdef",
                     "down_payment_minor": 0, "financed_minor": 12345}}


def cpu_us(fn: Callable[[int], Any], n: int) -> float:
    """Mean CPU microseconds of ``fn(i)`` over ``n`` calls."""
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1e6


def compare(label: str, old: Callable[[int], Any], new: Callable[[int], Any], n: int) -> None:
    for _ in range(2):
        print(label, "old us", round(cpu_us(old, n)), "new us", round(cpu_us(new, n)))


def old_check_payload(value: Any, path: str, depth: int) -> None:
    """The audit payload check as it was before the key checks were remembered."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}"
            audit._reject_pii_text(key, child)
            if audit._FREE_TEXT_KEY.fullmatch(key):
                audit._require_code(item, child)
            if isinstance(item, int | float) and not isinstance(item, bool) \
                    and audit._PII_KEY_HINT.search(key):
                audit._reject_pii_text(str(item), child)
            old_check_payload(item, child, depth + 1)
    elif isinstance(value, str):
        audit._reject_pii_text(value, path)


def main(db: str) -> None:
    engine = make_engine(f"sqlite:///{db}", durability="normal")
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(credit_accounts.c.account_id).limit(500))]
        accounts = credit_accounts.c
        compare("load_account",
                lambda i: dict(conn.execute(select(credit_accounts).where(
                    accounts.account_id == ids[i % len(ids)])).mappings().first()),
                lambda i: load_account(conn, ids[i % len(ids)]), 3000)
        rows = [tuple(r) for r in conn.execute(
            select(payment_intents.c.id, payment_intents.c.captured_minor)
            .where(payment_intents.c.status == "succeeded").limit(500))]
        intents, captured = [r[0] for r in rows], dict(rows)
        conn.rollback()
        transaction = conn.begin()

        def values(i: int) -> tuple[str, dict[str, Any]]:
            intent = intents[i % len(intents)]
            return intent, {"status": "succeeded", "captured_minor": captured[intent]}

        compare("capture update",
                lambda i: conn.execute(update(payment_intents).where(
                    payment_intents.c.id == values(i)[0]).values(**values(i)[1])),
                lambda i: conn.execute(C._SET_CAPTURED, C._intent_params(*values(i))), 3000)
        transaction.rollback()
    compare("payload check", lambda i: old_check_payload(PAYLOAD, "payload", 0),
            lambda i: audit._check_payload(PAYLOAD, "payload", 0), 5000)
    config = FeatureConfig()

    def old_version(i: int) -> str:
        text = json.dumps(config.to_dict(), sort_keys=True).encode()
        return "features-" + hashlib.sha256(text).hexdigest()[:12]

    assert old_version(0) == config.version
    compare("feature config version", old_version, lambda i: config.version, 5000)


if __name__ == "__main__":
    main(sys.argv[1])
