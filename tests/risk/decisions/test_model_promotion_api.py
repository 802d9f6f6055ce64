"""Four-eyes on model promotion (issue #16), over HTTP on both stores: `POST
/v1/operator/models/{name}/promote` is always a proposal (202, kind model.promote), refused
to its proposer (403), put in force once by a second operator; an approval after the
assignment changed is 409 stale-proposal and changes nothing; a promotion that cannot run is
refused when proposed and nothing is stored; each step audited."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.api.helpers import running_api

from creditpay.platform.tables import approvals, audit_records
from creditpay.risk.decisions import registry


def _world(api, model_dirs) -> None:
    with api.runtime.uow.begin() as tx:
        for folder in (model_dirs["application"], model_dirs["application_challenger"]):
            registry.register_model(tx, folder, name="application", registered_by="tests")
        registry.promote(tx, "application", 1, actor="tests", reason="initial")


def _in_force(api) -> tuple[int, int | None, int]:
    with api.runtime.uow.connect() as conn:
        a = registry.current_assignment(conn, "application")
    return a.champion_version, a.challenger_version, a.challenger_share_bps


def test_a_promotion_is_proposed_and_put_in_force_by_a_second_operator(store, clock,
                                                                         model_dirs):
    with running_api(store.url, clock) as api:
        _world(api, model_dirs)
        maker, checker = api.operator("risk_analyst"), api.operator("admin")
        proposed = api.post("/v1/operator/models/application/promote",
                            {"version": 2, "challenger_share_bps": 1000,
                             "reason": "better holdout Gini"}, maker, expect=202).json()
        assert proposed["kind"] == "model.promote"
        assert proposed["payload"]["in_force"] == {
            "champion_version": 1, "challenger_version": None, "challenger_share_bps": 0}
        assert _in_force(api) == (1, None, 0)
        url = f"/v1/operator/approvals/{proposed['approval_id']}"
        assert api.post(f"{url}/approve", None, maker).status_code == 403
        done = api.post(f"{url}/approve", None, checker, idem="promote-1", expect=200).json()
        assert done["result"]["challenger_version"] == 2
        assert api.post(f"{url}/approve", None, checker, idem="promote-1",
                        expect=200).json() == done
        assert _in_force(api) == (1, 2, 1000)
        with api.runtime.uow.connect() as conn:
            assert list(conn.execute(select(audit_records.c.action).where(
                audit_records.c.subject_id == proposed["approval_id"]).order_by(
                audit_records.c.id)).scalars()) == ["approval.proposed", "approval.approved"]


def test_a_stale_promotion_fails_and_a_bad_one_is_not_stored(store, clock, model_dirs):
    with running_api(store.url, clock) as api:
        _world(api, model_dirs)
        maker, checker = api.operator("risk_analyst"), api.operator("admin")
        late = api.post("/v1/operator/models/application/promote",
                        {"version": 2, "reason": "v2"}, maker, expect=202).json()
        with api.runtime.uow.begin() as tx:  # the assignment moves meanwhile
            registry.promote(tx, "application", 2, actor="tests", reason="sooner")
            registry.rollback(tx, "application", actor="tests", reason="back")
        url = f"/v1/operator/approvals/{late['approval_id']}"
        stale = api.post(f"{url}/approve", None, checker)
        assert stale.status_code == 409 and stale.json()["field"] == "name"
        assert stale.json()["type"].endswith("/stale-proposal")
        assert _in_force(api) == (1, None, 0)
        assert api.get(url, checker, expect=200).json()["status"] == "pending"
        with api.runtime.uow.connect() as conn:
            count = conn.execute(select(func.count()).select_from(approvals)).scalar_one()
        missing = api.post("/v1/operator/models/application/promote",
                           {"version": 9, "reason": "x"}, maker)
        assert missing.status_code == 404 and missing.json()["field"] == "version"
        same = api.post("/v1/operator/models/application/promote",
                        {"version": 1, "challenger_share_bps": 500, "reason": "x"}, maker)
        assert same.status_code == 422 and same.json()["field"] == "version"
        with api.runtime.uow.connect() as conn:
            assert conn.execute(select(func.count()).select_from(approvals)
                                ).scalar_one() == count
