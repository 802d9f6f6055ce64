"""Four-eyes on credit line limit changes (issue #16), over HTTP on both stores: a new limit
at or below the threshold is applied at once (200), above it is a proposal (202, kind
credit_line.limit) that another operator approves once; the proposer is refused (403); a
proposal whose line changed meanwhile fails at approval (409 stale-proposal) and changes
nothing; refusals (unknown or frozen line, exposure cap, below what is in use) are given when
proposing and nothing is stored; every step is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.credit.lines import get_line
from creditpay.credit.tables import credit_lines
from creditpay.ledger.chart import platform_key
from creditpay.platform.tables import approvals, audit_records

THRESHOLD = 5_000_000  # 50,000.00: the default


def _line(api: Any, admin: str, phone: str, limit_minor: int = 1_000_000) -> str:
    _token, customer_id = api.customer_with_line(admin, phone, limit_minor)
    return f"line_{customer_id}_CNY"


def _limit(api: Any, token: str, line_id: str, limit_minor: int, reason: str = "review",
           **expect: int) -> Any:
    return api.post(f"/v1/operator/credit_lines/{line_id}/limit",
                    {"limit_minor": limit_minor, "reason": reason}, token, **expect)


def _row(api: Any, line_id: str) -> dict[str, Any]:
    with api.runtime.uow.connect() as conn:
        return get_line(conn, line_id)


def _available(api: Any, line_id: str) -> int:
    with api.runtime.uow.connect() as conn:
        return L.get_account(conn, _row(api, line_id)["available_account_id"]).available_minor


def _control(api: Any) -> int:
    with api.runtime.uow.connect() as conn:
        account = L.get_account_by_key(conn, platform_key("credit_limit_control", "CNY"))
        return L.balance(conn, account.id).balance_minor


def _audit(api: Any, subject_id: str) -> list[str]:
    with api.runtime.uow.connect() as conn:
        return list(conn.execute(select(audit_records.c.action).where(
            audit_records.c.subject_id == subject_id).order_by(
            audit_records.c.id)).scalars())


def _proposals(api: Any) -> int:
    with api.runtime.uow.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(approvals)).scalar_one())


def test_at_or_below_the_threshold_the_limit_changes_at_once(api):
    admin = api.operator("admin")
    line_id = _line(api, admin, "13800000201")
    control = _control(api)
    up = _limit(api, admin, line_id, THRESHOLD, expect=200).json()
    assert (up["limit_minor"], up["available_minor"], up["limit_version"]) == \
        (THRESHOLD, THRESHOLD, 2)
    assert _control(api) == control + (THRESHOLD - 1_000_000)  # the ledger moved the delta
    down = _limit(api, api.operator("risk_analyst"), line_id, 300_000, expect=200).json()
    assert (down["limit_minor"], down["available_minor"]) == (300_000, 300_000)
    assert _audit(api, line_id) == ["credit_line.limit_changed"] * 2
    assert _proposals(api) == 0


def test_above_it_a_second_operator_approves_and_it_is_applied_once(api):
    admin = api.operator("admin")
    maker = api.operator("risk_analyst")
    line_id = _line(api, admin, "13800000202")
    proposed = _limit(api, maker, line_id, THRESHOLD + 1, "Income verified", expect=202).json()
    assert proposed["kind"] == "credit_line.limit" and proposed["status"] == "pending"
    assert proposed["payload"]["line_id"] == line_id
    assert proposed["payload"]["limit_minor"] == THRESHOLD + 1
    assert proposed["payload"]["from_limit_minor"] == 1_000_000
    assert proposed["payload"]["reason"] == "Income verified"
    assert _row(api, line_id)["limit_minor"] == 1_000_000  # nothing applied yet
    url = f"/v1/operator/approvals/{proposed['approval_id']}"
    own = api.post(f"{url}/approve", None, maker)
    assert own.status_code == 403 and own.json()["field"] == "approval_id"
    assert api.post(f"{url}/approve", None, api.operator("compliance_officer")
                    ).status_code == 403
    done = api.post(f"{url}/approve", None, admin, idem="limit-approve-1", expect=200).json()
    assert done["status"] == "approved"
    assert done["result"]["limit_minor"] == THRESHOLD + 1
    assert api.post(f"{url}/approve", None, admin, idem="limit-approve-1",
                    expect=200).json() == done  # replayed, not applied again
    assert api.post(f"{url}/approve", None, api.operator("admin")).status_code == 409
    row = _row(api, line_id)
    assert (row["limit_minor"], row["limit_version"]) == (THRESHOLD + 1, 2)
    assert _available(api, line_id) == THRESHOLD + 1
    assert _audit(api, proposed["approval_id"]) == ["approval.proposed", "approval.approved"]
    assert _audit(api, line_id) == ["credit_line.limit_changed"]


def test_a_decrease_that_stays_above_the_threshold_is_controlled_too(api):
    admin = api.operator("admin")
    line_id = _line(api, admin, "13800000203")
    first = _limit(api, admin, line_id, 9_000_000, expect=202).json()
    api.post(f"/v1/operator/approvals/{first['approval_id']}/approve", None,
             api.operator("risk_analyst"), expect=200)
    lower = _limit(api, admin, line_id, 6_000_000, expect=202).json()
    assert lower["payload"]["from_limit_minor"] == 9_000_000
    assert _row(api, line_id)["limit_minor"] == 9_000_000


def test_a_stale_proposal_fails_at_approval_and_changes_nothing(api):
    admin = api.operator("admin")
    checker = api.operator("risk_analyst")
    line_id = _line(api, admin, "13800000204")
    proposed = _limit(api, admin, line_id, 8_000_000, expect=202).json()
    _limit(api, checker, line_id, 2_000_000, expect=200)  # the line moved meanwhile
    before = (_row(api, line_id), _available(api, line_id), _control(api))
    url = f"/v1/operator/approvals/{proposed['approval_id']}"
    stale = api.post(f"{url}/approve", None, checker)
    assert stale.status_code == 409, stale.text
    assert stale.json()["type"].endswith("/stale-proposal")
    assert stale.json()["field"] == "line_id"
    assert (_row(api, line_id), _available(api, line_id), _control(api)) == before
    assert api.get(url, admin, expect=200).json()["status"] == "pending"
    assert _audit(api, proposed["approval_id"]) == ["approval.proposed"]
    # The checker can still reject it.
    api.post(f"{url}/reject", {"reason": "superseded"}, checker, expect=200)
    assert _audit(api, proposed["approval_id"]) == ["approval.proposed", "approval.rejected"]


def test_refusals_are_given_when_proposing_and_nothing_is_stored(api):
    admin = api.operator("admin")
    line_id = _line(api, admin, "13800000205")
    missing = _limit(api, admin, "line_missing_CNY", 8_000_000)
    assert missing.status_code == 404 and missing.json()["field"] == "line_id"
    capped = _limit(api, admin, line_id, 20_000_001)
    assert capped.status_code == 409 and capped.json()["field"] == "limit_minor"
    assert capped.json()["type"].endswith("/cap-exceeded")
    blank = _limit(api, admin, line_id, 8_000_000, reason="   ")
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    negative = _limit(api, admin, line_id, -1)
    assert negative.status_code == 422 and negative.json()["field"] == "limit_minor"
    assert _proposals(api) == 0
    assert _row(api, line_id)["limit_minor"] == 1_000_000


def test_a_limit_below_what_is_in_use_is_refused(api):
    admin = api.operator("admin")
    line_id = _line(api, admin, "13800000206")
    customer_id = _row(api, line_id)["customer_id"]
    rt = api.runtime

    def hold(tx: Any) -> None:
        offers = S.quote_offers(tx, customer_id=customer_id, amount_minor=400_000,
                                currency="CNY", catalogue=rt.catalogue)
        offer = next(o for o in offers if o.funding == "line" and o.periods == 1)
        S.authorise_purchase(tx, authorisation_id="auth_limit_test", customer_id=customer_id,
                             amount_minor=400_000, currency="CNY", offer_id=offer.offer_id,
                             reference="limit-test", catalogue=rt.catalogue)

    rt.uow.run(hold)
    below = _limit(api, admin, line_id, 399_999)
    assert below.status_code == 409 and below.json()["field"] == "limit_minor"
    assert below.json()["type"].endswith("/limit-exceeded")
    at = _limit(api, admin, line_id, 400_000, expect=200).json()
    assert (at["limit_minor"], at["available_minor"]) == (400_000, 0)


def test_a_frozen_line_keeps_its_limit(api):
    admin = api.operator("admin")
    line_id = _line(api, admin, "13800000207")
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(credit_lines.update().where(credit_lines.c.line_id == line_id).values(
            status="frozen"))
    frozen = _limit(api, admin, line_id, 2_000_000)
    assert frozen.status_code == 409 and frozen.json()["field"] == "line_id"
    assert _limit(api, admin, line_id, 8_000_000).status_code == 409
    assert _proposals(api) == 0
