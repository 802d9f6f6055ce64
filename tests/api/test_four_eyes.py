"""Four-eyes control (maker-checker, issue #16) over HTTP on both stores: a credit line above
the threshold is a proposal (202 with its approval_id) that a different operator with an
approving role approves (the line is granted then, once) or rejects with a reason; the
proposer and other roles are refused (403); a decided or expired proposal cannot be decided
(409); a grant the domain would refuse is refused when proposed, and nothing is stored;
two checkers approving at once execute it once; every step is audited."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from creditpay.credit.tables import credit_lines
from creditpay.errors import DomainError, StateError
from creditpay.platform import approvals as A
from creditpay.platform.tables import approvals, audit_records

THRESHOLD = 5_000_000  # 50,000.00: the default
KYC = {"legal_name": "王小明", "id_number": "11010519491231002X", "date_of_birth": "1949-12-31"}


def _verified(api: Any, phone: str) -> str:
    token = api.customer(phone)
    api.post("/v1/me/kyc", KYC, token, expect=200)
    return str(api.get("/v1/me", token).json()["id"])


def _grant(api: Any, token: str, customer_id: str, limit_minor: int, **expect: int) -> Any:
    return api.post(f"/v1/operator/customers/{customer_id}/credit_line",
                    {"limit_minor": limit_minor, "product_code": "huabei"}, token, **expect)


def _lines(api: Any, customer_id: str) -> int:
    with api.runtime.uow.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(credit_lines).where(
            credit_lines.c.customer_id == customer_id)).scalar_one())


def _audit(api: Any, approval_id: str) -> list[str]:
    with api.runtime.uow.connect() as conn:
        return list(conn.execute(select(audit_records.c.action).where(
            audit_records.c.subject_id == approval_id).order_by(
            audit_records.c.id)).scalars())


def test_at_the_threshold_a_line_is_granted_at_once(api):
    admin = api.operator("admin")
    customer_id = _verified(api, "13800000101")
    line = _grant(api, admin, customer_id, THRESHOLD, expect=201).json()
    assert line["limit_minor"] == THRESHOLD
    assert api.get("/v1/operator/approvals", admin, expect=200).json()["data"] == []


def test_above_it_a_second_operator_approves_and_the_line_is_granted_once(api):
    maker = api.operator("risk_analyst")
    checker = api.operator("admin")
    compliance = api.operator("compliance_officer")
    customer_id = _verified(api, "13800000102")

    proposed = _grant(api, maker, customer_id, THRESHOLD + 1, expect=202).json()
    approval_id = proposed["approval_id"]
    assert proposed["status"] == "pending" and proposed["kind"] == "credit_line.grant"
    assert proposed["payload"] == {"customer_id": customer_id, "limit_minor": THRESHOLD + 1,
                                   "product_code": "huabei", "currency": "CNY"}
    assert _lines(api, customer_id) == 0  # nothing granted yet
    queue = api.get("/v1/operator/approvals", compliance, params={"status": "pending"},
                    expect=200).json()["data"]
    assert [a["approval_id"] for a in queue] == [approval_id]

    url = f"/v1/operator/approvals/{approval_id}"
    own = api.post(f"{url}/approve", None, maker)
    assert own.status_code == 403 and own.json()["field"] == "approval_id"
    assert api.post(f"{url}/approve", None, compliance).status_code == 403  # reads only
    assert _lines(api, customer_id) == 0

    done = api.post(f"{url}/approve", None, checker, idem="approve-0001", expect=200).json()
    assert done["status"] == "approved" and done["decided_by"] and done["decider_role"] == \
        "admin"
    assert done["result"]["limit_minor"] == THRESHOLD + 1
    assert done["result"]["customer_id"] == customer_id
    replay = api.post(f"{url}/approve", None, checker, idem="approve-0001", expect=200).json()
    assert replay == done  # the stored answer, not a second grant
    again = api.post(f"{url}/approve", None, api.operator("admin"))
    assert again.status_code == 409 and again.json()["field"] == "approval_id"
    assert _lines(api, customer_id) == 1
    assert api.get(url, compliance, expect=200).json() == done
    assert _audit(api, approval_id) == ["approval.proposed", "approval.approved"]


def test_a_rejected_proposal_grants_nothing(api):
    maker = api.operator("admin")
    checker = api.operator("risk_analyst")
    customer_id = _verified(api, "13800000103")
    approval_id = _grant(api, maker, customer_id, 8_000_000, expect=202).json()["approval_id"]
    url = f"/v1/operator/approvals/{approval_id}"
    assert api.post(f"{url}/reject", {"reason": "not mine to refuse"}, maker).status_code == 403
    empty = api.post(f"{url}/reject", {"reason": ""}, checker)
    assert empty.status_code == 422 and empty.json()["field"] == "reason"
    refused = api.post(f"{url}/reject", {"reason": "Income evidence too old"}, checker,
                       expect=200).json()
    assert refused["status"] == "rejected" and refused["reason"] == "Income evidence too old"
    assert refused["result"] is None
    assert api.post(f"{url}/approve", None, api.operator("admin")).status_code == 409
    assert _lines(api, customer_id) == 0
    assert _audit(api, approval_id) == ["approval.proposed", "approval.rejected"]


def test_an_expired_proposal_cannot_be_decided(api, clock):
    maker = api.operator("admin")
    checker = api.operator("risk_analyst")
    customer_id = _verified(api, "13800000104")
    approval_id = _grant(api, maker, customer_id, 8_000_000, expect=202).json()["approval_id"]
    clock.advance(hours=72)  # the default time to live
    url = f"/v1/operator/approvals/{approval_id}"
    assert api.get(url, checker, expect=200).json()["status"] == "expired"
    late = api.post(f"{url}/approve", None, checker)
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert _lines(api, customer_id) == 0
    expired = api.get("/v1/operator/approvals", checker, params={"status": "expired"},
                      expect=200).json()["data"]
    assert [a["approval_id"] for a in expired] == [approval_id]
    assert api.get("/v1/operator/approvals", checker, params={"status": "pending"},
                   expect=200).json()["data"] == []


def test_a_grant_the_domain_refuses_is_refused_when_proposed(api):
    maker = api.operator("admin")
    unverified = api.get("/v1/me", api.customer("13800000105")).json()["id"]
    refused = _grant(api, maker, unverified, 8_000_000)
    assert refused.status_code == 409 and refused.json()["field"] == "customer_id"
    verified = _verified(api, "13800000106")
    wrong = api.post(f"/v1/operator/customers/{verified}/credit_line",
                     {"limit_minor": 8_000_000, "product_code": "baitiao"}, maker)
    assert wrong.status_code == 422 and wrong.json()["field"] == "product_code"
    with api.runtime.uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(approvals)).scalar_one() == 0


def test_two_checkers_approving_at_once_execute_it_once(api):
    maker = api.operator("admin")
    customer_id = _verified(api, "13800000107")
    approval_id = _grant(api, maker, customer_id, 8_000_000, expect=202).json()["approval_id"]
    rt = api.runtime
    checkers = [A.Actor(f"op_checker_{n}", "risk_analyst") for n in range(2)]
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def decide(checker: A.Actor) -> None:
        start.wait()
        try:
            outcomes.append(rt.uow.run(lambda tx: A.approve(tx, approval_id, checker,
                                                             rt.controlled_actions)))
        except DomainError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=decide, args=(c,)) for c in checkers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    approved = [o for o in outcomes if isinstance(o, A.Approval)]
    refused = [o for o in outcomes if isinstance(o, StateError)]
    assert (len(approved), len(refused)) == (1, 1), outcomes
    assert _lines(api, customer_id) == 1
    assert _audit(api, approval_id) == ["approval.proposed", "approval.approved"]
