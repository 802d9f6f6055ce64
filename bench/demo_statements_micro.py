"""Per-call CPU of the demo branch's statement and check changes, old form against new, on a demo's
SQLite database (issue #14): PYTHONPATH=src .venv/bin/python bench/demo_statements_micro.py var/demo.db
Read-only for the database (the updates run in a transaction that is rolled back)."""
import sys
import time

from sqlalchemy import select, update

from creditpay.credit.accounts_repo import load_account
from creditpay.credit.tables import credit_accounts
from creditpay.db.engine import make_engine
from creditpay.payments import checkout as C
from creditpay.payments.tables import payment_intents
from creditpay.platform import audit

db = sys.argv[1]
eng = make_engine(f"sqlite:///{db}", durability="normal")
def cpu(fn, n):
    t = time.process_time()
    for i in range(n): fn(i)
    return (time.process_time() - t) / n * 1e6
with eng.connect() as conn:
    ids = [r[0] for r in conn.execute(select(credit_accounts.c.account_id).limit(500))]
    def old_load(i):
        q = select(credit_accounts).where(credit_accounts.c.account_id == ids[i % len(ids)])
        return dict(conn.execute(q).mappings().first())
    def new_load(i):
        return load_account(conn, ids[i % len(ids)])
    for _ in range(2):
        print("load_account old us", round(cpu(old_load, 3000)), "new us", round(cpu(new_load, 3000)))
    rows = [tuple(r) for r in conn.execute(select(payment_intents.c.id, payment_intents.c.captured_minor).where(payment_intents.c.status == "succeeded").limit(500))]; intents = [r[0] for r in rows]; cap = dict(rows)
    conn.rollback(); trans = conn.begin()
    def old_upd(i):
        conn.execute(update(payment_intents).where(payment_intents.c.id == intents[i % len(intents)]).values(status="succeeded", captured_minor=cap[intents[i % len(intents)]]))
    def new_upd(i):
        conn.execute(C._SET_CAPTURED, C._intent_params(intents[i % len(intents)], {"status": "succeeded", "captured_minor": cap[intents[i % len(intents)]]}))
    for _ in range(2):
        print("capture update old us", round(cpu(old_upd, 3000)), "new us", round(cpu(new_upd, 3000)))
    trans.rollback()
payload = {"amount_minor": 12345, "currency": "CNY", "funding": "installment_plan", "risk": "approve",
           "offer": {"offer_id": "off_0123456789abcdef", "periods": 6, "per_period_amount_minor": 2100,
                     "total_repayable_minor": 12600, "total_fee_minor": 255, "total_interest_minor": 0,
                     "apr_percent": "9.1200", "all_in_annual_cost_percent": "9.5000",
                     "key_facts_sha256": "ab" * 32, "disclosure_acceptance_id": "dac_0123456789abcdef",
                     "down_payment_minor": 0, "financed_minor": 12345}}
def check(i): audit._check_payload(payload, "payload", 0)
def old_check_payload(value, path, depth):
    from collections.abc import Mapping
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}"
            audit._reject_pii_text(key, child)
            if audit._FREE_TEXT_KEY.fullmatch(key): audit._require_code(item, child)
            if isinstance(item, int | float) and not isinstance(item, bool) and audit._PII_KEY_HINT.search(key):
                audit._reject_pii_text(str(item), child)
            old_check_payload(item, child, depth + 1)
    elif isinstance(value, str): audit._reject_pii_text(value, path)
def old(i): old_check_payload(payload, "payload", 0)
for _ in range(2):
    print("payload check old us", round(cpu(old, 5000)), "new us", round(cpu(check, 5000)))
from creditpay.risk.fraud.features import FeatureConfig

cfg = FeatureConfig()
import hashlib
import json


def oldv(i): return "features-" + hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
def newv(i): return cfg.version
assert oldv(0) == newv(0)
print("feature version old us", round(cpu(oldv, 3000)), "new us", round(cpu(newv, 3000), 2))
