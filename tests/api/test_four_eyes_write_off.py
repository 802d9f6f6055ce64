"""Four-eyes on write-off reversals (issue #16), over HTTP on both stores: always a proposal
(202, kind write_off.reverse), refused to its proposer and to roles that may not decide
(403), executed once by a second operator (the account active again, the ledger as before
the write-off), replay-safe; a proposal whose write-off changed meanwhile (a recovery came
in) fails at approval with 409 stale-proposal and changes nothing; refusals are given when
proposing and nothing is stored; every step is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from creditpay.credit.tables import credit_accounts
from creditpay.ledger.tables import ledger_accounts
from creditpay.ledger.verify import verify_ledger
from creditpay.platform.tables import approvals, audit_records
from tests.credit.servicing_helpers import buy, close_days, new_customer, reconcile, repay
from tests.credit.test_write_off_reversal import DAYS_MAX, FAST


def _written_off_line(api: Any, clock: Any, customer_id: str) -> tuple[Any, str]:
    uow = api.runtime.uow
    who = new_customer(uow, customer_id, catalogue=FAST)
    buy(uow, who, f"{customer_id}-p1", 60_000, catalogue=FAST)
    for _ in range(DAYS_MAX):
        close_days(uow, clock, 1, catalogue=FAST)
        if _account(api, who.line_id)["status"] == "written_off":
            return who, who.line_id
    raise AssertionError("not written off")


def _account(api: Any, account_id: str) -> dict[str, Any]:
    with api.runtime.uow.connect() as conn:
        return dict(conn.execute(select(credit_accounts).where(
            credit_accounts.c.account_id == account_id)).mappings().one())


def _ledger(api: Any) -> dict[int, tuple[int, int]]:
    with api.runtime.uow.connect() as conn:
        return {r.id: (r.debits_posted, r.credits_posted)
                for r in conn.execute(select(ledger_accounts))}


def _audit(api: Any, subject_id: str) -> list[str]:
    with api.runtime.uow.connect() as conn:
        return list(conn.execute(select(audit_records.c.action).where(
            audit_records.c.subject_id == subject_id).order_by(
            audit_records.c.id)).scalars())


def _reverse(api: Any, token: str, account_id: str, reason: str = "repayment misposted",
             **expect: int) -> Any:
    return api.post(f"/v1/operator/credit_accounts/{account_id}/write_off/reverse",
                    {"reason": reason}, token, **expect)


def test_a_second_operator_reverses_a_write_off_once(api, clock):
    maker = api.operator("risk_analyst")
    checker = api.operator("admin")
    who, account_id = _written_off_line(api, clock, "cus_wo_api_1")
    written_off = _account(api, account_id)
    proposed = _reverse(api, maker, account_id, expect=202).json()
    assert proposed["kind"] == "write_off.reverse" and proposed["status"] == "pending"
    assert proposed["payload"]["account_id"] == account_id
    assert proposed["payload"]["written_off_on"] == written_off["written_off_on"].isoformat()
    assert proposed["payload"]["written_off_minor"] == written_off["written_off_minor"]
    assert _account(api, account_id)["status"] == "written_off"  # nothing done yet
    url = f"/v1/operator/approvals/{proposed['approval_id']}"
    assert api.post(f"{url}/approve", None, maker).status_code == 403
    assert api.post(f"{url}/approve", None, api.operator("collections_agent")
                    ).status_code == 403
    done = api.post(f"{url}/approve", None, checker, idem="wo-approve-1", expect=200).json()
    assert done["status"] == "approved"
    assert done["result"]["reversed_minor"] == written_off["written_off_minor"]
    after = _ledger(api)
    assert api.post(f"{url}/approve", None, checker, idem="wo-approve-1",
                    expect=200).json() == done
    assert api.post(f"{url}/approve", None, api.operator("admin")).status_code == 409
    assert _ledger(api) == after  # executed exactly once
    restored = _account(api, account_id)
    assert (restored["status"], restored["written_off_minor"]) == ("active", 0)
    for component, (state, ledger) in reconcile(api.runtime.uow, who.customer_id).items():
        assert state == ledger, component
    with api.runtime.uow.connect() as conn:
        assert verify_ledger(conn).ok
    assert _audit(api, proposed["approval_id"]) == ["approval.proposed", "approval.approved"]
    assert _audit(api, account_id) == ["credit_account.write_off_reversed"]


def test_a_recovery_meanwhile_makes_the_proposal_stale(api, clock):
    maker = api.operator("admin")
    checker = api.operator("risk_analyst")
    who, account_id = _written_off_line(api, clock, "cus_wo_api_2")
    proposed = _reverse(api, maker, account_id, expect=202).json()
    repay(api.runtime.uow, who, "wo-api-recovery", 1_000, catalogue=FAST)
    before = (_account(api, account_id), _ledger(api))
    url = f"/v1/operator/approvals/{proposed['approval_id']}"
    stale = api.post(f"{url}/approve", None, checker)
    assert stale.status_code == 409, stale.text
    assert stale.json()["type"].endswith("/stale-proposal")
    assert stale.json()["field"] == "account_id"
    assert (_account(api, account_id), _ledger(api)) == before
    assert api.get(url, checker, expect=200).json()["status"] == "pending"
    assert _audit(api, proposed["approval_id"]) == ["approval.proposed"]


def test_refusals_are_given_when_proposing_and_nothing_is_stored(api, clock):
    admin = api.operator("admin")
    uow = api.runtime.uow
    who = new_customer(uow, "cus_wo_api_3", catalogue=FAST)
    active = _reverse(api, admin, who.line_id)
    assert active.status_code == 409 and active.json()["field"] == "account_id"
    missing = _reverse(api, admin, "line_nobody")
    assert missing.status_code == 404 and missing.json()["field"] == "account_id"
    blank = _reverse(api, admin, who.line_id, reason="")
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(approvals)).scalar_one() == 0
